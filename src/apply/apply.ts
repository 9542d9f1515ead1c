import type { CompileResult } from '../compiler/compile.js';
import type { Family } from '../compiler/parse-argv.js';
import { buildPlan, digestOf } from '../compiler/plan.js';
import { formatLocation } from '../compiler/source-location.js';
import { detectBackend } from '../netfilter/backend.js';
import { checkTarget, type Target } from '../netfilter/target.js';
import { runHostCommands, type HostCommandFailure } from './host-commands.js';
import { lockStateDir, type StateLock } from './state-lock.js';
import { StateDir, type AppliedRuleset } from './state-files.js';
import { applyTransaction, recoverJournal, type FamilyOutcome, type Recovery } from './transaction.js';

/** Options shared by apply and restore-last. */
export interface ApplyOptions {
  readonly target: Target;
  readonly stateDir: string;
  /** Manage IPv4 only (hosts with IPv6 disabled). */
  readonly ipv4Only: boolean;
  readonly lockWaitMs: number;
  readonly hostCommandTimeoutMs: number;
  /** The command line, recorded in the journal. */
  readonly command: string;
}

/** What an apply did. */
export interface ApplyReport {
  readonly recovery: Recovery;
  readonly families: readonly FamilyOutcome[];
  readonly hostCommandFailures: readonly HostCommandFailure[];
  readonly durationMs: number;
}

/** The ruleset to apply, from a compile result. */
export function rulesetOf(result: CompileResult, ipv4Only: boolean): AppliedRuleset {
  const fam = (rs: CompileResult['ipv4']) => ({ text: rs.text, usedTables: rs.usedTables, rules: rs.ruleCount, digest: digestOf(rs.text) });
  return {
    families: ipv4Only ? { ipv4: fam(result.ipv4) } : { ipv4: fam(result.ipv4), ipv6: fam(result.ipv6) },
    hostCommands: result.hostCommands.map((c) => ({ argv: c.argv, at: c.trace[0] === undefined ? '' : formatLocation(c.trace[0]) })),
    source: result.rulesDir,
    plan: buildPlan(result),
  };
}

/**
 * Applies a ruleset that already compiled and staged: lock the state directory, finish or undo any
 * interrupted apply, run the transaction, then the host commands.
 */
export async function applyRuleset(
  ruleset: AppliedRuleset,
  options: ApplyOptions,
  /**
   * Staging of the same ruleset, possibly still running: lock, recovery and snapshots proceed meanwhile,
   * nothing is changed before it passes. It yields the canonical forms of the new ruleset (see stage's
   * `canonical` option).
   */
  staging: Promise<Partial<Record<Family, Promise<string>>>> = Promise.resolve({}),
): Promise<ApplyReport> {
  const started = Date.now();
  checkTarget(options.target);
  const families: Family[] = options.ipv4Only ? ['ipv4'] : ['ipv4', 'ipv6'];
  const state = new StateDir(options.stateDir);
  state.ensure();
  staging.catch(() => {});
  const locking = lockStateDir(options.stateDir, options.command, options.lockWaitMs);
  locking.catch(() => {});
  let lock: StateLock | undefined;
  try {
    // Refused rules end the command at once, even while another nfgit holds the lock.
    await Promise.race([locking, staging]);
    lock = await locking;
    const backend = await detectBackend(options.target, families);
    // Repairing an interrupted apply changes the host: not for a ruleset that staging may still refuse.
    if (state.readJournal() !== undefined) await staging;
    const recovery = await recoverJournal({ backend, state, command: options.command });
    const outcomes = await applyTransaction({ target: options.target, backend, families, state, command: options.command }, ruleset, staging);
    const hostCommandFailures = await runHostCommands(options.target, ruleset.hostCommands, options.hostCommandTimeoutMs);
    return { recovery, families: outcomes, hostCommandFailures, durationMs: Date.now() - started };
  } finally {
    if (lock !== undefined) lock.release();
    else void locking.then((l) => l.release(), () => {});
  }
}

/** Result of restore-last: nothing recorded yet, or an apply report. */
export type RestoreLastReport = { readonly restored: false; readonly recovery: Recovery } | ({ readonly restored: true; readonly source: string; readonly appliedAt: string } & ApplyReport);

/** Loads the last good ruleset from the state directory with the same transaction (boot: no git, no network). */
export async function restoreLast(options: ApplyOptions): Promise<RestoreLastReport> {
  checkTarget(options.target);
  const state = new StateDir(options.stateDir);
  state.ensure();
  const families: Family[] = options.ipv4Only ? ['ipv4'] : ['ipv4', 'ipv6'];
  // Recover first (under the lock), then read what is the last good ruleset now.
  const lock = await lockStateDir(options.stateDir, options.command, options.lockWaitMs);
  let recovery: Recovery;
  let last;
  try {
    const backend = await detectBackend(options.target, families);
    recovery = await recoverJournal({ backend, state, command: options.command });
    last = state.readLastGood();
  } finally {
    lock.release();
  }
  if (last === undefined) return { restored: false, recovery };
  const ruleset: AppliedRuleset = {
    families: options.ipv4Only ? { ipv4: last.families.ipv4 } : last.families,
    hostCommands: last.hostCommands,
    source: last.source,
  };
  const report = await applyRuleset(ruleset, { ...options, ipv4Only: options.ipv4Only || last.families.ipv6 === undefined });
  return { restored: true, source: last.source, appliedAt: last.appliedAt, ...report, recovery: recovery.found ? recovery : report.recovery };
}
