// One pass of the agent (`nfgit sync`, and each tick of `nfgit run`): look at the branch; if it moved
// to a new commit, verify, compile, stage, apply and tag it; otherwise compare the live ruleset with
// the one applied and repair or report drift.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { restoreLast, type ApplyOptions, type ApplyReport } from '../apply/apply.js';
import { deploy, managedFamilies, managedRulesets } from '../apply/deploy.js';
import { ownClaims, parsePreserve, stripPreserved, trustedOwnForm, type PreserveSpec } from '../apply/preserve.js';
import { agentCompileOptions } from './commit-rules.js';
import { ProbeError } from '../apply/probation.js';
import { lockStateDir } from '../apply/state-lock.js';
import { StateDir } from '../apply/state-files.js';
import { saveFamily } from '../apply/transaction.js';
import { describeSetsOutcome, diffSets, runtimeFilledSets } from '../apply/set-diff.js';
import { saveSets } from '../apply/ipset-apply.js';
import type { CompileResult } from '../compiler/compile.js';
import { InternalError, UsageError, asNfgitErrors } from '../errors/errors.js';
import { FAMILY_NAME, type Family } from '../compiler/parse-argv.js';
import { digestOf } from '../compiler/plan.js';
import { VERSION } from '../util/version.js';
import { branchHead, ensureCommit, extractRules, openRepository, readCommit, commitInfo, type Repository } from '../git/follower.js';
import { historyRefusal, hostFloor } from './history-guard.js';
import { CorruptObjectError, type VerifiedCommit } from '../git/verified-objects.js';
import { writeStatusTag } from '../git/status-tags.js';
import { loadHostKey, type HostKey } from '../git/signing/openssh-key.js';
import { describeVerdict, loadTrust, verifyCommit, type LoadedTrust } from '../git/signing/commit-trust.js';
import { GIT_SOURCE, readAgentState, writeAgentState, type AgentState, type Decision } from './agent-state.js';
import type { AgentConfig } from './config.js';
import { describeDrift, describeSetDrift, findDrift } from './drift.js';
import type { Logger } from './log.js';
import type { StatusRecord } from '../git/status-message.js';

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
  | { readonly kind: 'decided'; readonly commit: string; readonly result: Decision; readonly errors: readonly string[]; readonly tag: string | null }
  | { readonly kind: 'current'; readonly commit: string; readonly applied: string | null; readonly drift: 'none' | 'repaired' | 'reported' | 'not-checked' };

/** Exit code of `nfgit sync` for an outcome: 0 applied or nothing to do, 1 a commit refused this pass. */
export function exitCodeOf(outcome: SyncOutcome): number {
  if (outcome.kind === 'decided' && outcome.result !== 'applied') return 1;
  return 0;
}

/** Everything a pass needs that is read once: the repository, the key, the trust lists. */
interface PassContext {
  readonly config: AgentConfig;
  readonly options: SyncOptions;
  readonly log: Logger;
  readonly repo: Repository;
  readonly key: HostKey;
  readonly trust: LoadedTrust;
  readonly state: StateDir;
  /** config.preserve, read once per pass. */
  readonly preserve: PreserveSpec;
}

/** Runs one pass under the agent's lock (so a cron sync and the daemon never interleave). */
export async function syncOnce(config: AgentConfig, options: SyncOptions, log: Logger): Promise<SyncOutcome> {
  const state = new StateDir(config.stateDir);
  state.ensure();
  // Everything the configuration points to is read before anything else: a bad key or trust file changes nothing.
  const key = loadSigningKey(config.signing.key);
  const trust = await loadTrust(config.trust);
  const lock = await lockStateDir(config.stateDir, 'nfgit sync', options.lockWaitMs, 'agent.lock');
  try {
    const repo = await openRepository(config.repository, config.stateDir, config.repository.timeoutMs);
    return await pass({ config, options, log, repo, key, trust, state, preserve: parsePreserve(config.preserve) });
  } finally {
    lock.release();
  }
}

function loadSigningKey(file: string): HostKey {
  try {
    return loadHostKey(file);
  } catch (err) {
    const e = asNfgitErrors(err)[0];
    const why = e?.code === 'InternalError' ? (err as Error).message : e?.message ?? String(err);
    throw new UsageError(`cannot load the signing key ${file} (signing.key): ${why}. Make one with: nfgit keygen --key ${file}`, { cause: err });
  }
}

async function pass(ctx: PassContext): Promise<SyncOutcome> {
  const { repo, log, config } = ctx;
  const lastGood = ctx.state.readLastGood();
  const agent = readAgentState(config.stateDir, lastGood);
  const head = await branchHead(repo);
  const applied = agent.applied?.commit ?? null;
  // Someone ran `nfgit apply --rules …` (or restore-last of such an apply) on this host: the repository wins.
  if (head === applied && ctx.options.reconcile && lastGood !== undefined && !lastGood.source.startsWith(GIT_SOURCE)) {
    const what = `the host runs rules applied by hand (${lastGood.source}, ${lastGood.appliedAt}), not commit ${short(head)} of ${repo.branch}`;
    if (config.reconcile.mode === 'report') {
      log.log('warn', 'not-from-git', `${what} (reconcile.mode is report: left as it is)`, { commit: head, source: lastGood.source });
      return { kind: 'current', commit: head, applied, drift: 'reported' };
    }
    log.log('warn', 'not-from-git', `${what}: applying ${short(head)} again`, { commit: head, source: lastGood.source });
    await ensureCommit(repo, head);
    return decide(ctx, agent, head, false);
  }
  if (head === applied || (head === agent.decided?.commit && !ctx.options.retry)) {
    if (head !== applied && agent.decided !== null) {
      log.log('info', 'held', `${short(head)} on ${repo.branch} was ${agent.decided.result} earlier; running ${applied === null ? 'nothing from git' : short(applied)} (sync --retry decides it again)`, { commit: head, result: agent.decided.result });
    } else {
      log.log('debug', 'current', `${repo.branch} is at ${short(head)}, already applied`, { commit: head });
    }
    const decided = agent.decided;
    if (decided !== null && decided.published === false) {
      // A status tag the server could not take earlier (it exists locally): push it now.
      const record: StatusRecord = { result: decided.result, host: config.host, commit: decided.commit, previous: null, rules: {}, errors: decided.errors, agent: `nfgit ${VERSION}`, time: new Date(decided.at) };
      await publish(ctx, agent, record, false);
    }
    const drift = ctx.options.reconcile && applied !== null ? await reconcile(ctx) : 'not-checked';
    return { kind: 'current', commit: head, applied, drift };
  }
  await ensureCommit(repo, head);
  return decide(ctx, agent, head, true);
}

/** Decides a new commit (announcing it in the log first when announce): history, signature, rules, apply; then the tag and the agent state. */
async function decide(ctx: PassContext, agent: AgentState, head: string, announce: boolean): Promise<SyncOutcome> {
  const { repo, config } = ctx;
  const applied = agent.applied?.commit ?? null;
  let commit: VerifiedCommit;
  try {
    commit = await readCommit(repo, head);
    if (announce) {
      const info = commitInfo(commit);
      ctx.log.log('info', 'new-commit', `${repo.branch} moved to ${short(head)}: ${info.subject}`, { commit: head, author: info.author, previous: applied });
    }
    if (!ctx.options.allowRewrite) {
      // Without agent.json's memory (a reinstall), the host's own status tags in the remote are fetched for the floor.
      const floor = await hostFloor(repo, config.host, ctx.key, applied === null);
      const why = await historyRefusal({ repo, head: commit, running: applied, floor });
      if (why !== null) return conclude(ctx, agent, head, 'refused', [why], {});
    }
  } catch (err) {
    // Objects that do not hash to their ids: the commit is refused (nothing built on them is used).
    if (err instanceof CorruptObjectError) return conclude(ctx, agent, head, 'refused', [err.message], {});
    throw err;
  }
  const verdict = await verifyCommit(commit.raw, ctx.trust);
  if (!verdict.trusted) return conclude(ctx, agent, head, 'untrusted', [describeVerdict(head, verdict)], {});
  ctx.log.log('info', 'verified', describeVerdict(head, verdict), { commit: head });

  const work = await mkdtemp(path.join(tmpdir(), 'nfgit-sync-'));
  try {
    const rulesDir = path.join(work, 'rules');
    try {
      await extractRules(repo, head, config.repository.path, rulesDir);
    } catch (err) {
      // Messages about the directory itself (no rule files in it…) name it as the repository does.
      return refusedOrThrow(ctx, agent, head, err, {}, (text) => text.split(rulesDir).join(config.repository.path));
    }
    const compileOptions = { ...agentCompileOptions(config, rulesDir, ctx.preserve), timeoutMs: ctx.options.compileTimeoutMs };
    const deployed = await deploy(compileOptions, { ...applyOptions(ctx), source: `${GIT_SOURCE}${head}` });
    const rules = deployed.result === undefined ? {} : countsOf(deployed.result, config.ipv4Only);
    if (!deployed.ok) {
      const err = deployed.error;
      if (deployed.step === 'compile') return refusedOrThrow(ctx, agent, head, err, {}, (text) => text.split(rulesDir).join(config.repository.path));
      if (deployed.step === 'stage') return refusedOrThrow(ctx, agent, head, err, rules);
      const errors = asNfgitErrors(err);
      // A restore the kernel refused, or a probe that failed after the apply, rolled back: the commit cannot be applied here.
      if (errors.every((e) => e.code === 'RuleError' || e.code === 'ProbeError')) {
        return conclude(ctx, agent, head, 'rolled-back', errors.map((e) => (e instanceof ProbeError ? e.failure : e.format())), rules);
      }
      throw err;
    }
    const report = deployed.report;
    logApply(ctx, report, head);
    const changes = Object.fromEntries(report.families.flatMap((f) => (f.change === undefined ? [] : [[f.family, { added: f.change.rulesAdded, removed: f.change.rulesRemoved }]])));
    return conclude(ctx, agent, head, 'applied', [], rules, changes);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function applyOptions(ctx: PassContext): ApplyOptions {
  return {
    target: { netns: ctx.config.netns ?? undefined },
    stateDir: ctx.config.stateDir,
    ipv4Only: ctx.config.ipv4Only,
    lockWaitMs: ctx.options.lockWaitMs,
    hostCommandTimeoutMs: ctx.options.hostCommandTimeoutMs,
    command: `nfgit sync (host ${ctx.config.host})`,
    preserve: ctx.preserve,
    // A git probe is one ref listing of the agent's own repository, from where the agent runs.
    ...(ctx.config.probes === null ? {} : { probation: { probes: ctx.config.probes, git: () => branchHead(ctx.repo) } }),
  };
}

/** A commit's rules problem becomes a refusal; an environment problem (transient) is thrown for a retry. */
async function refusedOrThrow(ctx: PassContext, agent: AgentState, head: string, err: unknown, rules: StatusRecord['rules'], show: (text: string) => string = (t) => t): Promise<SyncOutcome> {
  const errors = asNfgitErrors(err);
  if (errors.some((e) => e.errorClass !== 'stalled')) throw err;
  return conclude(ctx, agent, head, 'refused', errors.map((e) => show(e.format())), rules);
}

function countsOf(result: CompileResult, ipv4Only: boolean): StatusRecord['rules'] {
  return Object.fromEntries(Object.entries(managedRulesets(result, ipv4Only)).map(([f, rs]) => [f, { rules: rs.ruleCount, digest: digestOf(rs.text) }]));
}

function logApply(ctx: PassContext, report: ApplyReport, head: string): void {
  if (report.recovery.found) ctx.log.log('warn', 'recovered', report.recovery.message);
  for (const f of report.families) {
    const c = f.change;
    ctx.log.log('info', 'family-applied', `${FAMILY_NAME[f.family]}: ${f.rules} rule(s) in ${f.tables.join(', ') || '(no table)'}${c === undefined ? '' : `; +${c.rulesAdded} -${c.rulesRemoved} rules`}`, {
      commit: head,
      family: f.family,
      rules: f.rules,
      added: c?.rulesAdded,
      removed: c?.rulesRemoved,
    });
  }
  if (report.sets !== undefined) {
    const c = report.sets.change;
    ctx.log.log('info', 'sets-applied', describeSetsOutcome(report.sets), { commit: head, sets: report.sets.sets, added: c?.membersAdded, removed: c?.membersRemoved });
  }
  for (const w of report.hostCommandFailures) {
    ctx.log.log('warn', 'host-command-failed', `host command "${w.argv.join(' ')}" (${w.at}) failed: ${w.message}; the ruleset stays applied`, { commit: head });
  }
}

/** Records a decision: agent.json, then the status tag (signed, pushed), then agent.json again with the tag. */
async function conclude(
  ctx: PassContext,
  agent: AgentState,
  head: string,
  result: Decision,
  errors: readonly string[],
  rules: StatusRecord['rules'],
  changes?: StatusRecord['changes'],
): Promise<SyncOutcome> {
  const { config, log } = ctx;
  const now = new Date();
  const previous = agent.applied?.commit ?? null;
  const decided = { commit: head, result, at: now.toISOString(), errors };
  const next: AgentState = {
    nfgitAgent: 1,
    applied: result === 'applied' ? { commit: head, at: now.toISOString() } : agent.applied,
    decided: { ...decided, published: false },
  };
  writeAgentState(config.stateDir, next);
  const level = result === 'applied' ? 'info' : 'error';
  const headline =
    result === 'applied'
      ? `applied ${short(head)} to ${config.netns === null ? 'the host' : `network namespace ${config.netns}`}`
      : `${result} ${short(head)}; still running ${previous === null ? 'what was there before' : short(previous)}`;
  log.log(level, result, headline, { commit: head, previous, errors, details: errors });
  const record: StatusRecord = { result, host: config.host, commit: head, previous, rules, ...(changes === undefined ? {} : { changes }), errors, agent: `nfgit ${VERSION}`, time: now };
  // A commit decided before (sync --retry, or moved back to) gets a new tag beside its old one: tags never move.
  const tag = await publish(ctx, next, record, true);
  return { kind: 'decided', commit: head, result, errors, tag };
}

/** Writes (or pushes a pending) status tag and notes in agent.json that it is published; failures are logged, not thrown. */
async function publish(ctx: PassContext, state: AgentState, record: StatusRecord, again: boolean): Promise<string | null> {
  const { repo, log, config } = ctx;
  try {
    const written = await writeStatusTag({ gitdir: repo.gitdir, remote: repo.remote, record, key: ctx.key, keep: config.tags.keep, again });
    const how = written.pushed ? ' pushed' : repo.remote === null ? ' written' : '';
    log.log('info', 'tagged', `status tag ${written.name}${how}${written.pruned.length > 0 ? `; pruned ${written.pruned.length} old tag(s)` : ''}`, { tag: written.name, commit: record.commit });
    if (state.decided !== null) writeAgentState(config.stateDir, { ...state, decided: { ...state.decided, tag: written.name, published: true } });
    return written.name;
  } catch (err) {
    log.log('warn', 'tag-failed', `could not publish the status tag for ${short(record.commit)}: ${(err as Error).message}; it is kept and pushed at a later pass`, { commit: record.commit });
    return null;
  }
}

/** Compares the live ruleset of each family with the applied one; repairs or reports. */
async function reconcile(ctx: PassContext): Promise<'none' | 'repaired' | 'reported'> {
  const { config, log, state } = ctx;
  const families = managedFamilies(config.ipv4Only);
  const target = { netns: config.netns ?? undefined };
  const { preserve } = ctx;
  const details: string[] = [];
  for (const family of families) {
    const applied = state.readCanonical(family);
    if (applied === undefined) continue;
    // nfgit's part of a preserved chain it adds to (DOCKER-USER) is nfgit's: a rule of it gone is drift, a foreign one added is not.
    const own = trustedOwnForm(applied, state.readLastGood()?.families[family]?.text, preserve);
    const claims = own === undefined ? undefined : ownClaims(own);
    const live = stripPreserved(await saveFamily({ target }, family), preserve, claims);
    details.push(...describeDrift(FAMILY_NAME[family], findDrift(stripPreserved(applied, preserve, claims), live)));
  }
  details.push(...(await setDrift(ctx, families)));
  if (details.length === 0) {
    log.log('debug', 'no-drift', 'the live ruleset is the applied one');
    return 'none';
  }
  if (config.reconcile.mode === 'report') {
    log.log('warn', 'drift', 'the live ruleset differs from the applied one (reconcile.mode is report: left as it is)', { details });
    return 'reported';
  }
  log.log('warn', 'drift', 'the live ruleset differs from the applied one: putting the applied ruleset back', { details });
  const report = await restoreLast(applyOptions(ctx));
  if (!report.restored) throw new InternalError('internal error: drift found but no last good ruleset to restore');
  log.log('info', 'repaired', `drift repaired: the applied ruleset (${report.source}) is back`, { source: report.source });
  return 'repaired';
}

/**
 * Drift of the sets nfgit owns (last-good.json's ipsets.sets) against their canonical form after the
 * apply; other sets on the target are not looked at. Sets filled at run time (a default timeout, a
 * rule's `-j SET --add-set`) are compared by type and options only.
 */
async function setDrift(ctx: PassContext, families: readonly Family[]): Promise<string[]> {
  const owned = ctx.state.readLastGood()?.ipsets?.sets ?? [];
  const applied = ctx.state.readCanonicalSets();
  if (owned.length === 0 || applied === undefined) return [];
  const live = await saveSets({ netns: ctx.config.netns ?? undefined });
  const runtime = runtimeFilledSets(applied, families.map((f) => ctx.state.readCanonical(f) ?? ''));
  return describeSetDrift(diffSets(applied, live, owned, runtime));
}

function short(oid: string): string {
  return oid.slice(0, 12);
}
