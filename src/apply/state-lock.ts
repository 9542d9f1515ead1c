import { closeSync, linkSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { NfgitError } from '../compiler/errors.js';

/** Who holds the state directory. */
interface Holder {
  readonly pid: number;
  /** Start time of the process (field 22 of /proc/PID/stat), so a reused pid is not taken for the holder. */
  readonly start: string;
  readonly command: string;
  readonly since: string;
}

function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function readHolder(file: string): Holder | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Holder;
  } catch {
    return undefined;
  }
}

/** A held lock; release() removes it. */
export interface StateLock {
  release(): void;
}

/**
 * Takes the state directory's lock so that two nfgit processes (the daemon, a cron sync, an admin's
 * apply) never interleave. A lock whose holder is gone (killed, crashed) is taken over; a live holder
 * is waited for up to `waitMs`, then the call fails naming it.
 */
export async function lockStateDir(stateDir: string, command: string, waitMs: number): Promise<StateLock> {
  const file = path.join(stateDir, 'lock');
  const me: Holder = { pid: process.pid, start: processStart(process.pid) ?? '', command, since: new Date().toISOString() };
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      // Create the lock with its content in one step (link fails if it exists), so no one ever reads
      // a half-written lock and takes it for abandoned.
      const tmp = `${file}.${process.pid}`;
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeSync(fd, JSON.stringify(me));
      } finally {
        closeSync(fd);
      }
      try {
        linkSync(tmp, file);
      } finally {
        unlinkSync(tmp);
      }
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        process.removeListener('exit', release);
        const h = readHolder(file);
        if (h?.pid === me.pid && h.start === me.start) unlinkSync(file);
      };
      process.once('exit', release);
      return { release };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new NfgitError('UsageError', `cannot lock the state directory ${stateDir}: ${(err as Error).message}`, { cause: err });
      }
    }
    const holder = readHolder(file);
    const alive = holder !== undefined && processStart(holder.pid) === holder.start && holder.start !== '';
    if (!alive) {
      // The holder died without releasing (SIGKILL, power loss): its journal, if any, is recovered next.
      try {
        unlinkSync(file);
      } catch {
        // another process took it over first
      }
      continue;
    }
    if (Date.now() >= deadline) {
      throw new NfgitError(
        'SandboxError',
        `the state directory ${stateDir} is in use by "${holder.command}" (pid ${holder.pid}, since ${holder.since}); waited ${Math.round(waitMs / 1000)} s. Try again when it has finished`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
