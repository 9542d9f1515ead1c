// What a pass of the agent does, as pure functions of what it read: no git, no kernel, no clock.
// decide() plans the pass from the branch head, agent.json and last-good.json; resultOf() says how a
// failed step ends the commit (a decision written to git, or a retry); driftAction() what drift
// found by reconcile leads to. sync.ts runs the steps these name; decide.test.ts is their table.

import { classify, type NfgitError } from '../errors/errors.js';
import { GIT_SOURCE, type AgentState, type Decision } from './agent-state.js';

/** The options of a pass that decide() reads. */
export interface DecideOptions {
  /** Compare the live ruleset with the applied one when the branch has not moved. */
  readonly reconcile: boolean;
  /** Decide a head refused before again (sync --retry). */
  readonly retry: boolean;
  /** Accept a head that is not a descendant of the running commit (--allow-rewrite). */
  readonly allowRewrite: boolean;
  /** reconcile.mode: put the applied ruleset back, or only report. */
  readonly reconcileMode: 'repair' | 'report';
  /** An admin paused the agent (pause.json holds): apply nothing, repair nothing. */
  readonly paused: boolean;
  /** The config's pin, resolved to a full commit id reachable from the branch: the host goes to it and no further. */
  readonly pin: string | null;
  /**
   * rollout.after is set: a new commit is applied only once the earlier ring runs it (rollout.ts).
   * `verdict`: the gate's answer for a commit, once sync.ts read it (null: not read yet); `held` says why it holds.
   */
  readonly rollout?: { readonly verdict: { readonly commit: string; readonly held: string | null } | null };
}

/** What last-good.json says of the ruleset on the target (undefined: none applied yet). */
export interface LastGoodFacts {
  readonly source: string;
  readonly appliedAt: string;
}

/**
 * What one pass does. With a pin, `commit` is the pinned commit, and `ahead` the branch head when it
 * is beyond the pin (absent when there is no pin or the head is the pin).
 */
export type PassPlan =
  /**
   * Run the commit through guard history → verify → extract → deploy → report. `announce`: it is new
   * on the branch (logged as such); `guardHistory`: refuse it unless it descends from the running commit.
   */
  | {
      readonly kind: 'deploy';
      readonly commit: string;
      readonly announce: boolean;
      readonly guardHistory: boolean;
      readonly notFromGit: boolean;
      readonly ahead?: string;
    }
  /** The target runs rules applied by hand and reconcile.mode is report: leave them, say so. */
  | { readonly kind: 'report-not-from-git'; readonly commit: string; readonly ahead?: string }
  /**
   * Paused by an admin: nothing applied, no drift repaired, the branch still watched. `pending`: the
   * commit the host would go to is not the one it runs; `republish`: a status not published yet goes out
   * (publishing is not applying).
   */
  | {
      readonly kind: 'paused';
      readonly commit: string;
      readonly pending: boolean;
      readonly republish: boolean;
      readonly ahead?: string;
    }
  /**
   * Nothing new to decide. `held`: the head was decided (refused…) earlier and is not retried;
   * `republish`: its status was not published yet; `reconcile`: compare the live ruleset, then repair or report.
   */
  /** A new commit waits for the rollout gate: read the earlier ring's current reports, then decide again with the verdict. */
  | { readonly kind: 'rollout-check'; readonly commit: string }
  /**
   * Staged rollout: the earlier ring does not run the commit (healthy) yet, or stopped it; the host keeps
   * its running commit and reports `held` with why. Drift is still checked (`reconcile`), like 'current'.
   */
  | {
      readonly kind: 'rollout-held';
      readonly commit: string;
      readonly held: string;
      readonly republish: boolean;
      readonly reconcile: 'repair' | 'report' | null;
    }
  | {
      readonly kind: 'current';
      readonly commit: string;
      readonly held: boolean;
      readonly republish: boolean;
      readonly reconcile: 'repair' | 'report' | null;
      readonly ahead?: string;
    };

/**
 * Plans a pass. Someone running `nfgit apply --rules …` on a host the agent manages is drift too:
 * the repository wins (repair) or it is reported. A head decided before is not decided again unless
 * asked (--retry), so a refused commit does not flood git with status tags. A pause wins over all:
 * an admin blocking an address by hand must not see the agent revert it. A pin replaces the branch head
 * as the commit to run; being the admin's own choice on the host, it is not held to descend from the
 * running commit (the history guard is for what the branch brings), nor to the rollout gate. A new
 * commit waits for the gate when rollout.after is set; a paused host, a commit decided before, drift
 * and a re-apply over rules applied by hand do not (the gate is about new commits only).
 */
export function decide(head: string, agent: AgentState, lastGood: LastGoodFacts | undefined, options: DecideOptions): PassPlan {
  const target = options.pin ?? head;
  const ahead = target === head ? {} : { ahead: head };
  const applied = agent.applied?.commit ?? null;
  const republish = agent.decided !== null && agent.decided.published === false;
  if (options.paused) return { kind: 'paused', commit: target, pending: target !== applied, republish, ...ahead };
  const guardHistory = !options.allowRewrite && options.pin === null;
  if (target === applied && options.reconcile && lastGood !== undefined && !lastGood.source.startsWith(GIT_SOURCE)) {
    if (options.reconcileMode === 'report') return { kind: 'report-not-from-git', commit: target, ...ahead };
    return { kind: 'deploy', commit: target, announce: false, guardHistory, notFromGit: true, ...ahead };
  }
  if (target === applied || (target === agent.decided?.commit && !options.retry)) {
    return {
      kind: 'current',
      commit: target,
      held: target !== applied && agent.decided !== null,
      republish,
      reconcile: options.reconcile && applied !== null ? options.reconcileMode : null,
      ...ahead,
    };
  }
  if (options.rollout !== undefined && options.pin === null) {
    const verdict = options.rollout.verdict;
    if (verdict === null || verdict.commit !== target) return { kind: 'rollout-check', commit: target };
    if (verdict.held !== null)
      return {
        kind: 'rollout-held',
        commit: target,
        held: verdict.held,
        republish,
        reconcile: options.reconcile && applied !== null ? options.reconcileMode : null,
      };
  }
  return { kind: 'deploy', commit: target, announce: true, guardHistory, notFromGit: false, ...ahead };
}

/** The steps of a deploy pass that can fail for the commit's sake. */
export type PassStep = 'guard' | 'verify' | 'extract' | 'compile' | 'stage' | 'apply';

/**
 * How a failed step ends the commit: the decision its status records, or 'retry' when the failure is
 * not the commit's (the network, the sandbox, a bug: nothing is recorded, the next pass tries again).
 * A history refusal or corrupt objects are `refused`, a bad signature `untrusted`, rules that do not
 * compile or stage `refused`, and a restore the kernel refused or a probe that failed after the apply
 * (both rolled back) `rolled-back`.
 */
export function resultOf(step: 'guard' | 'verify'): Decision;
export function resultOf(step: PassStep, errors: readonly NfgitError[]): Decision | 'retry';
export function resultOf(step: PassStep, errors: readonly NfgitError[] = []): Decision | 'retry' {
  switch (step) {
    case 'guard':
      return 'refused';
    case 'verify':
      return 'untrusted';
    case 'extract':
    case 'compile':
    case 'stage':
      return classify(errors).errorClass === 'stalled' ? 'refused' : 'retry';
    case 'apply':
      return errors.length > 0 && errors.every((e) => e.code === 'RuleError' || e.code === 'ProbeError') ? 'rolled-back' : 'retry';
  }
}

/** What drift found by reconcile leads to: nothing, the applied ruleset put back, or a warning. */
export function driftAction(mode: 'repair' | 'report', details: readonly string[]): 'none' | 'repair' | 'report' {
  if (details.length === 0) return 'none';
  return mode;
}
