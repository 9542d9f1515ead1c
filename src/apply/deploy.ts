// The one deploy pipeline: compile → stage → apply. `nfgit check` runs its first two steps, `nfgit
// apply` and the agent all three, `nfgit diff` the first; the families nfgit manages are chosen here
// and nowhere else, so a new option of the pipeline is threaded through one place.

import { mark } from '../util/timings.js';
import { compile, type CompileOptions, type CompileResult } from '../compiler/compile.js';
import type { Family } from '../compiler/parse-argv.js';
import { digestOf, planJson } from '../compiler/plan.js';
import type { RenderedRuleset } from '../compiler/render-restore.js';
import { formatLocation } from '../errors/source-location.js';
import { kernelServices } from '../netfilter/kernel-services.js';
import { stage, type StageResult } from '../netfilter/stage.js';
import { startAhead, type Ahead } from './deploy-ahead.js';
import { withText } from '../netfilter/stage-split.js';
import type { TransactionPath } from './transaction.js';
import type { ApplyOptions, ApplyReport } from './apply.js';
import type { AppliedRuleset, StateDir } from './state-files.js';

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
  // No shells started ahead (deploy-ahead.ts): staging without canonical forms loads through
  // runInScratchNetns (a time limit of its own), which spawns its processes.
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
    plan: lazyPlan(result),
  };
}

/** plan.json's compact text by compile result, once made. */
const planTexts = new WeakMap<CompileResult, string>();

/** plan.json's compact text, made when first read (an apply makes it while staging runs: makePlanAhead). */
function lazyPlan(result: CompileResult): { readonly json: string } {
  return {
    get json(): string {
      let json = planTexts.get(result);
      if (json === undefined) planTexts.set(result, (json = planJson(result, true)));
      return json;
    },
  };
}

/**
 * Makes plan.json's text (100-150 ms at 50k rules) and hashes it, once the main thread is free, while
 * staging runs in the kernel: not later, when it would hold up the restore tools' end, or the record.
 */
function makePlanAhead(result: CompileResult): void {
  setImmediate(() => {
    try {
      digestOf(lazyPlan(result).json);
    } catch {
      // made again, and its error met, where the record needs it
    }
  });
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
 * When the last apply is recorded (apply-path.ts), staging loads only the changed rules in their
 * context, and the apply loads only the difference if the live ruleset is still the recorded one.
 * Never throws: the outcome says which step failed. Staging's namespaces are made while the rules
 * compile (deploy-ahead.ts).
 */
export async function deploy(compileOptions: CompileOptions, options: DeployOptions): Promise<DeployOutcome> {
  const ahead = startAhead(options.target, managedFamilies(options.ipv4Only).length, options.stateDir);
  try {
    return await deployWith({ ...compileOptions, onRunning: ahead.start }, { ...options, generations: ahead.generations }, ahead);
  } finally {
    await ahead.release();
  }
}

/** deploy, with what it starts ahead started by `compileOptions.onRunning` (and ended by deploy). */
async function deployWith(compileOptions: CompileOptions, options: DeployOptions, ahead: Ahead): Promise<DeployOutcome> {
  // Loaded while the rules compile: the state code and zod would add a tenth of a second to every
  // command's start. Not before the rule files run: loading modules (~200 files, zod's among them)
  // takes the main thread for 0.1-0.2 s, which would hold back the compile's own steps before it
  // spawns the shell; while the shell runs, that thread mostly waits for records.
  let running!: () => void;
  const loading = new Promise<void>((resolve) => (running = resolve)).then(() =>
    Promise.all([import('./apply.js'), import('./apply-path.js'), import('./state-files.js'), import('../netfilter/backend.js')]),
  );
  loading.catch(() => {});
  // The target's backend: probed while the rules compile (its processes would otherwise share the CPUs with staging's).
  const probing = loading.then(([, , , { detectBackend }]) => detectBackend(options.target, managedFamilies(options.ipv4Only)));
  probing.catch(() => {});
  // The state directory, opened as soon as its code is loaded: what an incremental apply reads right
  // after compiling (the recorded rulesets and canonical forms) is read and hashed while the rules compile.
  const opening = loading.then(([, { scanAhead }, { StateDir }]) => {
    const state = options.state ?? new StateDir(options.stateDir);
    if (options.full !== true) state.readAhead((text, kind) => scanAhead(text, kind === 'canonical' ? 'save' : 'rendered')).catch(() => {});
    return state;
  });
  opening.catch(() => {});
  let result: CompileResult;
  try {
    result = await compileRules({ ...compileOptions, onRunning: () => void (compileOptions.onRunning?.(), running()) });
  } catch (error) {
    return { ok: false, step: 'compile', error };
  }
  mark('compiled');
  running(); // (already called, unless the compile never ran a shell)
  const rulesets = managedRulesets(result, options.ipv4Only);
  // The whole ruleset is staged at most once: at once, when a skeleton is refused, or under the lock.
  let whole: Promise<StageResult> | undefined;
  const stageWhole = (): Promise<StageResult> => (whole ??= stage(rulesets, { canonical: true, ipsets: result.ipsets }));
  // With --full there is nothing to plan: staging starts at once, before the apply's start (hashing the
  // rulesets, spawning its lock and probes) holds the main thread for a tenth of a second at 50k rules.
  if (options.full === true) stageWhole().catch(() => {});
  let staging: Promise<StageResult> | undefined;
  // A plan that fails is nfgit's trouble, not a refusal of the rules (the agent would refuse the commit).
  let planFailed = false;
  try {
    const [{ applyRuleset }, paths] = await loading;
    // One StateDir for the plan and the apply: the last good ruleset read for the plan is not parsed again.
    const state = await opening;
    // The apply starts first, so that its lock is taken while the plan is made (on a large ruleset the
    // plan reads hundreds of thousands of lines); it changes nothing before staging has passed.
    let choose!: (c: { staging: Promise<StageResult>; path: TransactionPath }) => void;
    const chosen = new Promise<{ staging: Promise<StageResult>; path: TransactionPath }>((resolve) => (choose = resolve));
    // Hashed here (3 ms for 4 MB: digestOf).
    const applied = rulesetOf(result, options.ipv4Only, options.source);
    // The journal's rulesets, written while the plan is made and staging runs (the transaction waits for
    // them): started before the plan, each step of the write waiting for the main thread.
    const journalRules = state.stageJournalRules(applied.families);
    journalRules.catch(() => {});
    ahead.atRelease(() => journalRules.catch(() => {}).then(() => state.discardEarlyFiles()));
    const applying = applyRuleset(
      applied,
      { ...options, state, backend: probing },
      chosen.then((c) => c.staging).then((s) => s.canonical),
      chosen.then((c) => c.path),
    );
    const planned = planAndStage(paths, state, result, rulesets, options, stageWhole);
    staging = planned.staging;
    planFailed = planned.planFailed;
    mark('planned');
    staging.then(
      () => mark('staged'),
      () => {},
    );
    choose({ staging, path: planned.path });
    makePlanAhead(result);
    const report = await applying;
    return { ok: true, result, report };
  } catch (error) {
    // applyRuleset ends with staging's error when staging refused the rules (it waits for staging before changing anything).
    const refused = async (p: Promise<unknown> | undefined): Promise<boolean> =>
      p === undefined
        ? false
        : p.then(
            () => false,
            () => true,
          );
    const step = !planFailed && ((await refused(staging)) || (await refused(whole))) ? 'stage' : 'apply';
    return { ok: false, step, error, result };
  }
}

/** The path an apply takes, with its staging started. */
interface Planned {
  readonly staging: Promise<StageResult>;
  readonly path: TransactionPath;
  /** The plan itself failed (nfgit's trouble, not a refusal of the rules): staging fails with its error. */
  readonly planFailed: boolean;
}

/**
 * Plans the apply (the difference, or the whole ruleset and why) and starts its staging: the skeleton
 * of the changed rules (the whole ruleset when the kernel refuses it), or the whole ruleset.
 */
function planAndStage(
  paths: typeof import('./apply-path.js'),
  state: StateDir,
  result: CompileResult,
  rulesets: Partial<Record<Family, RenderedRuleset>>,
  options: DeployOptions,
  stageWhole: () => Promise<StageResult>,
): Planned {
  try {
    const texts = Object.fromEntries(Object.entries(rulesets).map(([f, rs]) => [f, rs.text]));
    // The plan takes the new inputs' scans from their render's layout instead of scanning them.
    if (options.full !== true) for (const rs of Object.values(rulesets)) if (rs.layout !== undefined) paths.scanKnown(rs.text, rs.layout);
    const planned = paths.planPath(state, options.target, managedFamilies(options.ipv4Only), texts, {
      ...options,
      // Staging checks the sets in every family's namespace: with sets, every family is staged.
      stageEvery: result.ipsets.sets.length > 0,
    });
    if ('full' in planned) return { staging: stageWhole(), path: planned, planFailed: false };
    // A family whose rules are the recorded ones is not staged again (apply-path.ts: unchanged).
    const skip = planned.increment.unchanged ?? [];
    const skeletons = Object.fromEntries(
      Object.entries(rulesets)
        .filter(([f]) => !skip.includes(f as Family))
        .map(([f, rs]) => [f, withText(rs, planned.increment.plans[f as Family]?.skeleton ?? rs.text)]),
    );
    // A refusal of the changed rules is confirmed on the whole ruleset, whose errors are then the ones
    // reported: the skeleton must never refuse what the whole ruleset loads.
    let refused = false;
    // The skeleton's save is what the difference is computed from: on the path, not niced.
    const staging = stage(skeletons, { canonical: true, canonicalNow: true, ipsets: result.ipsets }).catch(
      () => ((refused = true), stageWhole()),
    );
    const path: TransactionPath = {
      increment: {
        ...planned.increment,
        stageWhole: () => stageWhole().then((s) => s.canonical),
        skeletonRefused: () => refused,
      },
    };
    return { staging, path, planFailed: false };
  } catch (err) {
    // The apply ends with this error, having changed nothing.
    return { staging: Promise.reject(err), path: { full: 'no plan' }, planFailed: true };
  }
}
