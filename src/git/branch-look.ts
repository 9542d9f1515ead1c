// Where a branch is, read without isomorphic-git: the idle `nfgit run` (agent/idle-poll.ts) asks this
// at every poll and must stay small (issue 15). A remote is asked with one ls-refs (wire/remote.ts);
// a local repository's loose ref or packed-refs is read directly. Anything unusual (a symbolic ref, a
// linked worktree) throws: the idle poll then leaves the poll to the full pass, which reads it with
// isomorphic-git and says what is wrong.

import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors/errors.js';
import { STATE_FILE } from '../util/state-layout.js';
import { trustedCas } from './ca-file.js';
import type { Remote, Repository, RepositorySpec } from './follower.js';
import { readTokenFile } from './token-file.js';
import { authCallbacks, httpWithTimeout, redactUrl, type TransportLimits } from './transport.js';
import { listRefs, wireRemote } from './wire/remote.js';

const OID = /^[0-9a-f]{40}$/;

/** Whether a repository URL is fetched over HTTP(S) (otherwise it is a local path). */
export function isRemoteUrl(url: string): boolean {
  return /^https?:\/\//i.test(url);
}

/**
 * The handle of a remote repository without touching the agent's copy (openRepository prepares that
 * copy, which only a holder of the agent's lock may do): good for branchHead, the lock-free look of an
 * idle poll (agent/idle-poll.ts).
 */
export function remoteRepository(spec: RepositorySpec, stateDir: string, idleTimeoutMs: number): Repository & { remote: Remote } {
  const credentials = spec.tokenFile === null ? null : readTokenFile(spec.tokenFile);
  const route = spec.caFile === undefined || spec.caFile === null ? {} : { ca: trustedCas(spec.caFile) };
  const http = httpWithTimeout({ ...transportLimits(spec, idleTimeoutMs), ...route });
  const remote: Remote = {
    url: spec.url,
    http,
    auth: authCallbacks(credentials),
    wire: wireRemote(spec.url, { http, credentials }),
  };
  return { gitdir: path.join(stateDir, STATE_FILE.repo), remote, branch: spec.branch, name: redactUrl(spec.url) };
}

/** The limits of every request to the repository's server (see transport.ts). */
export function transportLimits(spec: RepositorySpec, idleTimeoutMs: number): Partial<TransportLimits> {
  return {
    idleMs: idleTimeoutMs,
    ...(spec.fetchTimeoutMs === undefined ? {} : { fetchDeadlineMs: spec.fetchTimeoutMs }),
    ...(spec.maxFetchMiB === undefined ? {} : { maxPackBytes: spec.maxFetchMiB * 1024 * 1024 }),
  };
}

/**
 * The commit the branch points to now, as follower.ts's branchHead finds it, without isomorphic-git.
 * Throws when it cannot tell simply; the caller then asks branchHead (in the full pass).
 */
export async function lookBranchHead(spec: RepositorySpec, stateDir: string, idleTimeoutMs: number): Promise<string> {
  const ref = `refs/heads/${spec.branch}`;
  if (isRemoteUrl(spec.url)) {
    const head = (await listRefs(remoteRepository(spec, stateDir, idleTimeoutMs).remote.wire, [ref])).get(ref);
    if (head === undefined) throw new UsageError(`${redactUrl(spec.url)} has no branch ${spec.branch} (repository.branch)`);
    return head;
  }
  // As openRepository: a work tree's .git, else the path itself (a bare repository).
  const dotGit = path.join(spec.url, '.git');
  const gitdir = existsSync(dotGit) && statSync(dotGit).isDirectory() ? dotGit : spec.url;
  return localBranchHead(gitdir, ref);
}

/** A branch of a local repository: its loose ref, else its line in packed-refs; throws for anything else. */
export async function localBranchHead(gitdir: string, ref: string): Promise<string> {
  if (existsSync(path.join(gitdir, 'commondir'))) throw new Error(`${gitdir} is a linked worktree`);
  let loose: string | undefined;
  try {
    loose = await readFile(path.join(gitdir, ref), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (loose !== undefined) {
    const oid = loose.trim();
    // A symbolic ref (`ref: …`) or anything else is the full pass's to read.
    if (!OID.test(oid)) throw new Error(`${ref} of ${gitdir} is not an object id`);
    return oid;
  }
  const packed = await readFile(path.join(gitdir, 'packed-refs'), 'utf8');
  for (const line of packed.split('\n')) {
    if (line.endsWith(` ${ref}`)) {
      const oid = line.slice(0, line.length - ref.length - 1);
      if (OID.test(oid)) return oid;
    }
  }
  throw new Error(`no ${ref} in ${gitdir}`);
}
