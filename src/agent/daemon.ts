// `nfgit run`: the poll loop (with backoff and jitter after failures), the reconcile schedule
// (cron-schedule.ts), immediate passes on SIGHUP or a trigger file, and a clean stop on SIGTERM that
// lets a transaction in flight finish (or be undone) instead of cutting it. The daemon itself stays
// small (issue 15): it answers idle polls in process (idle-poll.ts) and leaves every pass that may act
// to a child process (pass-process.ts), so it never loads the compiler, the apply, isomorphic-git, zod,
// yaml or node-cron. What runs a pass is given (DaemonOptions.passes).

import { chmodSync, existsSync, rmSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { AgentConfig } from './config.js';
import type { Logger } from './log.js';
import { nextDelay, withJitter } from './backoff.js';
import { scheduleCron } from './cron-schedule.js';
import { updatePassRecord } from './pass-record.js';
import { PassFailure, type SyncOutcome } from './pass-types.js';
import { makeDirsSync } from '../util/make-dirs.js';

/** Why a pass runs. */
export type PassReason = 'poll' | 'reconcile' | 'trigger' | 'signal' | 'start';

/** A running daemon. */
export interface Daemon {
  /** Asks for a pass as soon as possible (coalesced with one already waiting). */
  trigger(reason: PassReason): void;
  /** Stops: no new pass starts; resolves when the pass in flight has finished. */
  stop(): Promise<void>;
  /** Resolves when stopped. */
  readonly done: Promise<void>;
  /** When the pass in flight started (performance.now()), or null between passes: the watchdog's measure of a hung pass. */
  busySince(): number | null;
}

/** How the daemon runs its passes. */
export interface PassRunner {
  /** The look of a poll (idle-poll.ts, in process): its outcome when nothing is to be done, else undefined. Never throws. */
  idle(): Promise<SyncOutcome | undefined>;
  /** A full pass (a child process), comparing the live ruleset when reconcile; rejects with a PassFailure when it ends in errors. */
  full(reason: PassReason, reconcile: boolean): Promise<SyncOutcome>;
}

/** Options of the daemon. */
export interface DaemonOptions {
  readonly passes: PassRunner;
  /** Called after every pass (tests, bench). */
  readonly onPass?: (reason: PassReason, outcome: SyncOutcome | Error) => void;
}

/** Starts the daemon: a pass at once, then polls and scheduled reconciles, one pass at a time. */
export function startDaemon(config: AgentConfig, log: Logger, options: DaemonOptions): Daemon {
  let stopping = false;
  let running: Promise<void> | null = null;
  let runningSince: number | null = null;
  let pending: PassReason | null = null;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => (resolveDone = resolve));

  const schedulePoll = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    if (stopping) return;
    // After failures the backoff has its own jitter; otherwise poll.jitter spreads the fleet's polls.
    const delay = failures > 0 ? nextDelay(config.poll.intervalMs, failures) : withJitter(config.poll.intervalMs, config.poll.jitterMs);
    timer = setTimeout(() => trigger('poll'), delay);
    try {
      // For `nfgit status --local`: when the next poll is due.
      updatePassRecord(config.stateDir, (r) => ({
        ...r,
        nextPass: { at: new Date(Date.now() + delay).toISOString(), backoff: failures > 0 },
      }));
    } catch {
      // Informational only; the pass that wrote the rest of the record has already said why it could not.
    }
  };
  /** Scheduled reconciles waiting out their jitter. */
  const delayed = new Set<NodeJS.Timeout>();

  const runPass = async (reason: PassReason): Promise<void> => {
    // Polls look at the branch; every other pass (the first, a reconcile, and what an admin or a push
    // asks for: SIGHUP, which `systemctl reload` sends, or the trigger file) also compares the live
    // ruleset: "do everything now".
    const reconcile = reason !== 'poll';
    try {
      const outcome = (reason === 'poll' ? await options.passes.idle() : undefined) ?? (await options.passes.full(reason, reconcile));
      failures = 0;
      options.onPass?.(reason, outcome);
    } catch (err) {
      const failure = err instanceof PassFailure ? err : new PassFailure([String(err)], ['InternalError'], false, String(err));
      failures++;
      const wait = nextDelay(config.poll.intervalMs, failures);
      log.log(
        'error',
        'pass-failed',
        `${reason} pass failed: ${failure.messages.join('; ')}; ${failure.transient ? '' : 'check the configuration; '}next attempt in ${Math.round(wait / 1000)} s`,
        {
          reason,
          failures,
          codes: failure.codes,
        },
      );
      options.onPass?.(reason, failure);
    }
  };

  const trigger = (reason: PassReason): void => {
    if (stopping) return;
    if (running !== null) {
      // One pass waits at most; any other request wins over a poll (which does less).
      if (pending === null || reason !== 'poll') pending = reason;
      return;
    }
    if (timer !== undefined) clearTimeout(timer);
    runningSince = performance.now();
    running = runPass(reason).finally(() => {
      running = null;
      runningSince = null;
      const next = pending;
      pending = null;
      if (next !== null && !stopping) trigger(next);
      else schedulePoll();
    });
  };

  const task = scheduleCron(config.reconcile.schedule, () => {
    // Every host's cron fires at the same second: a random part of poll.jitter spreads them.
    const t = setTimeout(
      () => {
        delayed.delete(t);
        trigger('reconcile');
      },
      withJitter(0, config.poll.jitterMs),
    );
    delayed.add(t);
  });

  let watcher: FSWatcher | undefined;
  // The trigger's directory is not the state directory: that one is root's alone, and the user that
  // receives pushes (the post-receive hook) must be able to create the trigger.
  const triggerFile = config.trigger;
  const triggerDir = path.dirname(triggerFile);
  const triggerName = path.basename(triggerFile);
  const takeTrigger = (): void => {
    if (!existsSync(triggerFile)) return;
    rmSync(triggerFile, { force: true });
    log.log('info', 'triggered', `${triggerFile} appeared: syncing now`);
    trigger('trigger');
  };
  try {
    if (!existsSync(triggerDir)) {
      // Group-writable, so that adding the git user to its group (chgrp) is all the hook needs;
      // chmod because mkdir's mode is cut by the umask (nfgit.service runs with UMask=0077).
      makeDirsSync(triggerDir, 0o770);
      chmodSync(triggerDir, 0o770);
    }
    watcher = watch(triggerDir, (_event, name) => {
      if (name === triggerName) takeTrigger();
    });
    watcher.on('error', () => {});
  } catch (err) {
    log.log(
      'warn',
      'no-trigger-watch',
      `cannot watch ${triggerDir} for the trigger file (trigger: ${triggerFile}): ${(err as Error).message}; use SIGHUP`,
    );
  }

  log.log(
    'info',
    'started',
    `nfgit run: following ${config.repository.branch} of ${config.repository.url} every ${Math.round(config.poll.intervalMs / 1000)} s, reconcile "${config.reconcile.schedule}" (${config.reconcile.mode}), host ${config.host}`,
    {
      host: config.host,
      netns: config.target.netns ?? null,
    },
  );
  takeTrigger();
  trigger('start');

  const stop = async (): Promise<void> => {
    if (stopping) return done;
    stopping = true;
    if (timer !== undefined) clearTimeout(timer);
    for (const t of delayed) clearTimeout(t);
    watcher?.close();
    task.stop();
    if (running !== null) {
      log.log('info', 'stopping', 'stopping: waiting for the pass in flight to finish');
      await running;
    }
    try {
      // No poll is due any more: status --local says none is scheduled rather than one overdue.
      updatePassRecord(config.stateDir, (r) => ({ ...r, nextPass: null }));
    } catch {
      // Informational only.
    }
    log.log('info', 'stopped', 'nfgit run stopped');
    resolveDone();
    return done;
  };
  return { trigger, stop, done, busySince: () => runningSince };
}
