// Whether a new branch head may replace what the host runs, by history and by date: never an
// ancestor of (or a rewrite of) the running commit, never a commit dated before it, and, when the
// agent's memory is gone, never below the newest commit the host's own signed status tags say it
// applied. A signature alone cannot tell an old signed commit from a new one: these checks can.

import { isAncestor, isNotFound, readVerifiedCommit, type VerifiedCommit } from '../git/verified-objects.js';
import { nothingApplied, relation, type Repository } from '../git/follower.js';
import { fetchHostTags, readStatusTags } from '../git/status-tags.js';
import { parseAllowedSigners } from '../git/signing/allowed-signers.js';
import { allowedSignersLine } from '../git/signing/host-identity.js';
import type { HostKey } from '../git/signing/openssh-key.js';

/** The newest commit this host's own signed status tags say it applied: the floor nfgit does not go below. */
export interface Floor {
  readonly commit: string;
  readonly tag: string;
}

function short(oid: string): string {
  return oid.slice(0, 12);
}

/**
 * The host's floor from its status tags in the repository: tags named `nfgit/HOST/…`, signed by this
 * host's key (checked against its public key, not a list anyone can edit), with `Result: applied`;
 * the newest by the time in the signed message. When fetch is true and the repository is the
 * agent's copy of a remote, this host's tags are fetched into it first (a reinstalled host's copy
 * starts without them). Null when the host has applied nothing from git.
 */
export async function hostFloor(repo: Repository, host: string, key: HostKey, fetch: boolean): Promise<Floor | null> {
  if (fetch && repo.remote !== null) await fetchHostTags(repo.gitdir, repo.remote, host);
  const signers = parseAllowedSigners(allowedSignersLine(host, key.publicKey), 'the host key');
  const tags = await readStatusTags({ gitdir: repo.gitdir, signers, prefix: `nfgit/${host}/` });
  let best: { commit: string; tag: string; time: number } | null = null;
  for (const t of tags) {
    if (t.signature !== 'good' || 'error' in t.record || t.record.result !== 'applied') continue;
    const time = t.record.time.getTime();
    if (best === null || time > best.time) best = { commit: t.record.commit, tag: t.name, time };
  }
  return best === null ? null : { commit: best.commit, tag: best.tag };
}

/** The facts a decision on history needs. */
export interface HistoryFacts {
  readonly repo: Repository;
  /** The branch head, verified. */
  readonly head: VerifiedCommit;
  /** The commit the host runs (agent.json), or null. */
  readonly running: string | null;
  readonly floor: Floor | null;
}

/** A commit read for comparison; null when the repository does not have it. */
async function commitOrNull(repo: Repository, oid: string): Promise<VerifiedCommit | null> {
  try {
    return await readVerifiedCommit(repo, oid, { then: nothingApplied(repo) });
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/** `commit X is dated T (its committer date), before LABEL, dated T': …`, or null when it is not older. */
function olderThan(head: VerifiedCommit, other: VerifiedCommit, label: string): string | null {
  const mine = head.committer?.time;
  const theirs = other.committer?.time;
  if (theirs === undefined) return null;
  if (mine === undefined)
    return `commit ${short(head.oid)} has no valid committer date, so nfgit cannot tell it is newer than ${label}; commit it again`;
  if (mine.getTime() >= theirs.getTime()) return null;
  return (
    `commit ${short(head.oid)} is dated ${mine.toISOString()} (its committer date), before ${label}, dated ${theirs.toISOString()}: ` +
    'nfgit refuses commits dated before what the host runs, so that a key retired with valid-before in allowed_signers cannot sign a backdated commit; ' +
    'commit again with the current date (git commit --amend --no-edit, then push), or run nfgit sync --allow-rewrite'
  );
}

/**
 * Why the head may not replace what the host runs, or null when it may: behind or diverged from the
 * running commit, dated before it, or an ancestor of (or dated before) the floor. Every commit read
 * is verified (a CorruptObjectError is thrown). Skipped entirely with --allow-rewrite by the caller.
 */
export async function historyRefusal(facts: HistoryFacts): Promise<string | null> {
  const { repo, head, running, floor } = facts;
  if (running !== null && running !== head.oid) {
    const rel = await relation(repo, running, head.oid);
    if (rel === 'behind') {
      return `${repo.branch} moved back to ${short(head.oid)}, an ancestor of the running commit ${short(running)}: nfgit never goes backwards (revert with a new commit, or run nfgit sync --allow-rewrite)`;
    }
    if (rel === 'diverged') {
      return `${repo.branch} was rewritten: ${short(head.oid)} does not contain the running commit ${short(running)} (force-push?); run nfgit sync --allow-rewrite to accept it`;
    }
    const runningCommit = await commitOrNull(repo, running);
    const older = runningCommit === null ? null : olderThan(head, runningCommit, `the running commit ${short(running)}`);
    if (older !== null) return older;
  }
  if (floor !== null && floor.commit !== head.oid && floor.commit !== running) {
    const floorCommit = await commitOrNull(repo, floor.commit);
    if (floorCommit === null) return null;
    const because = `which this host's signed status tag ${floor.tag} says it applied`;
    if (await isAncestor(repo, head.oid, floor.commit, { then: nothingApplied(repo), cache: {} })) {
      return `${repo.branch} moved back to ${short(head.oid)}, an ancestor of ${short(floor.commit)}, ${because}: nfgit never goes backwards (revert with a new commit, or run nfgit sync --allow-rewrite)`;
    }
    const older = olderThan(head, floorCommit, `commit ${short(floor.commit)}, ${because}`);
    if (older !== null) return older;
  }
  return null;
}
