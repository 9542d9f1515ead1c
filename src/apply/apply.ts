import type { Family } from '../compiler/parse-argv.js';
import { mark } from '../util/timings.js';
import { detectBackend, type Backend } from '../netfilter/backend.js';
import type { GenerationReader } from '../netfilter/generation.js';
import { checkTarget, describeTarget, sameTarget, targetFromJson, type Target } from '../netfilter/target.js';
import { UsageError } from '../errors/errors.js';
import type { PreserveSpec } from '../netfilter/preserve.js';
import { runHostCommands, type HostCommandFailure } from './host-commands.js';
import { lockStateDir, lockTarget, type StateLock } from './state-lock.js';
import { StateDir, type AppliedRuleset, type LastGood } from './state-files.js';
import { CorruptStateFile } from './state-records.js';
import type { Probation } from './probation.js';
import { managedFamilies } from './deploy.js';
import {
  applyTransaction,
  recoverJournal,
  type FamilyOutcome,
  type Recovery,
  type SetsOutcome,
  type TransactionPath,
} from './transaction.js';
import type { ApplyPath } from './apply-path.js';

/** Options shared by apply and restore-last. */
export interface ApplyOptions {
  readonly target: Target;
  readonly stateDir: string;
  /** stateDir as the caller opened it already (the agent's pass), so that one pass has one StateDir. */
  readonly state?: StateDir;
  /** Manage IPv4 only (hosts with IPv6 disabled). */
  readonly ipv4Only: boolean;
  readonly lockWaitMs: number;
  readonly hostCommandTimeoutMs: number;
  /** Time limit of each restore tool run (default DEFAULT_RESTORE_TIMEOUT_MS). */
  readonly restoreTimeoutMs?: number;
  /** The command line, recorded in the journal. */
  readonly command: string;
  /** Chains of other software to carry over from the live ruleset (apply --preserve, config preserve). */
  readonly preserve?: PreserveSpec;
  /** Probes and confirmation an apply must pass before it is kept (not restore-last: it loads what passed). */
  readonly probation?: Probation;
  /** Reload the whole ruleset even where applying the difference would do (apply --full). */
  readonly full?: boolean;
  /**
   * The target's backend, probed ahead (deploy starts it while the rules compile, when the CPU has room
   * for its ten processes); detected under the lock's wait otherwise. It only reads the target.
   */
  readonly backend?: Promise<Backend>;
  /** Reads the target's generation without a process each (deploy starts it while the rules compile). */
  readonly generations?: GenerationReader;
}

/** What an apply did. */
export interface ApplyReport {
  readonly recovery: Recovery;
  readonly families: readonly FamilyOutcome[];
  /** Present when the new or the previous ruleset has sets. */
  readonly sets?: SetsOutcome;
  readonly hostCommandFailures: readonly HostCommandFailure[];
  /** Problems found in the state directory that did not stop the command (it repaired them). */
  readonly warnings: readonly string[];
  readonly durationMs: number;
  /** The whole ruleset reloaded (and why), or only the difference from the last apply. */
  readonly path: ApplyPath;
}

/** What the locked part of apply and restore-last works with. */
interface Locked {
  readonly state: StateDir;
  readonly backend: Backend;
  readonly families: readonly Family[];
  readonly recovery: Recovery;
}

/**
 * Takes the state directory's lock, detects the backend and finishes or undoes an interrupted apply,
 * then runs `body` before releasing the lock: one lock for the whole command, so no other nfgit can
 * slip in between recovering and applying.
 */
async function underLock<T>(
  options: ApplyOptions,
  staging: Promise<unknown>,
  body: (locked: Locked) => Promise<T>,
  reloading = false,
): Promise<T> {
  // First: whatever refuses the command below, a later staging failure must not go unhandled.
  staging.catch(() => {});
  checkTarget(options.target);
  const families = managedFamilies(options.ipv4Only);
  const state = options.state ?? new StateDir(options.stateDir);
  state.ensure();
  const locking = lockStateDir(options.stateDir, options.command, options.lockWaitMs);
  locking.catch(() => {});
  // Only reads the target (versions, the other backend's saves): probed while the locks are taken and
  // the plan is made, its answer awaited under the locks.
  const detecting = options.backend ?? detectBackend(options.target, families);
  detecting.catch(() => {});
  let lock: StateLock | undefined;
  let targetLock: StateLock | undefined;
  try {
    // Refused rules end the command at once, even while another nfgit holds the lock.
    await Promise.race([locking, staging]);
    lock = await locking;
    targetLock = await lockTarget(options.target, options.command, options.lockWaitMs);
    const backend = await detecting;
    // Repairing an interrupted apply changes the host: not for a ruleset that staging may still refuse.
    if (journalPresent(state)) await staging;
    const recovery = await recoverJournal({
      backend,
      state,
      command: options.command,
      ...(options.preserve === undefined ? {} : { preserve: options.preserve }),
      ...(options.restoreTimeoutMs === undefined ? {} : { restoreTimeoutMs: options.restoreTimeoutMs }),
      ...(reloading ? { reloadingLastGood: true } : {}),
    });
    return await body({ state, backend, families, recovery });
  } finally {
    // Files written ahead and not used (journal.v4/v6 of a journal never written, the record's files).
    // (Their names are this process's own: removed with or without the lock.)
    await state.discardEarlyFiles();
    targetLock?.release();
    if (lock !== undefined) lock.release();
    else
      void locking.then(
        (l) => l.release(),
        () => {},
      );
  }
}

/** Whether a journal is there, damaged or not (recovery then replays it or sets it aside). */
function journalPresent(state: StateDir): boolean {
  try {
    return state.readJournal() !== undefined;
  } catch (err) {
    if (err instanceof CorruptStateFile) return true;
    throw err;
  }
}

/** The transaction, then the host commands. */
async function applyLocked(
  locked: Locked,
  families: readonly Family[],
  ruleset: AppliedRuleset,
  options: ApplyOptions,
  staging: Promise<Partial<Record<Family, Promise<string>>>>,
  started: number,
  probation?: Probation,
  warnings: readonly string[] = [],
  /** restore-last: the ruleset is the recorded last good one (or, 'pending', the one a kept journal records). */
  reloading: boolean | 'pending' = false,
  path?: TransactionPath | Promise<TransactionPath>,
): Promise<ApplyReport> {
  const { state, backend, recovery } = locked;
  const outcome = await applyTransaction(
    {
      target: options.target,
      backend,
      families,
      state,
      command: options.command,
      ...(options.preserve === undefined ? {} : { preserve: options.preserve }),
      ...(options.restoreTimeoutMs === undefined ? {} : { restoreTimeoutMs: options.restoreTimeoutMs }),
      ...(reloading === false ? {} : { reloadingLastGood: true }),
      ...(reloading === 'pending' ? { pendingJournal: true } : {}),
      // --full and restore-last trust nothing recorded: the snapshot is saved from the target.
      ...(options.full === true || reloading !== false ? { saveLive: true } : {}),
      ...(options.generations === undefined ? {} : { generations: options.generations }),
    },
    ruleset,
    staging,
    probation,
    path,
  );
  const hostCommandFailures = await runHostCommands(options.target, ruleset.hostCommands, options.hostCommandTimeoutMs);
  mark('host commands done');
  return {
    recovery,
    families: outcome.families,
    ...(outcome.sets === undefined ? {} : { sets: outcome.sets }),
    hostCommandFailures,
    warnings: [...warnings, ...outcome.warnings],
    durationMs: Date.now() - started,
    path: outcome.path,
  };
}

/**
 * Applies a compiled ruleset: lock the state directory, finish or undo any interrupted apply, run the
 * transaction, then the host commands.
 */
export function applyRuleset(
  ruleset: AppliedRuleset,
  options: ApplyOptions,
  /**
   * Staging of the same ruleset, possibly still running: lock, recovery and snapshots proceed meanwhile,
   * nothing is changed before it passes. It yields the canonical forms of the new ruleset (see stage's
   * `canonical` option).
   */
  staging: Promise<Partial<Record<Family, Promise<string>>>> = Promise.resolve({}),
  /** The difference (staging then holds the skeletons of the changed rules), or the whole ruleset and why. */
  path: TransactionPath | Promise<TransactionPath> = { full: 'no earlier apply was looked for' },
): Promise<ApplyReport> {
  const started = Date.now();
  return underLock(options, staging, async (locked) => {
    const warnings: string[] = [];
    try {
      locked.state.readLastGood();
    } catch (err) {
      if (!(err instanceof CorruptStateFile)) throw err;
      warnings.push(`${err.message}; this apply replaced it (sets it named are not known to be nfgit's, so none was destroyed)`);
    }
    return applyLocked(locked, locked.families, ruleset, options, staging, started, options.probation, warnings, false, path);
  });
}

/** Result of restore-last: nothing recorded yet, or an apply report. */
export type RestoreLastReport =
  | { readonly restored: false; readonly recovery: Recovery }
  | ({ readonly restored: true; readonly source: string; readonly appliedAt: string; readonly target: Target } & ApplyReport);

/** Where restore-last loads: the target recorded with the last good ruleset unless one is named. */
export interface RestoreTarget {
  /** No target was named (restore-last without --netns): load into the recorded one. */
  readonly recorded: boolean;
  /** Load into the named target even though the ruleset was recorded for another (--force). */
  readonly force: boolean;
}

/**
 * The target restore-last loads into. A ruleset recorded for a namespace loaded into the host (or
 * the other way round) can lock the host out, so a target other than the recorded one is refused
 * unless forced.
 */
export function restoreTargetOf(recorded: Target, options: Pick<ApplyOptions, 'target' | 'stateDir'>, how: RestoreTarget): Target {
  if (how.recorded) return recorded;
  if (sameTarget(recorded, options.target) || how.force) return options.target;
  throw new UsageError(
    `the last good ruleset in ${options.stateDir} was applied to ${describeTarget(recorded)}, not ${describeTarget(options.target)}: loading it there could lock that target out. Run restore-last without --netns to load it where it was applied, or add --force to load it into ${describeTarget(options.target)} all the same`,
  );
}

/**
 * Loads the last good ruleset from the state directory with the same transaction (boot: no git, no
 * network), into the target it was recorded for unless `how` says otherwise.
 */
export async function restoreLast(
  options: ApplyOptions,
  how: RestoreTarget = { recorded: false, force: false },
): Promise<RestoreLastReport> {
  const started = Date.now();
  // The lock and the backend are for the recorded target: read it first (read again under the lock).
  const peek = how.recorded ? peekRecordedTarget(options.stateDir) : undefined;
  const lockOptions = peek === undefined ? options : { ...options, target: peek };
  return underLock(
    lockOptions,
    Promise.resolve(),
    async (locked): Promise<RestoreLastReport> => {
      // Read after recovery, which may just have recorded an interrupted apply as the last good one, or
      // (a full disk) kept its journal: then its ruleset is the last good one, not yet recorded.
      const pending = locked.recovery.found && locked.recovery.action === 'kept' ? locked.state.readJournal() : undefined;
      const last = pending?.record ?? locked.state.readLastGood();
      if (last === undefined) return { restored: false, recovery: locked.recovery };
      const target = restoreTargetOf(targetFromJson(last.target), options, how);
      checkTarget(target);
      if (sameTarget(target, lockOptions.target)) return load(locked, last, target, locked.backend, pending !== undefined);
      // The record changed under the lock (recovery recorded an apply to another target): lock that one too.
      const lock = await lockTarget(target, options.command, options.lockWaitMs);
      try {
        return await load(locked, last, target, await detectBackend(target, locked.families), pending !== undefined);
      } finally {
        lock.release();
      }
    },
    true,
  );

  async function load(locked: Locked, last: LastGood, target: Target, backend: Backend, pending: boolean): Promise<RestoreLastReport> {
    const warnings = pending ? [] : locked.state.damagedCopies().map((d) => `${d}; rewritten from last-good.json`);
    const families = locked.families.filter((f) => last.families[f] !== undefined);
    const ruleset: AppliedRuleset = {
      families: Object.fromEntries(families.map((f) => [f, last.families[f]])),
      hostCommands: last.hostCommands,
      ...(last.ipsets === undefined ? {} : { ipsets: last.ipsets }),
      source: last.source,
    };
    const report = await applyLocked(
      { ...locked, backend },
      families,
      ruleset,
      { ...options, target },
      Promise.resolve({}),
      started,
      undefined,
      warnings,
      pending ? 'pending' : true,
    );
    return { restored: true, source: last.source, appliedAt: last.appliedAt, target, ...report };
  }
}

/** The recorded target before the lock is taken (undefined when there is no readable record: the lock then says why). */
function peekRecordedTarget(stateDir: string): Target | undefined {
  try {
    const last = new StateDir(stateDir).readLastGood();
    return last === undefined ? undefined : targetFromJson(last.target);
  } catch {
    return undefined;
  }
}
