// The one fetch → verify → extract: a commit of the followed branch made into a directory of rule
// files that may be compiled. The agent's pass and `nfgit diff --config` both come through here, so
// untrusted rules are never compiled, whoever asks.

import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { onExit } from '../util/exit-hooks.js';
import { ensureCommit, extractRules, readCommit, type Repository } from './follower.js';
import { verifyCommit, type CommitVerdict, type LoadedTrust } from './signing/commit-trust.js';
import { CorruptObjectError, type VerifiedCommit } from './verified-objects.js';

/** A commit's rules in a temporary directory; remove() deletes it (and so does the process's exit). */
export interface ExtractedRules {
  readonly commit: string;
  /** The rules directory (repository.path of the commit), in a temporary place. */
  readonly dir: string;
  remove(): Promise<void>;
}

/** What fetch → verify → extract ended with; only `extracted` has rules to compile. */
export type CommitRulesOutcome =
  | { readonly kind: 'extracted'; readonly commit: VerifiedCommit; readonly verdict: CommitVerdict; readonly rules: ExtractedRules }
  /** The guard refused it, or its objects do not hash to their ids (`error` then): nothing built on it is used. */
  | { readonly kind: 'refused'; readonly why: string; readonly error?: unknown }
  | { readonly kind: 'untrusted'; readonly verdict: CommitVerdict }
  /** Its rules directory cannot be written out (no such directory, a symlink or a submodule in it, a full disk). */
  | { readonly kind: 'unextractable'; readonly verdict: CommitVerdict; readonly error: unknown };

/** What fetchVerifyExtract needs beside the repository and the commit. */
export interface CommitRulesOptions {
  readonly trust: LoadedTrust;
  /** The rules directory inside the commit (repository.path). */
  readonly rulesPath: string;
  /** The temporary directory's name prefix, which says who made it (`nfgit-sync-`, `nfgit-diff-`). */
  readonly tempPrefix: string;
  /** Between reading the commit and verifying it: why to refuse it (the agent's history guard), or null. */
  readonly guard?: (commit: VerifiedCommit) => Promise<string | null>;
}

/**
 * Fetches the commit unless the local copy has it, reads it (every object verified to hash to its
 * id), asks the guard, verifies its signature against the trust lists, then writes its rules
 * directory into a temporary directory. Throws what is not the commit's fault (the network, a commit
 * that is not there).
 */
export async function fetchVerifyExtract(repo: Repository, oid: string, options: CommitRulesOptions): Promise<CommitRulesOutcome> {
  await ensureCommit(repo, oid);
  let commit: VerifiedCommit;
  try {
    commit = await readCommit(repo, oid);
    const why = options.guard === undefined ? null : await options.guard(commit);
    if (why !== null) return { kind: 'refused', why };
  } catch (error) {
    if (error instanceof CorruptObjectError) return { kind: 'refused', why: error.message, error };
    throw error;
  }
  const verdict = await verifyCommit(commit.raw, options.trust);
  if (!verdict.trusted) return { kind: 'untrusted', verdict };
  const work = await mkdtemp(path.join(tmpdir(), options.tempPrefix));
  const dropExit = onExit(() => rmSync(work, { recursive: true, force: true }));
  const remove = async (): Promise<void> => {
    dropExit();
    await rm(work, { recursive: true, force: true });
  };
  const dir = path.join(work, 'rules');
  try {
    await extractRules(repo, oid, options.rulesPath, dir);
  } catch (error) {
    await remove();
    return { kind: 'unextractable', verdict, error };
  }
  return { kind: 'extracted', commit, verdict, rules: { commit: oid, dir, remove } };
}
