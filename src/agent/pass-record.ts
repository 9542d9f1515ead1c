// What the agent's passes did, kept in the state directory (agent-status.json) for `nfgit status
// --local` and the metrics: the last pass and its result, the last error, failures in a row, when the
// daemon polls next, the drift state, the branch head last seen, the last status report, and the
// counters that must survive a restart (Prometheus counters only go up). agent.json stays the record
// of decisions; this file is informational, so it is written without fsync (the rename keeps it whole)
// and a damaged one is started afresh.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { writeDurable } from '../util/durable-file.js';
import { STATE_FILE } from '../util/state-layout.js';

/** The drift state found by the last reconcile. */
export type DriftState = 'none' | 'repaired' | 'reported' | 'not-from-git';

/** agent-status.json. */
export interface PassRecord {
  readonly nfgitAgentStatus: 1;
  /** The last pass: when it started, how long it took, and whether it ended in an error. */
  readonly lastPass: {
    readonly at: string;
    readonly durationMs: number;
    readonly result: 'ok' | 'failed';
    /** What it did, in a few words (`applied 1a2b3c4d5e6f`, `current`, `paused`…). */
    readonly summary: string;
  } | null;
  readonly lastError: { readonly at: string; readonly message: string } | null;
  /** Failed passes in a row (0 after a pass that ends without an error). */
  readonly failures: number;
  /** When the daemon polls next, and whether that wait is a backoff after failures. */
  readonly nextPass: { readonly at: string; readonly backoff: boolean } | null;
  readonly headSeen: { readonly commit: string; readonly at: string } | null;
  readonly drift: { readonly state: DriftState; readonly at: string } | null;
  /** The running commit and its committer time (read once per commit). */
  readonly running: { readonly commit: string; readonly committedAt: string | null } | null;
  /** The pin as resolved at the last pass, and the branch head when it was beyond it. */
  readonly pin: { readonly commit: string; readonly ahead: string | null } | null;
  /** The last status tag written (a decision or a heartbeat), and whether it said paused. */
  readonly reported: {
    readonly at: string;
    readonly commit: string;
    readonly paused: boolean;
    /** The `Ring:` it said (absent in files of an nfgit before rings: none). */
    readonly ring?: string | null;
  } | null;
  /**
   * Staged rollout: the new commit the host holds, why (the `Held:` text), what it waits for (the
   * gate's state and hosts: a change is said and reported), since when, and whether the held report
   * was published. null when the last pass did not hold.
   */
  readonly held: {
    readonly commit: string;
    readonly why: string;
    readonly key: string;
    readonly since: string;
    readonly reported: boolean;
  } | null;
  /** How long the last apply (a deploy or a drift repair) took. */
  readonly lastApplyMs: number | null;
  readonly counters: { readonly driftRepairs: number; readonly passes: number; readonly failedPasses: number };
}

/** The record of a state directory no pass has written to yet. */
export const EMPTY_PASS_RECORD: PassRecord = {
  nfgitAgentStatus: 1,
  lastPass: null,
  lastError: null,
  failures: 0,
  nextPass: null,
  headSeen: null,
  drift: null,
  running: null,
  pin: null,
  reported: null,
  held: null,
  lastApplyMs: null,
  counters: { driftRepairs: 0, passes: 0, failedPasses: 0 },
};

/** The file in a state directory. */
export function passRecordFile(stateDir: string): string {
  return path.join(stateDir, STATE_FILE.passes);
}

/** Reads agent-status.json; the empty record when there is none or it cannot be used. */
export function readPassRecord(stateDir: string): PassRecord {
  try {
    const v = JSON.parse(readFileSync(passRecordFile(stateDir), 'utf8')) as Partial<PassRecord> | null;
    if (v === null || typeof v !== 'object' || v.nfgitAgentStatus !== 1) return EMPTY_PASS_RECORD;
    // Fields an older file lacks take their empty values.
    return { ...EMPTY_PASS_RECORD, ...v, counters: { ...EMPTY_PASS_RECORD.counters, ...(v.counters ?? {}) } };
  } catch {
    return EMPTY_PASS_RECORD;
  }
}

/** Writes agent-status.json (readable by all: `status --local` runs as any user). */
export function writePassRecord(stateDir: string, record: PassRecord): void {
  writeDurable(passRecordFile(stateDir), JSON.stringify(record, null, 1) + '\n', 0o644, { noSync: true });
}

/** Reads, changes and writes agent-status.json. */
export function updatePassRecord(stateDir: string, change: (r: PassRecord) => PassRecord): PassRecord {
  const next = change(readPassRecord(stateDir));
  writePassRecord(stateDir, next);
  return next;
}
