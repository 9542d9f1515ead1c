// The hosts' current status records a staged rollout reads (rollout.ts): the refs under
// refs/nfgit/hosts/ (a local repository read in place; a remote listed with one prefixed ls-refs and
// the tag objects not read at an earlier pass fetched in one request, the commit decided on sent as a
// have). Each object is judged as `nfgit status` judges it (git/current-status.ts statusFromObject:
// hashed to its id, its message parsed, its SSH signature by a key that may sign as HOST@nfgit).

import type { Repository } from '../git/follower.js';
import type { AllowedSigner } from '../git/signing/allowed-signers.js';
import { HOST_STATUS_REFS } from '../git/status-message.js';
import { hostOfStatusRef, localLookup, statusFromObject, type FetchedObject } from '../git/current-status.js';
import { readLocalRefs } from '../git/local-refs.js';
import { remoteError } from '../git/transport.js';
import { fetchObjects, listRefs } from '../git/wire/remote.js';
import type { HostReport, RingReader } from './rollout.js';

/** A current status ref's object, or why it cannot be had. */
type Loaded = FetchedObject | { readonly missing: string; readonly corrupt?: boolean };

/** The reader of every host's current status in repo, signatures checked against signers. */
export function ringReader(repo: Repository, signers: readonly AllowedSigner[]): RingReader {
  return async (commit) => {
    const objects = repo.remote === null ? await readLocal(repo) : await readRemote(repo, commit);
    const out: HostReport[] = [];
    for (const [host, { oid, loaded }] of [...objects].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const s = statusFromObject(host, HOST_STATUS_REFS + host, oid, loaded, signers);
      out.push({ host, record: s.record, signature: s.signature, signatureDetail: s.signatureDetail });
    }
    return out;
  };
}

/** The hosts' current refs: host → oid. */
function hostRefs(refs: ReadonlyMap<string, string>): Map<string, string> {
  const hosts = new Map<string, string>();
  for (const [ref, oid] of refs) {
    const host = hostOfStatusRef(ref);
    if (host !== null) hosts.set(host, oid);
  }
  return hosts;
}

async function readLocal(repo: Repository): Promise<Map<string, { oid: string; loaded: Loaded }>> {
  const lookup = localLookup(repo.gitdir);
  const out = new Map<string, { oid: string; loaded: Loaded }>();
  for (const [host, oid] of hostRefs(await readLocalRefs(repo.gitdir, HOST_STATUS_REFS))) out.set(host, { oid, loaded: await lookup(oid) });
  return out;
}

async function readRemote(repo: Repository, commit: string): Promise<Map<string, { oid: string; loaded: Loaded }>> {
  const remote = repo.remote;
  if (remote === null) return new Map();
  const context = { url: remote.url, authHint: 'check the token in repository.tokenFile', then: '; nfgit will retry' };
  let refs: Map<string, string>;
  try {
    refs = await listRefs(remote.wire, [HOST_STATUS_REFS]);
  } catch (err) {
    throw remoteError(err, { ...context, doing: "listing the hosts' current status (rollout.after)" });
  }
  const hosts = hostRefs(refs);
  // Only the tags not read at an earlier pass are fetched: a tag object never changes (fetchObjects hashed it to its id).
  const wants = [...new Set(hosts.values())].filter((oid) => !seenTags.has(oid));
  let fetched = new Map<string, FetchedObject>();
  if (wants.length > 0) {
    try {
      // The tags point at commits of the branch the agent holds (the new one among them): sent as haves, they are not sent back.
      fetched = await fetchObjects(remote.wire, { wants, haves: [commit], depth: 1 });
    } catch (err) {
      throw remoteError(err, { ...context, doing: "fetching the hosts' current status (rollout.after)" });
    }
  }
  const out = new Map<string, { oid: string; loaded: Loaded }>();
  const kept = new Map<string, FetchedObject>();
  for (const [host, oid] of hosts) {
    const obj = seenTags.get(oid) ?? fetched.get(oid);
    if (obj !== undefined) kept.set(oid, obj);
    out.set(host, { oid, loaded: obj ?? { missing: `the server did not send the status tag ${oid}` } });
  }
  // The cache holds the current tag of each host, no more: one object a host.
  seenTags = kept;
  return out;
}

/** The tag objects of the hosts' current status refs read at the last pass (nfgit run keeps them between passes). */
let seenTags = new Map<string, FetchedObject>();
