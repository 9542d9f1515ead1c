// How the `nfgit run` daemon runs its passes (daemon.ts PassRunner): a poll is first looked at in
// process (idle-poll.ts, with the lean reader of the state directory, lean-state.ts) and recorded as
// a pass records it; any other pass, and a poll that look does not answer, runs as a child process
// (`nfgit _run-pass`, pass-report.ts) that loads the pass's modules and exits when the pass is done,
// so that the daemon stays small between passes (issue 15). The child writes its log to the daemon's
// standard output and reports on descriptor 3; it runs in a process group of its own, so that a ^C
// in a terminal, meant for the daemon (which lets the pass finish), does not cut it.

import { spawn, type ChildProcess } from 'node:child_process';
import type { AgentConfig } from './config.js';
import { idlePoll } from './idle-poll.js';
import { leanStateReader, type ValidatedLastGood } from './lean-state.js';
import type { Logger, LogFormat, LogLevel } from './log.js';
import type { PassReason, PassRunner } from './daemon.js';
import { finishPass } from './pass-finish.js';
import { readPassRecord } from './pass-record.js';
import type { PassReport, PassRequest } from './pass-report.js';
import { PassFailure, type PassFacts, type SyncOptions, type SyncOutcome } from './pass-types.js';

/** What a child pass needs beside the configuration. */
export interface PassProcessOptions {
  /** The command that runs nfgit (node and the CLI's main.js); `_run-pass` is added. */
  readonly command: readonly [string, ...string[]];
  /** configToJson of the configuration. */
  readonly configJson: string;
  /** The options of every pass (reconcile is set per pass). */
  readonly sync: SyncOptions;
  readonly format: LogFormat;
  readonly level: LogLevel;
}

/** The daemon's passes, and a way to end the pass in flight at once (a second SIGTERM). */
export function processPasses(config: AgentConfig, log: Logger, opts: PassProcessOptions): PassRunner & { killPass(): void } {
  // last-good.json as the last full pass validated it; undefined until one has (the first pass is always full).
  let validated: ValidatedLastGood | undefined;
  let child: ChildProcess | null = null;
  // One reader for the daemon's life: it remembers which write of last-good.json matched (lean-state.ts).
  const state = leanStateReader(config.stateDir, () => validated);

  const idle = async (): Promise<SyncOutcome | undefined> => {
    const started = new Date();
    const previous = readPassRecord(config.stateDir);
    const facts: PassFacts = {};
    const outcome = await idlePoll(config, { ...opts.sync, reconcile: false }, log, previous, facts, state);
    if (outcome !== undefined) finishPass(config, log, state, started, previous, facts, outcome, undefined);
    return outcome;
  };

  const full = async (reason: PassReason, reconcile: boolean): Promise<SyncOutcome> => {
    const request: PassRequest = { config: opts.configJson, options: { ...opts.sync, reconcile }, format: opts.format, level: opts.level };
    const [file, ...args] = opts.command;
    const c = spawn(file, [...args, '_run-pass'], { stdio: ['pipe', 'inherit', 'inherit', 'pipe'], detached: true });
    child = c;
    const chunks: Buffer[] = [];
    c.stdio[3]?.on('data', (b: Buffer) => chunks.push(b));
    c.stdin?.on('error', () => {});
    c.stdin?.end(JSON.stringify(request));
    const ended = await new Promise<string>((resolve) => {
      c.on('error', (err) => resolve(err.message));
      // 'close': the report on descriptor 3 has been read whole.
      c.on('close', (code, signal) => resolve(signal !== null ? `killed by ${signal}` : `exit code ${code}`));
    });
    child = null;
    let report: PassReport | undefined;
    try {
      report = JSON.parse(Buffer.concat(chunks).toString('utf8')) as PassReport;
    } catch {
      report = undefined;
    }
    validated = report?.lastGood;
    if (report?.outcome !== undefined) return report.outcome;
    if (report?.failure !== undefined) {
      const f = report.failure;
      throw new PassFailure(f.messages, f.codes, f.transient, f.message);
    }
    const why = `the ${reason} pass's process (nfgit _run-pass) ended without a report (${ended}): a bug in nfgit, see the log above`;
    throw new PassFailure([why], ['InternalError'], false, why);
  };

  return {
    idle,
    full,
    killPass() {
      // Its SIGTERM handler exits through the exit hooks (the sandboxes' process groups are killed);
      // the next nfgit command finishes or undoes an interrupted apply from its journal.
      child?.kill('SIGTERM');
    },
  };
}
