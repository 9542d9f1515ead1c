// TO BE REPLACED at merge: the staged rollout reads every host's current status record through the
// fleet reader of `nfgit status` (git/current-status.ts, readCurrentStatuses). Until then, this minimal
// reader: the refs under refs/nfgit/hosts/ (a local repository read in place; a remote listed with one
// prefixed ls-refs and the tag objects not read at an earlier pass fetched in one request, the commit
// decided on sent as a have), each tag object proven to hash to its id, its message parsed, its SSH signature checked as
// status-tags.ts checks one (an allowed key that may sign as HOST@nfgit for the host the ref names).

import fs from 'node:fs';
import git from 'isomorphic-git';
import type { Repository } from '../git/follower.js';
import { splitSignedTag } from '../git/signed-objects.js';
import { matchPatternList, type AllowedSigner } from '../git/signing/allowed-signers.js';
import { signerPrincipal } from '../git/signing/host-identity.js';
import { verifySshSignature } from '../git/signing/verify-ssh.js';
import { HOST_STATUS_REFS, isValidHostName, parseStatusMessage } from '../git/status-message.js';
import { remoteError } from '../git/transport.js';
import { CorruptObjectError, isNotFound, readVerifiedObject } from '../git/verified-objects.js';
import { fetchObjects, listRefs } from '../git/wire/remote.js';
import type { HostReport, RingReader } from './rollout.js';

/** A current status ref's object: its type and content, or why it cannot be had. */
type Loaded = { readonly type: string; readonly content: Buffer } | { readonly error: string };

/** The reader of every host's current status in repo, signatures checked against signers. */
export function ringReader(repo: Repository, signers: readonly AllowedSigner[]): RingReader {
  return async (commit) => {
    const objects = repo.remote === null ? await readLocal(repo) : await readRemote(repo, commit);
    const out: HostReport[] = [];
    for (const [host, loaded] of [...objects].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if ('error' in loaded) {
        out.push({ host, record: { error: loaded.error }, signature: 'bad' });
        continue;
      }
      if (loaded.type !== 'tag') {
        out.push({
          host,
          record: { error: `${HOST_STATUS_REFS}${host} points at a ${loaded.type}, not a status tag` },
          signature: 'unsigned',
        });
        continue;
      }
      out.push(reportOf(host, loaded.content, signers));
    }
    return out;
  };
}

async function readLocal(repo: Repository): Promise<Map<string, Loaded>> {
  const src = { gitdir: repo.gitdir, name: repo.name };
  const out = new Map<string, Loaded>();
  for (const host of await git.listRefs({ fs, gitdir: repo.gitdir, filepath: HOST_STATUS_REFS.slice(0, -1) })) {
    if (!isValidHostName(host)) continue;
    const oid = await git.resolveRef({ fs, gitdir: repo.gitdir, ref: HOST_STATUS_REFS + host, depth: 1 });
    try {
      out.set(host, await readVerifiedObject(src, oid, { then: '; the status report is not trusted' }));
    } catch (err) {
      if (!(err instanceof CorruptObjectError) && !isNotFound(err)) throw err;
      out.set(host, { error: (err as Error).message });
    }
  }
  return out;
}

async function readRemote(repo: Repository, commit: string): Promise<Map<string, Loaded>> {
  const remote = repo.remote;
  if (remote === null) return new Map();
  const context = { url: remote.url, authHint: 'check the token in repository.tokenFile', then: '; nfgit will retry' };
  let refs: Map<string, string>;
  try {
    refs = await listRefs(remote.wire, [HOST_STATUS_REFS]);
  } catch (err) {
    throw remoteError(err, { ...context, doing: "listing the hosts' current status (rollout.after)" });
  }
  const hosts = new Map<string, string>();
  for (const [ref, oid] of refs) {
    const host = ref.slice(HOST_STATUS_REFS.length);
    if (ref.startsWith(HOST_STATUS_REFS) && isValidHostName(host)) hosts.set(host, oid);
  }
  // Only the tags not read at an earlier pass are fetched: a tag object never changes (fetchObjects hashed it to its id).
  const wants = [...new Set(hosts.values())].filter((oid) => !seenTags.has(oid));
  let fetched = new Map<string, { type: string; content: Buffer }>();
  if (wants.length > 0) {
    try {
      // The tags point at commits of the branch the agent holds (the new one among them): sent as haves, they are not sent back.
      fetched = await fetchObjects(remote.wire, { wants, haves: [commit], depth: 1 });
    } catch (err) {
      throw remoteError(err, { ...context, doing: "fetching the hosts' current status (rollout.after)" });
    }
  }
  const out = new Map<string, Loaded>();
  const kept = new Map<string, { type: string; content: Buffer }>();
  for (const [host, oid] of hosts) {
    const obj = seenTags.get(oid) ?? fetched.get(oid);
    if (obj !== undefined) kept.set(oid, obj);
    out.set(host, obj === undefined ? { error: `the server did not send the status tag ${oid}` } : obj);
  }
  // The cache holds the current tag of each host, no more: one object a host.
  seenTags = kept;
  return out;
}

/** The tag objects of the hosts' current status refs read at the last pass (nfgit run keeps them between passes). */
let seenTags = new Map<string, { type: string; content: Buffer }>();

/** One host's report from its tag object's bytes. */
function reportOf(host: string, content: Buffer, signers: readonly AllowedSigner[]): HostReport {
  const split = splitSignedTag(content);
  const text = split.payload.toString('utf8');
  const blank = text.indexOf('\n\n');
  const headers = blank < 0 ? text : text.slice(0, blank);
  const record = parseStatusMessage(blank < 0 ? '' : text.slice(blank + 2));
  const target = /^object ([0-9a-f]+)$/m.exec(headers)?.[1] ?? '';
  const checked =
    'error' in record || record.commit === target ? record : { error: `the tag points at ${target}, not at ${record.commit}` };
  const tagger = /^tagger .*> (\d+) [+-]\d{4}$/m.exec(headers);
  const when = tagger === null ? new Date() : new Date(Number(tagger[1]) * 1000);
  return { host, record: checked, ...signatureOf(split, host, signers, when) };
}

/** The signature state of a raw status tag, as status-tags.ts says it (good, bad, untrusted, unsigned, wrong-host). */
function signatureOf(
  split: ReturnType<typeof splitSignedTag>,
  host: string,
  signers: readonly AllowedSigner[],
  when: Date,
): { signature: string; signatureDetail: string } {
  if (split.kind === 'none' || split.signature === null) return { signature: 'unsigned', signatureDetail: 'the tag is not signed' };
  if (split.kind !== 'ssh') return { signature: 'untrusted', signatureDetail: 'not an SSH signature; nfgit hosts sign with SSH keys' };
  const v = verifySshSignature(split.payload, split.signature, signers, when);
  if (!v.ok) return { signature: v.failure === 'untrusted-key' ? 'untrusted' : 'bad', signatureDetail: v.reason };
  const principal = signerPrincipal(host);
  if (!matchPatternList(principal, v.principals))
    return {
      signature: 'wrong-host',
      signatureDetail: `signed by ${v.key.fingerprint}, which may sign as ${v.principals.join(', ')}, not ${principal}`,
    };
  return { signature: 'good', signatureDetail: `signed by ${v.key.fingerprint} (${principal})` };
}
