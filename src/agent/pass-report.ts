// One pass of `nfgit run`, in the child process the daemon starts for it (pass-process.ts): the pass
// (sync.ts) with the daemon's configuration and options, and what the daemon needs to know after it,
// as JSON: its outcome or its errors (for pass-failed and the backoff), and last-good.json as this
// pass validated it (for the daemon's idle polls: lean-state.ts).

import path from 'node:path';
import { StateDir } from '../apply/state-files.js';
import { readStampedStateFile } from '../util/state-security.js';
import { asNfgitErrors, classify } from '../errors/errors.js';
import { STATE_FILE } from '../util/state-layout.js';
import type { AgentConfig } from './config.js';
import { sha256, type ValidatedLastGood } from './lean-state.js';
import type { Logger, LogFormat, LogLevel } from './log.js';
import type { LastGoodSummary } from './pass-finish.js';
import type { SyncOptions, SyncOutcome } from './pass-types.js';
import { syncOnce } from './sync.js';

/** What the daemon sends the pass's child on its standard input. */
export interface PassRequest {
  /** configToJson (config-json.ts). */
  readonly config: string;
  readonly options: SyncOptions;
  /** The daemon's log format and level: the child writes to the same stream. */
  readonly format: LogFormat;
  readonly level: LogLevel;
}

/** What the child answers on descriptor 3. */
export interface PassReport {
  readonly outcome?: SyncOutcome;
  readonly failure?: { readonly messages: string[]; readonly codes: string[]; readonly transient: boolean; readonly message: string };
  /** Absent when it could not be validated (the daemon's idle polls then leave the next poll to a full pass). */
  readonly lastGood?: ValidatedLastGood;
}

/** Runs the pass and reports it; never throws. */
export async function reportedPass(config: AgentConfig, options: SyncOptions, log: Logger): Promise<PassReport> {
  let report: PassReport;
  try {
    report = { outcome: await syncOnce(config, options, log) };
  } catch (err) {
    const errors = asNfgitErrors(err);
    report = {
      failure: {
        messages: errors.map((e) => e.format()),
        codes: errors.map((e) => e.code),
        transient: classify(errors).errorClass === 'transient',
        message: err instanceof Error ? err.message : String(err),
      },
    };
  }
  const lastGood = validatedLastGood(config.stateDir);
  return lastGood === undefined ? report : { ...report, lastGood };
}

/** last-good.json as validated now (read before and after the validation: the same bytes), undefined when it cannot be told. */
export function validatedLastGood(stateDir: string): ValidatedLastGood | undefined {
  try {
    const file = path.join(stateDir, STATE_FILE.lastGood);
    const before = readStampedStateFile(file, undefined);
    const value = new StateDir(stateDir).readLastGood();
    const after = readStampedStateFile(file, undefined);
    if (!before.exists || !after.exists) return !before.exists && !after.exists && value === undefined ? null : undefined;
    if (before.stamp !== after.stamp || before.text !== after.text || before.text === undefined || value === undefined) return undefined;
    const summary: LastGoodSummary = {
      source: value.source,
      appliedAt: value.appliedAt,
      families: Object.fromEntries(Object.entries(value.families).map(([f, r]) => [f, { rules: r.rules }])),
    };
    return { sha256: sha256(before.text), stamp: before.stamp, summary };
  } catch {
    return undefined;
  }
}
