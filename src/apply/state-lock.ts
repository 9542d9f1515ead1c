import { spawn } from 'node:child_process';
import { openSync, readFileSync, closeSync, writeSync, ftruncateSync } from 'node:fs';
import path from 'node:path';
import { InternalError, SandboxError } from '../errors/errors.js';
import { execLine, startWaitingShells, takeWaitingShell } from '../util/waiting-shells.js';
import { SAFE_PATH } from '../util/sandbox.js';
import { onExit } from '../util/exit-hooks.js';
import { STATE_FILE } from '../util/state-layout.js';
import { describeTarget, namespaceFile, type Target } from '../netfilter/target.js';

/** Who holds the state directory, written into the lock file once it is held (for messages). */
interface Holder {
  readonly pid: number;
  readonly command: string;
  readonly since: string;
}

function readHolder(file: string): Holder | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Holder;
  } catch {
    return undefined;
  }
}

/** Replaces the lock file's text with the holder (the file itself stays: flock is on its inode). */
function writeHolder(file: string, holder: Holder): void {
  const fd = openSync(file, 'r+');
  try {
    ftruncateSync(fd, 0);
    const data = Buffer.from(JSON.stringify(holder));
    let done = 0;
    // A short write (full disk) is followed by ENOSPC on the next call, which ends the loop.
    while (done < data.length) {
      const n = writeSync(fd, data, done, data.length - done, done);
      if (n <= 0) throw new Error(`write returned ${n}`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** A held lock; release() frees it (and so does the death of this process, however it dies). */
export interface StateLock {
  release(): void;
}

/**
 * Takes the state directory's lock so that two nfgit processes (the daemon, a cron sync, an admin's
 * apply) never interleave. The lock is a kernel flock(2) held by a small `flock` child process that
 * lives as long as its stdin stays open: when nfgit exits or is killed, the pipe closes, the child
 * exits and the kernel frees the lock, so a dead holder never blocks anyone and no two processes can
 * ever both take over a stale lock. A live holder is waited for up to `waitMs`, then the call fails
 * naming it.
 */
export function lockStateDir(stateDir: string, command: string, waitMs: number, name: string = STATE_FILE.lock): Promise<StateLock> {
  return lockFile(path.join(stateDir, name), command, waitMs, `the state directory ${stateDir}`);
}

/**
 * Takes the lock of a target (the host, or one named namespace), so that two nfgit processes with
 * different state directories never apply to one target at once: each would snapshot the other's
 * half-done transaction, and a rollback would leave the families split. The flock is taken on the
 * namespace itself (its nsfs file: /run/netns/NAME, or /proc/self/ns/net for the host, which is
 * nfgit's own namespace), so it needs no writable directory (the units run with ProtectSystem=strict)
 * and two names of one namespace share it. Taken after the state directory's lock, always in that
 * order (no deadlock).
 */
export function lockTarget(target: Target, command: string, waitMs: number): Promise<StateLock> {
  return lockFile(namespaceFile(target), command, waitMs, describeTarget(target), false);
}

/** The lock processes' environment. */
const LOCK_ENV = { PATH: SAFE_PATH, LC_ALL: 'C' };

/** The key of the shells started ahead to become lock processes (waiting-shells.ts). */
const LOCK_SHELLS = 'lock';

/**
 * Starts the shells that the next two locks (the state directory's, the target's) become, while the
 * process is small (deploy-ahead.ts): after the compile a spawn costs the main thread 8-10 ms each.
 * `release` ends those not taken.
 */
export function startLockShells(): { release(): void } {
  return startWaitingShells(LOCK_SHELLS, 2, ['/bin/sh', '-c'], LOCK_ENV);
}

/**
 * Takes the flock of `file` (see lockStateDir); `what` names what it guards in messages. With
 * `holder`, the file is created if needed and says who holds it (a namespace's file cannot).
 */
async function lockFile(file: string, command: string, waitMs: number, what: string, holder = true): Promise<StateLock> {
  if (holder) closeSync(openSync(file, 'a', 0o600));
  const argv = ['flock', '--exclusive', '--wait', String(Math.max(0, waitMs) / 1000), file, '-c', 'echo locked; exec cat >/dev/null'];
  const child =
    takeWaitingShell(LOCK_SHELLS, execLine(argv)) ??
    spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: LOCK_ENV });
  if (child.stdout === null || child.stdin === null) throw new InternalError('internal error: the lock process has no pipes');
  const { stdout, stdin } = child;
  const got = await new Promise<boolean>((resolve, reject) => {
    let out = '';
    stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('locked')) resolve(true);
    });
    child.on('error', (err) =>
      reject(new SandboxError(`cannot lock ${what}: flock (util-linux) does not run: ${err.message}`, { cause: err })),
    );
    child.on('exit', () => resolve(false));
  });
  if (!got) {
    const held = holder ? readHolder(file) : undefined;
    const who =
      held !== undefined
        ? `"${held.command}" (pid ${held.pid}, since ${held.since})`
        : holder
          ? 'another process'
          : 'another nfgit (with another state directory)';
    throw new SandboxError(`${what} is in use by ${who}; waited ${Math.round(waitMs / 1000)} s. Try again when it has finished`);
  }
  stdout.removeAllListeners('data');
  stdin.on('error', () => {});
  // Say who holds it, for whoever waits next. Best effort: on a full disk the write fails, and a
  // failure here must not leave the flock child (which holds the lock, and whose pipes keep this
  // process alive) running with nobody to release it.
  try {
    if (holder) writeHolder(file, { pid: process.pid, command, since: new Date().toISOString() });
  } catch {
    // The lock is held all the same; waiters then say "another process".
  }
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    dropExit();
    stdin.end();
    child.kill('SIGTERM');
  };
  const dropExit = onExit(release);
  return { release };
}
