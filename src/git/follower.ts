// Following a branch of the rules repository with isomorphic-git: a cheap ref listing per poll, a
// fetch only when the branch moved, the rules tree read straight from git objects (no worktree), and
// the agent's own copy kept from growing without bound. A local repository is read in place. Every
// object that decides or is extracted is read through verified-objects.ts: hashed before use.

import fs, { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import git, { type HttpClient } from 'isomorphic-git';
import { InternalError, NfgitError, NfgitErrors, RemoteError, RuleError, UsageError } from '../errors/errors.js';
import { remoteError, type authCallbacks } from './transport.js';
import { fetchInto, listRefs, type WireRemote } from './wire/remote.js';
import { readLocalRefs } from './local-refs.js';
import {
  isAncestor,
  isNotFound,
  readVerified,
  readVerifiedCommit,
  readVerifiedTree,
  type TreeEntry,
  type VerifiedCommit,
} from './verified-objects.js';
import { makeDirs } from '../util/make-dirs.js';
import { isRemoteUrl, remoteRepository } from './branch-look.js';

// In branch-look.ts, which the idle `nfgit run` loads without isomorphic-git; here too for the pass's callers.
export { isRemoteUrl, remoteRepository, transportLimits } from './branch-look.js';

/** Where the rules come from (the `repository` section of the configuration). */
export interface RepositorySpec {
  /** An http(s) URL, or the path of a local repository (bare, or a work tree with .git). */
  readonly url: string;
  readonly branch: string;
  readonly tokenFile: string | null;
  /** A PEM bundle of CAs to trust beside the usual ones (see ca-file.ts). */
  readonly caFile?: string | null;
  /** Total time limit of a request that transfers objects (transport.ts's default when left out). */
  readonly fetchTimeoutMs?: number;
  /** The largest pack accepted, in MiB (transport.ts's default when left out). */
  readonly maxFetchMiB?: number;
}

/** A remote reached over HTTP(S). */
export interface Remote {
  readonly url: string;
  readonly http: HttpClient;
  readonly auth: ReturnType<typeof authCallbacks>;
  /** nfgit's own protocol v2 client over the same HTTP client (listing, fetch, push). */
  readonly wire: WireRemote;
}

/** An opened repository: where objects are read, and the remote they come from (null: read in place). */
export interface Repository {
  readonly gitdir: string;
  readonly remote: Remote | null;
  readonly branch: string;
  /** For messages: the URL (credentials removed) or path. */
  readonly name: string;
}

/** Past this many pack files the agent's copy is fetched afresh (isomorphic-git never repacks). */
export const MAX_PACKS = 64;

/**
 * Opens the repository: a local one in place, or the agent's copy of a remote one in
 * `stateDir/repo.git` (made on first use, re-made when it has grown too many packs).
 */
export async function openRepository(spec: RepositorySpec, stateDir: string, idleTimeoutMs: number): Promise<Repository> {
  if (!isRemoteUrl(spec.url)) {
    const dotGit = path.join(spec.url, '.git');
    const gitdir = existsSync(dotGit) && statSync(dotGit).isDirectory() ? dotGit : spec.url;
    if (!existsSync(path.join(gitdir, 'objects')) || !existsSync(path.join(gitdir, 'HEAD'))) {
      throw new UsageError(
        `${spec.url} is not a git repository (repository.url): give the path of the bare repository hosts push to, or an https:// URL`,
      );
    }
    return { gitdir, remote: null, branch: spec.branch, name: spec.url };
  }
  const { gitdir, remote, branch, name } = remoteRepository(spec, stateDir, idleTimeoutMs);
  if (existsSync(gitdir) && packCount(gitdir) > MAX_PACKS) rmSync(gitdir, { recursive: true, force: true });
  if (!existsSync(path.join(gitdir, 'HEAD'))) {
    await makeDirs(gitdir, 0o700);
    await git.init({ fs, gitdir, bare: true, defaultBranch: spec.branch });
  }
  await git.addRemote({ fs, gitdir, remote: 'origin', url: spec.url, force: true });
  return { gitdir, remote, branch, name };
}

/** Number of pack files in a repository. */
export function packCount(gitdir: string): number {
  try {
    return readdirSync(path.join(gitdir, 'objects', 'pack')).filter((n) => n.endsWith('.pack')).length;
  } catch {
    return 0;
  }
}

/** An NfgitError for a failed request to the repository's server, saying what to fix or that nfgit retries. */
function failure(err: unknown, repo: Repository, doing: string): NfgitError {
  return remoteError(err, {
    url: repo.remote?.url ?? repo.name,
    doing,
    authHint: 'check the token in repository.tokenFile',
    then: '; nfgit will retry',
  });
}

/** The commit the branch points to now: one small ref listing for a remote, a ref read for a local repository. */
export async function branchHead(repo: Repository): Promise<string> {
  const ref = `refs/heads/${repo.branch}`;
  if (repo.remote === null) {
    try {
      return await git.resolveRef({ fs, gitdir: repo.gitdir, ref });
    } catch (err) {
      throw new UsageError(`${repo.name} has no branch ${repo.branch} (repository.branch)`, { cause: err });
    }
  }
  let refs: Map<string, string>;
  try {
    refs = await listRefs(repo.remote.wire, [ref]);
  } catch (err) {
    throw failure(err, repo, 'listing its branches');
  }
  const head = refs.get(ref);
  if (head === undefined) {
    // The listing ended with its flush (wire/remote.ts checks): the branch is not there.
    throw new UsageError(`${repo.name} has no branch ${repo.branch} (repository.branch)`);
  }
  return head;
}

/** Whether the repository already holds an object. */
export async function hasObject(repo: Pick<Repository, 'gitdir'>, oid: string): Promise<boolean> {
  try {
    await git.readObject({ fs, gitdir: repo.gitdir, oid, format: 'deflated' });
    return true;
  } catch {
    return false;
  }
}

/** Makes sure the commit (and its history) is in the local copy: fetches the branch when it is not. */
export async function ensureCommit(repo: Repository, oid: string): Promise<void> {
  if (await hasObject(repo, oid)) return;
  if (repo.remote === null) throw new InternalError(`commit ${oid} is missing from ${repo.name}`);
  // What this copy has (the branch as last fetched): the server sends only what is new since.
  const tracking = `refs/remotes/origin/${repo.branch}`;
  const haves: string[] = [];
  for (const have of (await readLocalRefs(repo.gitdir, 'refs/remotes/origin/')).values()) if (await hasObject(repo, have)) haves.push(have);
  try {
    await fetchInto(repo.remote.wire, repo.gitdir, { wants: [oid], haves });
  } catch (err) {
    throw failure(err, repo, `fetching ${repo.branch}`);
  }
  if (await hasObject(repo, oid)) await git.writeRef({ fs, gitdir: repo.gitdir, ref: tracking, value: oid, force: true });
  if (!(await hasObject(repo, oid))) {
    throw new RemoteError(`${repo.name} moved ${repo.branch} again while nfgit fetched ${oid.slice(0, 12)}; nfgit will retry`);
  }
}

/** How a new branch head relates to the commit applied: the same, a descendant, an ancestor, or neither. */
export type Relation = 'same' | 'ahead' | 'behind' | 'diverged';

/**
 * What a refused read adds to its message: nothing was applied, and for the agent's own copy of a
 * remote (which nothing repairs by itself) how to fetch it afresh.
 */
export function nothingApplied(repo: Repository): string {
  return repo.remote === null
    ? '; nothing was applied'
    : `; nothing was applied (the agent's copy: remove ${repo.gitdir} and run nfgit sync --retry to fetch it afresh)`;
}

/** Compares the branch head with the applied commit (both in the repository), every commit walked verified. */
export async function relation(repo: Repository, applied: string, head: string): Promise<Relation> {
  if (applied === head) return 'same';
  if (!(await hasObject(repo, applied))) return 'diverged';
  const options = { then: nothingApplied(repo), cache: {} };
  if (await isAncestor(repo, applied, head, options)) return 'ahead';
  if (await isAncestor(repo, head, applied, options)) return 'behind';
  return 'diverged';
}

/** A commit, verified to hash to its id, with its raw content (what was signed, plus the signature). */
export async function readCommit(repo: Repository, oid: string): Promise<VerifiedCommit> {
  try {
    return await readVerifiedCommit(repo, oid, { then: nothingApplied(repo) });
  } catch (err) {
    if (isNotFound(err)) throw new UsageError(`commit ${oid} is not in ${repo.name}`, { cause: err });
    throw err;
  }
}

/** The raw content of a verified commit object (what was signed, plus the signature). */
export async function readRawCommit(repo: Repository, oid: string): Promise<Uint8Array> {
  return (await readCommit(repo, oid)).raw;
}

/** The author-facing facts of a commit, for logs and tags. */
export function commitInfo(commit: VerifiedCommit): { subject: string; author: string; time: Date | null } {
  const a = commit.author;
  return {
    subject: commit.message.split('\n')[0] ?? '',
    author: a === null ? '(no author)' : `${a.name} <${a.email}>`,
    time: commit.committer?.time ?? null,
  };
}

/**
 * Writes the rules directory of a commit into destDir, from git objects (no worktree, no index).
 * Refuses symlinks and submodules anywhere inside it, naming them (`rules/10-x: …`), so that nothing
 * outside the rules path can reach the compiler. Returns the number of files written.
 */
export async function extractRules(repo: Repository, oid: string, rulesPath: string, destDir: string): Promise<number> {
  const display = rulesPath === '.' ? '' : rulesPath;
  const options = { then: nothingApplied(repo), cache: {} };
  const noDirectory = (cause?: unknown): NfgitError =>
    new RuleError(`commit ${oid.slice(0, 12)} has no directory ${rulesPath}/ (repository.path): the rule files must be in it`, {
      cause,
      trace: [{ file: rulesPath, line: 0 }],
    });
  const commit = await readCommit(repo, oid);
  let root = await readVerifiedTree(repo, commit.tree, options);
  for (const part of display.split('/').filter((p) => p !== '' && p !== '.')) {
    const entry = root.find((e) => e.path === part);
    if (entry === undefined || entry.type !== 'tree') throw noDirectory();
    try {
      root = await readVerifiedTree(repo, entry.oid, options);
    } catch (err) {
      if (isNotFound(err)) throw noDirectory(err);
      throw err;
    }
  }
  const problems: NfgitError[] = [];
  let files = 0;
  const walkTree = async (entries: readonly TreeEntry[], rel: string): Promise<void> => {
    for (const entry of entries) {
      const shown = path.posix.join(display, rel, entry.path);
      const trace = [{ file: shown, line: 0 }];
      if (entry.mode === '120000') {
        problems.push(
          new RuleError(
            'is a symbolic link: nfgit refuses symlinks in the rules directory (they could reach files outside it); commit the file itself',
            { trace },
          ),
        );
      } else if (entry.type === 'commit') {
        problems.push(
          new RuleError(
            'is a git submodule: nfgit refuses submodules in the rules directory (their content is not in this commit); copy the files in',
            { trace },
          ),
        );
      } else if (entry.type === 'tree') {
        await makeDirs(path.join(destDir, rel, entry.path));
        await walkTree(await readVerifiedTree(repo, entry.oid, options), path.posix.join(rel, entry.path));
      } else if (entry.type === 'blob') {
        const blob = await readVerified(repo, entry.oid, 'blob', options);
        await writeFile(path.join(destDir, rel, entry.path), blob, { mode: entry.mode === '100755' ? 0o755 : 0o644 });
        files++;
      }
    }
  };
  await makeDirs(destDir);
  await walkTree(root, '');
  if (problems.length === 1) throw problems[0];
  if (problems.length > 1) throw new NfgitErrors(problems);
  return files;
}

/**
 * The config's pin as a full commit id: a full id, or an abbreviation that names exactly one object,
 * which must be a commit on the branch (the head or one of its ancestors). The branch is fetched
 * first when its head is new, so that a pin on a commit just pushed is found.
 */
export async function resolvePin(repo: Repository, pin: string, head: string): Promise<string> {
  await ensureCommit(repo, head);
  const fix = `; set pin (in the configuration) to a commit of ${repo.branch}, or remove it`;
  let full = pin;
  if (pin.length < 40) {
    try {
      full = await git.expandOid({ fs, gitdir: repo.gitdir, oid: pin });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'AmbiguousError')
        throw new UsageError(`pin ${pin} names more than one object in ${repo.name}: give more digits of the commit id${fix}`, {
          cause: err,
        });
      throw new UsageError(`pin ${pin}: no commit of ${repo.branch} in ${repo.name} starts with it${fix}`, { cause: err });
    }
  }
  let type: string;
  try {
    type = (await git.readObject({ fs, gitdir: repo.gitdir, oid: full, format: 'content' })).type;
  } catch (err) {
    throw new UsageError(`pin ${pin}: no commit of ${repo.branch} in ${repo.name} has this id${fix}`, { cause: err });
  }
  if (type !== 'commit') throw new UsageError(`pin ${pin} names a ${type}, not a commit${fix}`);
  const rel = await relation(repo, full, head);
  if (rel !== 'same' && rel !== 'ahead')
    throw new UsageError(
      `pin ${pin}: commit ${full.slice(0, 12)} is not on ${repo.branch} (its head ${head.slice(0, 12)} does not descend from it)${fix}`,
    );
  return full;
}
