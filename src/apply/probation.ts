// Probation: the time between restoring both families and recording the new ruleset as the last good
// one, while probes run and a human may be asked to confirm (what iptables-apply does, for both
// families). The journal stays meanwhile, marked `probation`, so a crash or SIGKILL now is undone by
// the next nfgit command: a host that cut itself off comes back without anyone at the console.

import { existsSync } from 'node:fs';
import { NfgitError, UsageError } from '../errors/errors.js';
import { removeDurable, writeDurable } from '../util/durable-file.js';
import { runProbes, type ProbeEnv, type ProbeSet } from './probes.js';
import type { StateDir } from './state-files.js';

/** Told to whoever started the apply when it starts waiting for `nfgit confirm`. */
export interface ConfirmWaiting {
  readonly waitMs: number;
  readonly stateDir: string;
}

/** What an apply must pass before its ruleset is kept. */
export interface Probation {
  readonly probes?: ProbeSet;
  /** Lists the agent's repository refs (for `git` probes). */
  readonly git?: ProbeEnv['git'];
  /** Wait this long for `nfgit confirm`; onWaiting says so (the CLI prints how to confirm). */
  readonly confirm?: { readonly waitMs: number; readonly onWaiting: (w: ConfirmWaiting) => void };
}

/** Whether a probation asks for anything (no probes and no confirm: the plain, fast path). */
export function hasProbation(p: Probation | undefined): p is Probation {
  return p !== undefined && ((p.probes !== undefined && p.probes.checks.length > 0) || p.confirm !== undefined);
}

/** A probe failed or no confirmation came: the apply was rolled back. `failure` is the reason alone. */
export class ProbeError extends NfgitError {
  constructor(
    /** `probe tcp 10.0.0.1:22 failed (…)` or `not confirmed within 30 s`: what the status tag records. */
    readonly failure: string,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super('ProbeError', message, options);
  }
}

/** How often the waiting apply looks for the confirm file. */
const CONFIRM_POLL_MS = 100;

/**
 * Marks the journal `probation`, runs the probes, then waits for the confirmation; resolves with
 * undefined when the new ruleset may stay, else with why it must go (the caller rolls back).
 */
export async function holdProbation(
  p: Probation,
  env: ProbeEnv,
  state: StateDir,
  journal: { readonly id: string; readonly appliedAt: string },
): Promise<string | undefined> {
  const mark = (confirmBy: string | null): void =>
    state.markJournalProbation({ id: journal.id, pid: process.pid, confirmBy, appliedAt: journal.appliedAt });
  if (p.probes !== undefined && p.probes.checks.length > 0) {
    mark(null);
    const failure = await runProbes(p.probes, { ...env, ...(p.git === undefined ? {} : { git: p.git }) });
    if (failure !== undefined) return failure;
  }
  if (p.confirm === undefined) return undefined;
  // The wait starts once the probes have passed: the marker tells nfgit confirm until when it may confirm.
  const confirmBy = Date.now() + p.confirm.waitMs;
  mark(new Date(confirmBy).toISOString());
  const file = state.confirmFile(journal.id);
  p.confirm.onWaiting({ waitMs: p.confirm.waitMs, stateDir: state.dir });
  try {
    for (;;) {
      if (existsSync(file)) return undefined;
      // One last look after the deadline: nfgit confirm refuses once the deadline has passed.
      if (Date.now() > confirmBy) return existsSync(file) ? undefined : `not confirmed within ${p.confirm.waitMs / 1000} s (nfgit confirm)`;
      await new Promise((r) => setTimeout(r, CONFIRM_POLL_MS));
    }
  } finally {
    removeDurable(file);
  }
}

/** What `nfgit confirm` found. */
export interface ConfirmResult {
  /** The apply's command line. */
  readonly command: string;
  /** Whether it then recorded its ruleset as the last good one (false: it had not finished within the wait). */
  readonly kept: boolean;
}

/**
 * Confirms the apply waiting in a state directory (`nfgit confirm`): creates its confirm file, then
 * waits (up to `waitMs`) for it to finish. Takes no lock: the waiting apply holds it.
 */
export async function confirmApply(state: StateDir, waitMs = 10_000): Promise<ConfirmResult> {
  const marker = state.readProbation();
  const journal = state.readJournal();
  if (marker === undefined || journal === undefined || journal.id !== marker.id || marker.confirmBy === null) {
    throw new UsageError(`no apply is waiting for confirmation in ${state.dir}: nothing to confirm`);
  }
  if (!isAlive(marker.pid)) {
    throw new UsageError(
      `the apply that waited for confirmation ("${journal.command}", pid ${marker.pid}) is gone; the next nfgit command (apply, restore-last) undoes it`,
    );
  }
  if (Date.now() > Date.parse(marker.confirmBy)) {
    throw new UsageError(`too late: "${journal.command}" waited for confirmation until ${marker.confirmBy} and is rolling back`);
  }
  writeDurable(state.confirmFile(marker.id), JSON.stringify({ confirmedAt: new Date().toISOString() }));
  const until = Date.now() + waitMs;
  while (state.readProbation()?.id === marker.id && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  return { command: journal.command, kept: state.readLastGood()?.appliedAt === marker.appliedAt };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
