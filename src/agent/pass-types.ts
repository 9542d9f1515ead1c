// The options, outcome and findings of one pass (sync.ts), apart from it: the lean `nfgit run` daemon
// (daemon.ts) and its idle poll use them without loading the pass's modules (issue 15).

import type { Decision } from './agent-state.js';
import type { DriftState, PassRecord } from './pass-record.js';
import type { GateVerdict } from './rollout.js';

/** Choices of one pass beside the configuration. */
export interface SyncOptions {
  /** Compare the live ruleset with the applied one (and repair or report) when the branch has not moved. */
  readonly reconcile: boolean;
  /** Decide the branch head again even if it was refused before (after fixing trust or the host). */
  readonly retry: boolean;
  /** Accept a branch head that is not a descendant of the running commit (history rewritten). */
  readonly allowRewrite: boolean;
  /** How long to wait for another nfgit using the state directory. */
  readonly lockWaitMs: number;
  /** Limit of the rule files' run (compile). */
  readonly compileTimeoutMs: number;
  readonly hostCommandTimeoutMs: number;
}

/** Defaults of SyncOptions. */
export const SYNC_DEFAULTS: SyncOptions = {
  reconcile: true,
  retry: false,
  allowRewrite: false,
  lockWaitMs: 600_000,
  compileTimeoutMs: 60_000,
  hostCommandTimeoutMs: 30_000,
};

/** What a pass ended with. */
export type SyncOutcome =
  | {
      readonly kind: 'decided';
      readonly commit: string;
      readonly result: Decision;
      readonly errors: readonly string[];
      readonly tag: string | null;
    }
  | {
      readonly kind: 'current';
      readonly commit: string;
      readonly applied: string | null;
      readonly drift: 'none' | 'repaired' | 'reported' | 'not-checked';
      /** Staged rollout: why the commit waits (the earlier ring does not run it yet, or stopped it). */
      readonly held?: string;
    };

/** Exit code of `nfgit sync` for an outcome: 0 applied or nothing to do, 1 a commit refused this pass. */
export function exitCodeOf(outcome: SyncOutcome): number {
  if (outcome.kind === 'decided' && outcome.result !== 'applied') return 1;
  return 0;
}

/** What a pass found beside its outcome, for agent-status.json and the metrics. */
export interface PassFacts {
  headSeen?: string;
  pin?: { commit: string; ahead: string | null } | null;
  paused?: boolean;
  drift?: DriftState;
  applyMs?: number;
  reported?: PassRecord['reported'];
  running?: PassRecord['running'];
  /** The rollout gate's verdict, when it was read. */
  gate?: GateVerdict;
  held?: PassRecord['held'];
}

/**
 * A pass that ended in errors, as the `nfgit run` daemon learns it from the pass's child process
 * (pass-process.ts): what `pass-failed` logs, and whether the errors are transient (errors.ts classify).
 */
export class PassFailure extends Error {
  constructor(
    /** Each error as NfgitError.format() writes it. */
    readonly messages: readonly string[],
    readonly codes: readonly string[],
    readonly transient: boolean,
    /** The first error's message (notify.ts passStatus shows its first line). */
    message: string,
  ) {
    super(message);
  }
}
