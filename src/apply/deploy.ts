// The one deploy pipeline: compile → stage → apply. `nfgit check` runs its first two steps, `nfgit
// apply` and the agent all three, `nfgit diff` the first; the families nfgit manages are chosen here
// and nowhere else, so a new option of the pipeline is threaded through one place.

import { compile, type CompileOptions, type CompileResult } from '../compiler/compile.js';
import type { Family } from '../compiler/parse-argv.js';
import { buildPlan, digestOf } from '../compiler/plan.js';
import type { RenderedRuleset } from '../compiler/render-restore.js';
import { formatLocation } from '../errors/source-location.js';
import { kernelServices } from '../netfilter/kernel-services.js';
import { stage } from '../netfilter/stage.js';
import type { ApplyOptions, ApplyReport } from './apply.js';
import type { AppliedRuleset } from './state-files.js';

/** The families nfgit manages: IPv4 alone on a host with IPv6 disabled (--ipv4-only, ipv4Only), else both. */
export function managedFamilies(ipv4Only: boolean): Family[] {
  return ipv4Only ? ['ipv4'] : ['ipv4', 'ipv6'];
}

/** The rulesets of a compile result that nfgit manages, by family. */
export function managedRulesets(result: CompileResult, ipv4Only: boolean): Partial<Record<Family, RenderedRuleset>> {
  return Object.fromEntries(managedFamilies(ipv4Only).map((f) => [f, result[f]]));
}

/** Runs the rule files with the host's kernel services (canonical forms, tables, targets). */
export function compileRules(options: CompileOptions): Promise<CompileResult> {
  return compile(options, kernelServices);
}

/** `nfgit check`: compiles, then loads the managed families into scratch namespaces. Throws what fails. */
export async function checkRules(options: CompileOptions, ipv4Only: boolean): Promise<CompileResult> {
  const result = await compileRules(options);
  await stage(managedRulesets(result, ipv4Only), { ipsets: result.ipsets });
  return result;
}

/** The ruleset to apply, from a compile result; `source` is what last-good.json records it came from. */
export function rulesetOf(result: CompileResult, ipv4Only: boolean, source: string = result.rulesDir): AppliedRuleset {
  const families = Object.fromEntries(
    Object.entries(managedRulesets(result, ipv4Only)).map(([f, rs]) => [
      f,
      { text: rs.text, usedTables: rs.usedTables, rules: rs.ruleCount, digest: digestOf(rs.text) },
    ]),
  ) as AppliedRuleset['families'];
  return {
    families,
    hostCommands: result.hostCommands.map((c) => ({ argv: c.argv, at: c.trace[0] === undefined ? '' : formatLocation(c.trace[0]) })),
    ...(result.ipsets.sets.length === 0
      ? {}
      : { ipsets: { text: result.ipsets.text, digest: digestOf(result.ipsets.text), sets: result.ipsets.sets.map((s) => s.name) } }),
    source,
    plan: buildPlan(result),
  };
}

/** The step of the pipeline that failed: the agent refuses a commit whose rules fail to compile or stage, and rolls back one that fails to apply. */
export type DeployStep = 'compile' | 'stage' | 'apply';

/** What a deploy ended with; a failure carries the same fields as far as it got (execa's way). */
export type DeployOutcome =
  | { readonly ok: true; readonly result: CompileResult; readonly report: ApplyReport }
  | { readonly ok: false; readonly step: DeployStep; readonly error: unknown; readonly result?: CompileResult };

/** What a deploy needs beside the compile options. */
export interface DeployOptions extends ApplyOptions {
  /** What last-good.json records the ruleset came from (default: the rules directory). */
  readonly source?: string;
}

/**
 * Compiles, stages and applies as one transaction. Staging runs in its own namespaces while the apply
 * takes its locks and recovers any interrupted apply; nothing changes on the target before staging passed.
 * Never throws: the outcome says which step failed.
 */
export async function deploy(compileOptions: CompileOptions, options: DeployOptions): Promise<DeployOutcome> {
  // Loaded while the rules compile: the state code and zod would add a tenth of a second to every command's start.
  const loading = import('./apply.js');
  loading.catch(() => {});
  let result: CompileResult;
  try {
    result = await compileRules(compileOptions);
  } catch (error) {
    return { ok: false, step: 'compile', error };
  }
  const staging = stage(managedRulesets(result, options.ipv4Only), { canonical: true, ipsets: result.ipsets });
  const stagingFailed = staging.then(
    () => false,
    () => true,
  );
  try {
    const { applyRuleset } = await loading;
    const report = await applyRuleset(
      rulesetOf(result, options.ipv4Only, options.source),
      options,
      staging.then((s) => s.canonical),
    );
    return { ok: true, result, report };
  } catch (error) {
    // applyRuleset ends with staging's error when staging refused the rules (it waits for staging before changing anything).
    return { ok: false, step: (await stagingFailed) ? 'stage' : 'apply', error, result };
  }
}
