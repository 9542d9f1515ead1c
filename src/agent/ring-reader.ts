// TO BE REPLACED at merge: the staged rollout reads every host's current status record through the
// fleet reader of `nfgit status` (git/current-status.ts, readCurrentStatuses, with the wire module
// for remote repositories). Until then, this minimal reader serves a local repository read in place:
// the refs under refs/nfgit/hosts/, each tag object read raw (proven to hash to its id), its message
// parsed, its SSH signature checked as status-tags.ts checks one (an allowed key that may sign as
// HOST@nfgit for the host the ref names). A remote repository is refused (the pass fails and retries):
// the agent's copy does not hold the fleet's status refs.

import fs from 'node:fs';
import git from 'isomorphic-git';
import { RemoteError } from '../errors/errors.js';
import type { Repository } from '../git/follower.js';
import { splitSignedTag } from '../git/signed-objects.js';
import { matchPatternList, type AllowedSigner } from '../git/signing/allowed-signers.js';
import { signerPrincipal } from '../git/signing/host-identity.js';
import { verifySshSignature } from '../git/signing/verify-ssh.js';
import { HOST_STATUS_REFS, isValidHostName, parseStatusMessage } from '../git/status-message.js';
import { CorruptObjectError, isNotFound, readVerifiedObject } from '../git/verified-objects.js';
import type { HostReport, RingReader } from './rollout.js';

/** The reader of every host's current status in repo, signatures checked against signers. */
export function localRingReader(repo: Repository, signers: readonly AllowedSigner[]): RingReader {
  return async () => {
    if (repo.remote !== null)
      throw new RemoteError(
        `cannot read the earlier ring's status from ${repo.name}: this build reads the hosts' current status refs (${HOST_STATUS_REFS}) of a local repository only`,
      );
    const src = { gitdir: repo.gitdir, name: repo.name };
    const hosts = await git.listRefs({ fs, gitdir: repo.gitdir, filepath: HOST_STATUS_REFS.slice(0, -1) });
    const out: HostReport[] = [];
    for (const host of hosts.sort()) {
      if (!isValidHostName(host)) continue;
      const oid = await git.resolveRef({ fs, gitdir: repo.gitdir, ref: HOST_STATUS_REFS + host, depth: 1 });
      let content: Buffer;
      try {
        const obj = await readVerifiedObject(src, oid, { then: '; the status report is not trusted' });
        if (obj.type !== 'tag') {
          out.push({
            host,
            record: { error: `${HOST_STATUS_REFS}${host} points at a ${obj.type}, not a status tag` },
            signature: 'unsigned',
          });
          continue;
        }
        content = obj.content;
      } catch (err) {
        if (!(err instanceof CorruptObjectError) && !isNotFound(err)) throw err;
        out.push({ host, record: { error: (err as Error).message }, signature: 'bad' });
        continue;
      }
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
      out.push({ host, record: checked, ...signatureOf(split, host, signers, when) });
    }
    return out;
  };
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
