// Which way an apply goes: the whole ruleset reloaded (the full path), or only the difference from the
// last apply (the incremental path, netfilter/increment.ts). The choice is made twice. Before staging,
// from the state directory read without the lock (planPath): it decides what staging loads, the whole
// ruleset or the skeleton of the changed rules. Under the lock, against the live ruleset just saved
// (decideIncrement): the record must still be the one planned from and the live ruleset exactly the
// recorded one; if not, the whole ruleset is staged then and reloaded. The path taken, and why a full
// one, is in the apply report, the log and the status tag.

import type { Family } from '../compiler/parse-argv.js';
import { driftFrom, finishIncrement, planIncrement, type FamilyIncrement, type FamilyScript } from '../netfilter/increment.js';
import type { PreserveSpec } from '../netfilter/preserve.js';
import type { StageResult } from '../netfilter/stage.js';
import { sameTarget, targetFromJson, type Target } from '../netfilter/target.js';
import type { LastGood, StateDir } from './state-files.js';

// What deploy.ts gives StateDir.readAhead: the recorded texts scanned while the rules compile.
export { scanAhead, scanKnown } from '../netfilter/increment.js';

/** The path an apply took: the difference (how many commands), or the whole ruleset (why). */
export type ApplyPath = { readonly kind: 'incremental'; readonly changes: number } | { readonly kind: 'full'; readonly reason: string };

/** The path an apply took, for people: `incremental: … (3 commands) …` or `full reload: why`. */
export function describePath(path: ApplyPath): string {
  return path.kind === 'incremental'
    ? `incremental: applied the difference from the last apply (${path.changes} command${path.changes === 1 ? '' : 's'}); unchanged rules kept their counters`
    : `full reload: ${path.reason}`;
}

/** The path in a status tag's Apply-Path trailer: `incremental 3` or `full: why`. */
export function pathTrailer(path: ApplyPath): string {
  return path.kind === 'incremental' ? `incremental ${path.changes}` : `full: ${path.reason.split('\n')[0] ?? ''}`;
}

/** Canonical forms by family, as staging saves them back. */
export type StagedForms = StageResult['canonical'];

/** An incremental apply planned before staging: staging loads the skeletons (plans[f].skeleton). */
export interface IncrementRequest {
  readonly plans: Partial<Record<Family, FamilyIncrement>>;
  /**
   * Families whose new restore input is the recorded one, byte for byte: nothing to plan, stage or
   * restore (the kernel checked these very rules at the apply that recorded them); only drift is looked for.
   */
  readonly unchanged?: readonly Family[];
  /** The digest of each family's recorded text the plans start from: the record must still hold it under the lock. */
  readonly from: Partial<Record<Family, string>>;
  /** Stages the whole ruleset, for when the lock shows that the difference cannot be applied. */
  readonly stageWhole: () => Promise<StagedForms>;
  /** Staging refused the skeleton but loaded the whole ruleset (which staging then holds). */
  readonly skeletonRefused?: () => boolean;
}

/** What the apply is asked to do: reload the whole ruleset (and why), or try the difference. */
export type PathRequest = { readonly full: string } | { readonly increment: Omit<IncrementRequest, 'stageWhole'> };

/** The families' new restore input by family. */
export type NewTexts = Partial<Record<Family, string>>;

/** Why the whole ruleset is loaded, when it can be told from the state directory alone. */
export function planPath(
  state: StateDir,
  target: Target,
  families: readonly Family[],
  next: NewTexts,
  how: { readonly full?: boolean; readonly preserve?: PreserveSpec; readonly stageEvery?: boolean },
): PathRequest {
  if (how.full === true) return { full: '--full' };
  if (how.preserve !== undefined && (how.preserve.chains.length > 0 || how.preserve.rules.length > 0)) {
    return { full: 'chains of other software are preserved (--preserve)' };
  }
  let last: LastGood | undefined;
  try {
    last = state.readLastGood();
  } catch {
    return { full: 'the last good ruleset cannot be read' };
  }
  if (last === undefined) return { full: 'no earlier apply is recorded' };
  if (!sameTarget(targetFromJson(last.target), target)) return { full: 'the last apply was to another target' };
  const plans: Partial<Record<Family, FamilyIncrement>> = {};
  const from: Partial<Record<Family, string>> = {};
  const unchanged: Family[] = [];
  for (const family of families) {
    const old = last.families[family];
    const text = next[family];
    if (old === undefined || text === undefined) return { full: `no earlier ${family} apply is recorded` };
    from[family] = old.digest;
    if (old.text === text && how.stageEvery !== true) {
      unchanged.push(family);
      continue;
    }
    const plan = planIncrement(old.text, text);
    if ('reason' in plan) return { full: plan.reason };
    plans[family] = plan;
  }
  return { increment: { plans, from, unchanged } };
}

/**
 * Under the lock, with each family's save just taken (`live`) and the skeletons staged (`staged`): the
 * scripts of the incremental apply, or why the whole ruleset must be loaded instead.
 */
export async function decideIncrement(
  request: IncrementRequest,
  state: StateDir,
  target: Target,
  lastGood: LastGood | undefined,
  live: Partial<Record<Family, string>>,
  staged: StagedForms,
): Promise<Partial<Record<Family, FamilyScript>> | { readonly reason: string }> {
  if (request.skeletonRefused?.() === true) return { reason: 'staging refused the changed rules alone but loaded the whole ruleset' };
  if (lastGood === undefined || !sameTarget(targetFromJson(lastGood.target), target)) {
    return { reason: 'the last good ruleset changed while this apply waited for the lock' };
  }
  const scripts: Partial<Record<Family, FamilyScript>> = {};
  for (const family of [...(request.unchanged ?? []), ...(Object.keys(request.plans) as Family[])]) {
    if (lastGood.families[family]?.digest !== request.from[family]) {
      return { reason: 'the last good ruleset changed while this apply waited for the lock' };
    }
    let recorded: string | undefined;
    try {
      recorded = state.readCanonical(family);
    } catch (err) {
      return { reason: (err as Error).message };
    }
    const plan = request.plans[family];
    if (plan === undefined) {
      // Unchanged rules: nothing to apply, once the live family is the recorded one.
      const drift = driftFrom(recorded, live[family] ?? '');
      if (drift !== undefined) return drift;
      scripts[family] = { script: '', expected: recorded ?? '', changes: 0 };
      continue;
    }
    const skeleton = await staged[family]?.catch(() => undefined);
    if (skeleton === undefined) return { reason: 'staging could not save the changed rules back' };
    const done = finishIncrement(plan, live[family] ?? '', recorded, skeleton);
    if ('reason' in done) return done;
    scripts[family] = done;
  }
  return scripts;
}
