// An admin's pause of the agent (`nfgit pause`, `nfgit resume`): a file in the state directory, so that
// it survives a restart and the daemon needs no channel to be told. While it holds, a pass applies and
// repairs nothing (decide.ts); one given a time limit (`--for`) ends by itself at its first pass after.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { removeDurable, writeDurable } from '../util/durable-file.js';
import { STATE_FILE } from '../util/state-layout.js';
import { UsageError } from '../errors/errors.js';
import { readProblem } from '../util/read-problem.js';

/** pause.json: who paused the agent, when, until when (null: until `nfgit resume`), and why. */
export interface Pause {
  readonly nfgitPause: 1;
  readonly by: string;
  readonly at: string;
  readonly until: string | null;
  readonly reason: string | null;
}

/** The pause file of a state directory. */
export function pauseFile(stateDir: string): string {
  return path.join(stateDir, STATE_FILE.pause);
}

/**
 * Reads pause.json; undefined when there is none. A file that cannot be read or parsed counts as a
 * pause (the admin meant to stop the agent; guessing otherwise could revert a hand-made block), and
 * its problem is said in the reason.
 */
export function readPause(stateDir: string): Pause | undefined {
  const file = pauseFile(stateDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return damaged(file, readProblem(err));
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return damaged(file, 'it is not valid JSON');
  }
  const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  const str = (k: string): string | null => (typeof o[k] === 'string' ? (o[k] as string) : null);
  if (o['nfgitPause'] !== 1 || str('at') === null || (o['until'] !== null && !validTime(str('until'))))
    return damaged(file, 'it is not an nfgit pause of version 1');
  return { nfgitPause: 1, by: str('by') ?? 'unknown', at: str('at') ?? '', until: str('until'), reason: str('reason') };
}

function validTime(s: string | null): boolean {
  return s !== null && !Number.isNaN(new Date(s).getTime());
}

function damaged(file: string, why: string): Pause {
  return {
    nfgitPause: 1,
    by: 'unknown',
    at: new Date(0).toISOString(),
    until: null,
    reason: `${file} cannot be read (${why}): paused until it is removed with nfgit resume`,
  };
}

/** Whether a pause holds at a time: no pause, held, or ended by its time limit. */
export function pauseState(pause: Pause | undefined, now: Date): 'none' | 'active' | 'expired' {
  if (pause === undefined) return 'none';
  if (pause.until !== null && new Date(pause.until).getTime() <= now.getTime()) return 'expired';
  return 'active';
}

/** A pause made now by `by`, for `forMs` milliseconds (null: until resumed). */
export function newPause(by: string, now: Date, forMs: number | null, reason: string | null): Pause {
  return {
    nfgitPause: 1,
    by,
    at: now.toISOString(),
    until: forMs === null ? null : new Date(now.getTime() + forMs).toISOString(),
    reason: reason === null || reason.trim() === '' ? null : reason,
  };
}

/** Writes pause.json durably (readable by all: it says nothing secret, and `status --local` reads it). */
export function writePause(stateDir: string, pause: Pause): void {
  if (pause.reason?.includes('\0') === true) throw new UsageError('the reason must not contain a NUL character');
  writeDurable(pauseFile(stateDir), JSON.stringify(pause, null, 1) + '\n', 0o644, { json: true });
}

/** Removes pause.json; whether there was one. */
export function removePause(stateDir: string): boolean {
  const file = pauseFile(stateDir);
  const had = existsSync(file);
  removeDurable(file);
  return had;
}

/** One line about a pause: by whom, since, until, why. */
export function describePause(pause: Pause): string {
  const until = pause.until === null ? 'until nfgit resume' : `until ${pause.until}`;
  return `paused by ${pause.by} at ${pause.at}, ${until}${pause.reason === null ? '' : `: ${pause.reason}`}`;
}
