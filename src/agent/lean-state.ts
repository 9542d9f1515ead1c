// The state directory as the `nfgit run` daemon's idle poll reads it, without apply/state-files.ts and
// apply/state-security.ts, whose records are validated with zod (issue 15: the daemon must stay small).
// It answers only what it can tell for sure and throws otherwise, which leaves the poll to the full
// pass (a child process), which reads and checks everything itself and says what is wrong:
// - the directory and its parents are checked as checkStateDir checks them, except that one it would
//   tighten (group or others can read it) is left to it;
// - last-good.json is believed only when it is byte for byte the file the last full pass validated
//   (its sha256, reported by that pass: pass-report.ts), so a file changed or damaged since goes to
//   the full pass, which validates it.

import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, realpathSync, type Stats } from 'node:fs';
import path from 'node:path';
import { STATE_FILE } from '../util/state-layout.js';
import type { IdleStateReader } from './idle-poll.js';
import type { LastGoodSummary } from './pass-finish.js';

/** last-good.json as the last full pass validated it: the sha256 of its bytes and what it says, or null when there was none. */
export type ValidatedLastGood = { readonly sha256: string; readonly summary: LastGoodSummary } | null;

/** The idle poll's lean reader of a state directory; `validated` is what the last full pass reported (undefined: not known). */
export function leanStateReader(stateDir: string, validated: () => ValidatedLastGood | undefined): IdleStateReader {
  return {
    checkDir: () => checkDir(stateDir),
    readLastGood() {
      const known = validated();
      if (known === undefined) throw new Error('last-good.json not validated yet');
      const text = readSafe(path.join(stateDir, STATE_FILE.lastGood));
      if (text === undefined) {
        if (known === null) return undefined;
        throw new Error('last-good.json is gone');
      }
      if (known === null || sha256(text) !== known.sha256) throw new Error('last-good.json changed since the last full pass');
      return known.summary;
    },
  };
}

/** sha256 of a file's text, in hex. */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function uid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : 0;
}

/** Whether a file or directory is safe as apply/state-security.ts judges it (owner root or us; group and others cannot write). */
function safe(st: Stats, kind: 'state' | 'parent'): boolean {
  if (st.uid !== uid() && st.uid !== 0) return false;
  const writable = (st.mode & 0o022) !== 0;
  return !writable || (kind === 'parent' && st.isDirectory() && (st.mode & 0o1000) !== 0);
}

function checkDir(dir: string): void {
  const abs = realpathSync(dir);
  const st = lstatSync(abs);
  // checkStateDir tightens a directory others can read: that is the full pass's to do (and say nothing of).
  if (!st.isDirectory() || !safe(st, 'state') || (st.mode & 0o077) !== 0) throw new Error(`${abs}: for the full pass to check`);
  for (let p = path.dirname(abs); ; p = path.dirname(p)) {
    if (!safe(lstatSync(p), 'parent')) throw new Error(`${p}: for the full pass to check`);
    if (p === path.dirname(p)) break;
  }
}

/** A state file's text when it is a regular file that is safe (as readStateFile checks), undefined when there is none; throws otherwise. */
function readSafe(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || !safe(st, 'state')) throw new Error(`${file}: for the full pass to check`);
    const buf = Buffer.alloc(st.size);
    let done = 0;
    while (done < st.size) {
      const n = readSync(fd, buf, done, st.size - done, done);
      if (n === 0) break;
      done += n;
    }
    return buf.subarray(0, done).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
