import type { CompileResult } from '../compiler/compile.js';
import { InternalError } from '../errors/errors.js';
import { FAMILY_NAME, type Family } from '../compiler/parse-argv.js';
import { stage } from '../netfilter/stage.js';
import { checkTarget, sameTarget, targetFromJson, type Target } from '../netfilter/target.js';
import { NO_PRESERVE, ownClaims, stripPreserved, trustedOwnForm, type PreserveSpec } from '../netfilter/preserve.js';
import { diffRulesets, expectedAfterApply, type FamilyDiff } from '../netfilter/ruleset-diff.js';
import { saveFamily } from '../netfilter/xtables-driver.js';
import { saveSets } from '../netfilter/ipset-driver.js';
import { StateDir } from './state-files.js';
import { diffSets, type SetChange } from '../netfilter/set-diff.js';
import { savedIpsets } from '../netfilter/stage-ipsets.js';
import { managedFamilies, managedRulesets } from './deploy.js';

/** What `nfgit diff` compares against. */
export interface DiffTargetOptions {
  readonly target: Target;
  /** Compare IPv4 only (hosts with IPv6 disabled), as `apply --ipv4-only` manages it. */
  readonly ipv4Only: boolean;
  /** Chains of other software, left out of the comparison as apply leaves them in place. */
  readonly preserve?: PreserveSpec;
  /** The state directory of the last apply: its record says which rules of a preserved chain (DOCKER-USER) are nfgit's. */
  readonly stateDir?: string;
}

/**
 * What applying compiled rules would change on the target, per family, without changing anything:
 * stage the rules (the kernel validates them and gives their canonical form), save the target, and
 * compare the target with what `applyTransaction` would leave there. Takes no lock: it only reads.
 */
export async function diffAgainstTarget(result: CompileResult, options: DiffTargetOptions): Promise<Partial<Record<Family, FamilyDiff>>> {
  checkTarget(options.target);
  const families = managedFamilies(options.ipv4Only);
  // The target is saved while staging runs; a rules error still wins, since staging is awaited first.
  const live = families.map((f) => saveFamily(options.target, f));
  for (const p of live) p.catch(() => {});
  const staged = await stage(managedRulesets(result, options.ipv4Only), { canonical: true, ipsets: result.ipsets });
  const out: Partial<Record<Family, FamilyDiff>> = {};
  for (const [i, family] of families.entries()) {
    const canonical = staged.canonical[family];
    if (canonical === undefined) throw new InternalError(`internal error: staging gave no canonical ${FAMILY_NAME[family]} ruleset`);
    const spec = options.preserve ?? NO_PRESERVE;
    const own = await canonical;
    // nfgit's part of a preserved chain it adds to (DOCKER-USER) is compared; the rest of the chain is not nfgit's.
    const claims = ownClaims(previousOwnForm(options, family, spec), own);
    const before = stripPreserved(await (live[i] as Promise<string>), spec, claims);
    const after = stripPreserved(expectedAfterApply(before, own, result[family].usedTables), spec, ownClaims(own));
    out[family] = diffRulesets(before, after);
  }
  return out;
}

/** nfgit's part at the last apply to this target, if the state directory records it (diff only reads: else none). */
function previousOwnForm(options: DiffTargetOptions, family: Family, spec: PreserveSpec): string | undefined {
  if (options.stateDir === undefined || (spec.chains.length === 0 && spec.rules.length === 0)) return undefined;
  try {
    const state = new StateDir(options.stateDir);
    const last = state.readLastGood();
    if (last === undefined || !sameTarget(targetFromJson(last.target), options.target)) return undefined;
    return trustedOwnForm(state.readCanonical(family), last.families[family]?.text, spec);
  } catch {
    return undefined;
  }
}

/**
 * What applying the compiled rules would change in the target's sets: the sets the rules create and
 * those nfgit owns there now (`owned`, from last-good.json; apply destroys those the rules no longer
 * have), live against the kernel's form of the new ones. Undefined when there are neither. Run after
 * diffAgainstTarget, whose staging reports bad sets at their line.
 */
export async function diffSetsAgainstTarget(
  result: CompileResult,
  target: Target,
  owned: readonly string[],
): Promise<SetChange[] | undefined> {
  const names = [...result.ipsets.sets.map((s) => s.name), ...owned];
  if (names.length === 0) return undefined;
  const [live, after] = await Promise.all([saveSets(target), savedIpsets(result.ipsets)]);
  return diffSets(live, after, names);
}

/**
 * The sets nfgit owns on the target, from the state directory's last-good.json when it was applied to
 * that same target; none when there is no record (or it cannot be read: diff only reads).
 */
export function ownedSetsOf(stateDir: string, target: Target): readonly string[] {
  try {
    const last = new StateDir(stateDir).readLastGood();
    if (last === undefined || !sameTarget(targetFromJson(last.target), target)) return [];
    return last.ipsets?.sets ?? [];
  } catch {
    return [];
  }
}
