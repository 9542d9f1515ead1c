// The record of a pass: agent-status.json and the metrics textfile, written after every pass, by
// sync.ts and by the idle poll of the lean `nfgit run` daemon alike (so it loads nothing heavy).

import type { LastGood } from '../apply/state-files.js';
import type { Family } from '../compiler/parse-argv.js';
import { asNfgitErrors } from '../errors/errors.js';
import { VERSION } from '../util/version.js';
import { writeDurable } from '../util/durable-file.js';
import type { AgentConfig } from './config.js';
import type { Logger } from './log.js';
import { renderMetrics } from './metrics.js';
import { pauseState, readPause } from './pause.js';
import { writePassRecord, type PassRecord } from './pass-record.js';
import type { PassFacts, SyncOutcome } from './pass-types.js';

/** What a pass record and the idle poll use of last-good.json: its origin and its rule counts. */
export type LastGoodSummary = Pick<LastGood, 'source' | 'appliedAt'> & {
  readonly families: Partial<Record<Family, { readonly rules: number }>>;
};

/** What finishPass reads of the state directory: last-good.json (StateDir, or the daemon's lean reader, lean-state.ts). */
export interface LastGoodReader {
  readLastGood(): LastGoodSummary | undefined;
}

/**
 * Records a pass in agent-status.json and writes the metrics textfile. Never throws: a pass's own
 * outcome or error is what its caller must see; a failure here is logged.
 */
export function finishPass(
  config: AgentConfig,
  log: Logger,
  state: LastGoodReader,
  started: Date,
  previous: PassRecord,
  facts: PassFacts,
  outcome: SyncOutcome | undefined,
  error: unknown,
): void {
  const durationMs = Date.now() - started.getTime();
  const at = started.toISOString();
  const failed = outcome === undefined;
  const message = failed
    ? asNfgitErrors(error)
        .map((e) => e.format())
        .join('; ')
    : null;
  const repaired = outcome?.kind === 'current' && outcome.drift === 'repaired';
  const record: PassRecord = {
    ...previous,
    lastPass: { at, durationMs, result: failed ? 'failed' : 'ok', summary: summaryOf(outcome, facts) },
    lastError: message === null ? previous.lastError : { at, message },
    failures: failed ? previous.failures + 1 : 0,
    headSeen: facts.headSeen === undefined ? previous.headSeen : { commit: facts.headSeen, at },
    drift: facts.drift === undefined ? previous.drift : { state: facts.drift, at },
    running: facts.running === undefined ? previous.running : facts.running,
    pin: facts.pin === undefined ? (config.pin === null ? null : previous.pin) : facts.pin,
    reported: facts.reported ?? previous.reported,
    // Cleared by a pass that is not held; kept by one that failed before it knew.
    held: facts.held !== undefined ? facts.held : failed ? previous.held : null,
    lastApplyMs: facts.applyMs ?? previous.lastApplyMs,
    counters: {
      driftRepairs: previous.counters.driftRepairs + (repaired ? 1 : 0),
      passes: previous.counters.passes + 1,
      failedPasses: previous.counters.failedPasses + (failed ? 1 : 0),
    },
  };
  try {
    writePassRecord(config.stateDir, record);
  } catch (err) {
    log.log('warn', 'status-not-recorded', `could not record the pass in ${config.stateDir}: ${(err as Error).message}`);
  }
  if (config.metrics.textfile === null) return;
  try {
    const lastGood = state.readLastGood();
    // As the pass found it; read here only when the pass failed before it looked.
    const paused = facts.paused ?? pauseState(readPause(config.stateDir), new Date()) === 'active';
    const text = renderMetrics({
      version: VERSION,
      host: config.host,
      commit: record.running?.commit ?? null,
      runningCommitTime: record.running?.committedAt == null ? null : new Date(record.running.committedAt),
      lastPassAt: started,
      lastPassSuccess: !failed,
      consecutiveFailures: record.failures,
      driftRepairsTotal: record.counters.driftRepairs,
      rules: Object.fromEntries(Object.entries(lastGood?.families ?? {}).map(([f, rs]) => [f, rs.rules])),
      passDurationMs: durationMs,
      applyDurationMs: record.lastApplyMs,
      paused,
    });
    // Temporary file and rename in the textfile's own directory, so node_exporter never reads half a file.
    writeDurable(config.metrics.textfile, text, 0o644, { noSync: true });
  } catch (err) {
    log.log(
      'warn',
      'metrics-not-written',
      `could not write the metrics to ${config.metrics.textfile} (metrics.textfile): ${(err as Error).message}`,
    );
  }
}

/** A few words on what a pass did. */
function summaryOf(outcome: SyncOutcome | undefined, facts: PassFacts): string {
  if (outcome === undefined) return 'failed';
  if (outcome.kind === 'decided') return `${outcome.result} ${short(outcome.commit)}`;
  if (facts.paused === true) return 'paused';
  if (outcome.held !== undefined) return `held ${short(outcome.commit)}`;
  if (outcome.drift === 'repaired') return 'drift repaired';
  if (outcome.drift === 'reported') return 'drift reported';
  return 'current';
}

function short(oid: string): string {
  return oid.slice(0, 12);
}
