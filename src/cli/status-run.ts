// `nfgit status`: find the repository (or reach the server), read and verify every host's current
// status (refs/nfgit/hosts/*), filter, print the fleet view; or one host's history. A repository
// without current refs is read from its status tags, as before issue 14, with a hint.
// Loaded only when the command runs (isomorphic-git takes a while to load).

import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import git, { Errors } from 'isomorphic-git';
import { UsageError } from '../errors/errors.js';
import {
  currentFleetStatus,
  filterFleet,
  fleetStatus,
  fleetStatusJson,
  hasSignatureFailures,
  hostMatcher,
  isGlob,
  isSignatureFailure,
  reportJson,
  type FleetStatus,
} from '../git/fleet-status.js';
import { DEFAULT_WIDTH, renderFleetTable, renderHistory, type TableLayout } from '../git/fleet-table.js';
import { fetchCurrentStatuses, localCurrentStatuses, type CurrentStatus } from '../git/current-status.js';
import { readLocalRefs } from '../git/local-refs.js';
import { HOST_STATUS_REFS, isValidHostName } from '../git/status-message.js';
import { fetchHostHistory, readLocalHostHistory, type HistoryEntry } from '../git/status-history.js';
import { readStatusTags } from '../git/status-tags.js';
import * as wire from '../git/wire/remote.js';
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
  /** Only the hosts whose names match this glob (`web*`; several separated by commas). */
  host?: string;
  /** Only hosts whose report is a failure or whose signature fails. */
  failed?: boolean;
  /** Only hosts whose newest report is older than this (ms). */
  stale?: number;
  /** With --host naming one host: its reports, newest first. */
  history?: boolean;
}

/** What a clone lacking the current refs is told: git clone and `git fetch` take refs/heads and refs/tags only. */
export const FETCH_CURRENT_HINT =
  "hint: this repository has status tags but no current status refs (refs/nfgit/hosts/*): its agents predate them, or this clone did not fetch them; read from the tags (slower). In a clone, fetch them with: git fetch origin '+refs/nfgit/*:refs/nfgit/*' (or once: git config --add remote.origin.fetch '+refs/nfgit/*:refs/nfgit/*')";

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

/** The table's width: the terminal's, else $COLUMNS, else DEFAULT_WIDTH. */
function tableWidth(): number {
  if (process.stdout.isTTY && process.stdout.columns > 0) return process.stdout.columns;
  const env = Number(process.env['COLUMNS']);
  return Number.isInteger(env) && env > 0 ? env : DEFAULT_WIDTH;
}

/** Where the reports are read: a local git directory in place, or a server over HTTP(S). */
type Where = { readonly gitdir: string } | { readonly url: string; readonly tokenFile: string | undefined };

function where(repo: string | undefined, tokenFile: string | undefined): Where {
  if (repo !== undefined && /^https?:\/\//i.test(repo)) return { url: repo, tokenFile };
  if (repo !== undefined) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(repo))
      throw new UsageError(`--repo ${redactUrl(repo)}: only http(s) URLs and local paths are supported`);
    const found = fs.existsSync(repo) ? gitDirAt(repo) : null;
    if (found === null) throw new UsageError(`--repo ${repo} is not a git repository (give a clone, a bare repository or an https:// URL)`);
    return { gitdir: found };
  }
  const found = findGitDir(process.cwd());
  if (found === null)
    throw new UsageError('not inside a git repository: run nfgit status in a clone of the rules repository, or give --repo');
  return { gitdir: found };
}

/** The server, reached by nfgit's wire client (one listing, one fetch). */
function serverOf(url: string, tokenFile: string | undefined): { remote: wire.WireRemote; wire: typeof wire; url: string } {
  return { remote: wire.wireRemote(url, { credentials: tokenFile === undefined ? null : readTokenFile(tokenFile) }), wire, url };
}

const reading = (url: string, doing: string) => (err: unknown) =>
  Promise.reject(
    err instanceof UsageError
      ? err
      : remoteError(err, { url, doing, authHint: 'give a token that may read the repository with --token-file' }),
  );

/** Prints one host's history (--history); returns the exit code. */
async function history(flags: StatusFlags, at: Where, signers: AllowedSigner[] | null): Promise<number> {
  const host = flags.host;
  if (host === undefined || isGlob(host) || !isValidHostName(host))
    throw new UsageError('--history shows one host: name it with --host HOST (a host name, not a pattern)');
  const entries: HistoryEntry[] =
    'gitdir' in at
      ? await readLocalHostHistory(at.gitdir, host, signers)
      : await fetchHostHistory(serverOf(at.url, at.tokenFile), host, signers).catch(reading(at.url, `reading the history of ${host}`));
  if (flags.json === true) {
    const history = entries.map((e) => ({
      via: e.via,
      ...('error' in e.record
        ? { tag: e.name, oid: e.oid, error: e.record.error, signature: e.signature, signatureDetail: e.signatureDetail }
        : (reportJson(e.name ?? e.ref, e.oid, e.record, e.signature, e.signatureDetail) as object)),
    }));
    process.stdout.write(JSON.stringify({ host, signaturesChecked: signers !== null, history }, null, 2) + '\n');
  } else process.stdout.write(renderHistory(host, entries));
  return entries.some((e) => isSignatureFailure(e.signature, signers !== null)) ? 1 : 0;
}

/** The fleet view from the status tags: a repository or server without current refs (before issue 14). */
async function fromTags(
  gitdir: string,
  head: string | null,
  flags: StatusFlags,
  signers: AllowedSigner[] | null,
  liveness: { now: Date; staleAfterMs: number },
): Promise<FleetStatus> {
  const match = flags.host === undefined ? null : hostMatcher(flags.host);
  const tags = (await readStatusTags({ gitdir, signers })).filter((t) => match === null || match(t.host));
  return fleetStatus(tags, head, flags.branch, signers !== null, liveness);
}

/** Reads the fleet view: the current refs, or the status tags when there are none. */
async function fleet(
  flags: StatusFlags,
  at: Where,
  signers: AllowedSigner[] | null,
  liveness: { now: Date; staleAfterMs: number },
  tmp: { dir: string | null },
): Promise<FleetStatus> {
  const opts = { signers, ...(flags.host === undefined ? {} : { hosts: hostMatcher(flags.host) }) };
  const checked = signers !== null;
  if ('gitdir' in at) {
    const head = await branchHead(at.gitdir, flags.branch);
    const listing = await readLocalRefs(at.gitdir, HOST_STATUS_REFS);
    if (listing.size === 0) {
      if ((await readLocalRefs(at.gitdir, 'refs/tags/nfgit/')).size > 0) process.stderr.write(`${FETCH_CURRENT_HINT}\n`);
      return fromTags(at.gitdir, head, flags, signers, liveness);
    }
    const statuses: CurrentStatus[] = await localCurrentStatuses(at.gitdir, listing, opts);
    return currentFleetStatus(statuses, head, flags.branch, checked, liveness);
  }
  const server = serverOf(at.url, at.tokenFile);
  const branchRef = `refs/heads/${flags.branch}`;
  const listing = await server.wire.listRefs(server.remote, [HOST_STATUS_REFS, branchRef]).catch(reading(at.url, 'listing status refs'));
  const head = listing.get(branchRef) ?? null;
  if (head === null)
    throw new UsageError(`${redactUrl(at.url)} has no branch ${flags.branch}: name the branch the hosts follow with --branch`);
  if (![...listing.keys()].some((r) => r.startsWith(HOST_STATUS_REFS))) {
    // Agents from before issue 14: every tag is fetched, as nfgit status did then.
    process.stderr.write(`hint: ${redactUrl(at.url)} has no current status refs (refs/nfgit/hosts/*): reading every status tag (slow)\n`);
    tmp.dir = await mkdtemp(path.join(os.tmpdir(), 'nfgit-status-'));
    await fetchInto(tmp.dir, at.url, flags.branch, at.tokenFile);
    return fromTags(tmp.dir, head, flags, signers, liveness);
  }
  const statuses = await fetchCurrentStatuses(server, listing, opts).catch(reading(at.url, 'fetching status refs'));
  return currentFleetStatus(statuses, head, flags.branch, checked, liveness);
}

/** Reads, verifies and prints the fleet view (or one host's history); returns the exit code. */
export async function status(flags: StatusFlags): Promise<number> {
  const tmp: { dir: string | null } = { dir: null };
  // main.ts ends the process on signals with process.exit, which skips finally blocks.
  const dropExit = onExit(() => {
    if (tmp.dir !== null) fs.rmSync(tmp.dir, { recursive: true, force: true });
  });
  try {
    if (flags.history === true && (flags.failed === true || flags.stale !== undefined))
      throw new UsageError('--history shows every report of one host: it does not go with --failed or --stale');
    const at = where(flags.repo, flags.tokenFile);
    const signers = await signersFor('gitdir' in at ? at.gitdir : null, flags.allowedSigners);
    if (flags.history === true) return await history(flags, at, signers);
    const now = new Date();
    const all = await fleet(flags, at, signers, { now, staleAfterMs: flags.staleAfter ?? DEFAULT_STALE_AFTER_MS }, tmp);
    const view = filterFleet(all, {
      ...(flags.failed === true ? { failed: true } : {}),
      ...(flags.stale === undefined ? {} : { staleMs: flags.stale }),
      now,
    });
    const layout: TableLayout = { width: tableWidth(), truncate: flags.host === undefined };
    if (flags.json === true) process.stdout.write(JSON.stringify(fleetStatusJson(view), null, 2) + '\n');
    else process.stdout.write(renderFleetTable(view, layout));
    // The exit status covers every host read (a filter hides lines, not a forgery).
    return hasSignatureFailures(all) ? 1 : 0;
  } finally {
    dropExit();
    if (tmp.dir !== null) await rm(tmp.dir, { recursive: true, force: true });
  }
}
