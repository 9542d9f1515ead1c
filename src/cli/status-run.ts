// `nfgit status`: find or fetch the repository, read and verify the status tags, print the fleet view.
// Loaded only when the command runs (isomorphic-git takes a while to load).

import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import git, { Errors } from 'isomorphic-git';
import { UsageError } from '../errors/errors.js';
import { fleetStatus, fleetStatusJson, hasSignatureFailures, renderFleetTable } from '../git/fleet-status.js';
import { readStatusTags } from '../git/status-tags.js';
import { authCallbacks, httpWithTimeout, readTokenFile, redactUrl, remoteError, withLimits } from '../git/transport.js';
import { loadAllowedSigners, type AllowedSigner } from '../git/signing/allowed-signers.js';
import { onExit } from '../util/exit-hooks.js';

/** Flags of `nfgit status`. */
export interface StatusFlags {
  repo?: string;
  branch: string;
  json?: boolean;
  allowedSigners?: string;
  tokenFile?: string;
  /** How old a host's newest status tag may be before it is marked stale (ms). */
  staleAfter?: number;
}

/** The default of --stale-after: three missed hourly heartbeats (sync.ts HEARTBEAT_MS). */
export const DEFAULT_STALE_AFTER_MS = 3 * 3_600_000;

/** Whether dir looks like a git directory (bare repository or `.git`): HEAD, objects/ and refs/. */
function isGitDir(dir: string): boolean {
  return ['HEAD', 'objects', 'refs'].every((f) => fs.existsSync(path.join(dir, f)));
}

/** The git directory of dir itself: dir when bare, dir/.git (or where a `.git` file points), else null. */
function gitDirAt(dir: string): string | null {
  const dotGit = path.join(dir, '.git');
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dotGit);
  } catch {
    st = undefined;
  }
  if (st?.isDirectory() === true) return dotGit;
  if (st?.isFile() === true) {
    // a worktree or submodule: `gitdir: PATH`
    const m = /^gitdir: (.+)$/m.exec(fs.readFileSync(dotGit, 'utf8'));
    if (m?.[1] !== undefined) return path.resolve(dir, m[1].trim());
  }
  return isGitDir(dir) ? dir : null;
}

/** Finds the repository containing start, walking up like git does. */
function findGitDir(start: string): string | null {
  for (let dir = path.resolve(start); ; dir = path.dirname(dir)) {
    const found = gitDirAt(dir);
    if (found !== null) return found;
    if (path.dirname(dir) === dir) return null;
  }
}

/** The head of the branch hosts follow: the remote-tracking branch when the clone has one, else the local branch. */
async function branchHead(gitdir: string, branch: string): Promise<string | null> {
  for (const ref of [`refs/remotes/origin/${branch}`, `refs/heads/${branch}`]) {
    try {
      return await git.resolveRef({ fs, gitdir, ref });
    } catch (err) {
      if (!(err instanceof Errors.NotFoundError)) throw err;
    }
  }
  return null;
}

/** The allowed signers: the file given, else the repository's gpg.ssh.allowedSignersFile, else null (not checked). */
async function signersFor(gitdir: string | null, file: string | undefined): Promise<AllowedSigner[] | null> {
  if (file !== undefined) return loadAllowedSigners(file);
  if (gitdir === null) return null;
  const configured = (await git.getConfig({ fs, gitdir, path: 'gpg.ssh.allowedSignersFile' })) as unknown;
  if (typeof configured !== 'string' || configured === '') return null;
  return loadAllowedSigners(configured.startsWith('~/') ? path.join(os.homedir(), configured.slice(2)) : configured);
}

/** Fetches the branches and every tag of url into a fresh bare repository in tmp. */
async function fetchInto(tmp: string, url: string, branch: string, tokenFile: string | undefined): Promise<void> {
  const auth = authCallbacks(tokenFile === undefined ? null : readTokenFile(tokenFile));
  await git.init({ fs, gitdir: tmp, bare: true, defaultBranch: branch });
  await git.addRemote({ fs, gitdir: tmp, remote: 'origin', url });
  try {
    // Not singleBranch: isomorphic-git then fetches that branch only and ignores tags: true.
    // withLimits: a fetch cut by a limit is that error, not a short (and silently accepted) answer.
    const http = httpWithTimeout();
    await withLimits(http, () => git.fetch({ fs, http, gitdir: tmp, remote: 'origin', ref: branch, tags: true, ...auth }));
  } catch (err) {
    const e = err as { code?: string };
    if (e.code === 'NotFoundError' || e.code === 'NoRefspecError') {
      throw new UsageError(`${redactUrl(url)} has no branch ${branch}: name the branch the hosts follow with --branch`, { cause: err });
    }
    throw remoteError(err, { url, doing: 'fetching status tags', authHint: 'give a token that may read the repository with --token-file' });
  }
}

/** Reads, verifies and prints the fleet view; returns the exit code. */
export async function status(flags: StatusFlags): Promise<number> {
  const repo = flags.repo;
  let tmp: string | null = null;
  // main.ts ends the process on signals with process.exit, which skips finally blocks.
  const cleanupTmp = (): void => {
    if (tmp !== null) fs.rmSync(tmp, { recursive: true, force: true });
  };
  const dropExit = onExit(cleanupTmp);
  try {
    let gitdir: string;
    if (repo !== undefined && /^https?:\/\//i.test(repo)) {
      tmp = await mkdtemp(path.join(os.tmpdir(), 'nfgit-status-'));
      await fetchInto(tmp, repo, flags.branch, flags.tokenFile);
      gitdir = tmp;
    } else if (repo !== undefined) {
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(repo))
        throw new UsageError(`--repo ${redactUrl(repo)}: only http(s) URLs and local paths are supported`);
      const found = fs.existsSync(repo) ? gitDirAt(repo) : null;
      if (found === null)
        throw new UsageError(`--repo ${repo} is not a git repository (give a clone, a bare repository or an https:// URL)`);
      gitdir = found;
    } else {
      const found = findGitDir(process.cwd());
      if (found === null)
        throw new UsageError('not inside a git repository: run nfgit status in a clone of the rules repository, or give --repo');
      gitdir = found;
    }
    const signers = await signersFor(tmp === null ? gitdir : null, flags.allowedSigners);
    const tags = await readStatusTags({ gitdir, signers });
    const liveness = { now: new Date(), staleAfterMs: flags.staleAfter ?? DEFAULT_STALE_AFTER_MS };
    const fleet = fleetStatus(tags, await branchHead(gitdir, flags.branch), flags.branch, signers !== null, liveness);
    if (flags.json === true) process.stdout.write(JSON.stringify(fleetStatusJson(fleet), null, 2) + '\n');
    else process.stdout.write(renderFleetTable(fleet));
    return hasSignatureFailures(fleet) ? 1 : 0;
  } finally {
    dropExit();
    if (tmp !== null) await rm(tmp, { recursive: true, force: true });
  }
}
