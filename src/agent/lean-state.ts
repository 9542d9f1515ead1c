// The state directory as the `nfgit run` daemon's idle poll reads it, without apply/state-files.ts,
// whose records are validated with zod (issue 15: the daemon must stay small).
// It answers only what it can tell for sure and throws otherwise, which leaves the poll to the full
// pass (a child process), which reads and checks everything itself and says what is wrong:
// - the directory and its parents are checked as checkStateDir checks them, except that one it would
//   tighten (group or others can read it) is left to it (checkStateDirUnchanged);
// - last-good.json is read with the checks of readStateFile, and believed only when it is byte for
//   byte the file the last full pass validated (its sha256, reported by that pass: pass-report.ts), so
//   a file changed or damaged since goes to the full pass, which validates it;
// - the same write of the file as the one the full pass validated, or whose bytes matched here (its
//   stamp: inode, size, modification and change times, util/state-security.ts fileStamp), is not read
//   or hashed again: at 50k rules the file holds 6 MB, whose read and sha256 every poll cost 15 ms of
//   CPU and 20 MiB of the daemon's memory.

import { createHash } from 'node:crypto';
import path from 'node:path';
import { STATE_FILE } from '../util/state-layout.js';
import { checkStateDirUnchanged, readStampedStateFile } from '../util/state-security.js';
import type { IdleStateReader } from './idle-poll.js';
import type { LastGoodSummary } from './pass-finish.js';

/**
 * last-good.json as the last full pass validated it: the sha256 of its bytes, the stamp of the file it
 * read them from (util/state-security.ts fileStamp) and what it says; null when there was none.
 */
export type ValidatedLastGood = { readonly sha256: string; readonly stamp?: string; readonly summary: LastGoodSummary } | null;

/** The idle poll's lean reader of a state directory; `validated` is what the last full pass reported (undefined: not known). */
export function leanStateReader(stateDir: string, validated: () => ValidatedLastGood | undefined): IdleStateReader {
  // The stamp of the file whose bytes last matched, and the sha256 they matched.
  let matched: { readonly stamp: string; readonly sha256: string } | undefined;
  return {
    checkDir: () => checkStateDirUnchanged(stateDir),
    readLastGood() {
      const known = validated();
      if (known === undefined) throw new Error('last-good.json not validated yet');
      // Checked (owner, mode, a regular file) every time; read only when it is not the write that matched
      // here, or that the full pass validated (its stamp: the daemon then never reads the file at all).
      const same = known === null ? undefined : matched?.sha256 === known.sha256 ? matched.stamp : known.stamp;
      const read = readStampedStateFile(path.join(stateDir, STATE_FILE.lastGood), same);
      if (!read.exists) {
        if (known === null) return undefined;
        throw new Error('last-good.json is gone');
      }
      if (known === null) throw new Error('last-good.json changed since the last full pass');
      if (read.text !== undefined) {
        matched = undefined;
        if (sha256(read.text) !== known.sha256) throw new Error('last-good.json changed since the last full pass');
        matched = { stamp: read.stamp, sha256: known.sha256 };
      }
      return known.summary;
    },
  };
}

/** sha256 of a file's text, in hex. */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
