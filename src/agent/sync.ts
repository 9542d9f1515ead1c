// One pass of the agent (`nfgit sync`, and each tick of `nfgit run`): look at the branch (poll);
// decide (decide.ts, pure) whether a commit is to be decided; if so guard history → verify → extract
// (git/commit-rules.ts) → deploy (apply/deploy.ts); otherwise compare the live ruleset with the one
// applied and repair or report drift (reconcile). One always-run block reports: agent.json, then
// every status sink.

import { restoreLast, type ApplyOptions, type ApplyReport } from '../apply/apply.js';
import { deploy, managedFamilies, managedRulesets } from '../apply/deploy.js';
import { describePath, pathTrailer } from '../apply/apply-path.js';
import { ownClaims, parsePreserve, stripPreserved, trustedOwnForm, type PreserveSpec } from '../netfilter/preserve.js';
import { agentCompileOptions } from './commit-rules.js';
import { ProbeError } from '../apply/probation.js';
import { lockStateDir } from '../apply/state-lock.js';
import { StateDir } from '../apply/state-files.js';
import { saveFamily } from '../netfilter/xtables-driver.js';
import { describeSetsOutcome, diffSets, runtimeFilledSets } from '../netfilter/set-diff.js';
import { saveSets } from '../netfilter/ipset-driver.js';
import type { CompileResult } from '../compiler/compile.js';
import { InternalError, asNfgitErrors, type NfgitError } from '../errors/errors.js';
import { FAMILY_NAME, type Family } from '../compiler/parse-argv.js';
import { digestOf } from '../compiler/plan.js';
import { VERSION } from '../util/version.js';
import { fetchVerifyExtract } from '../git/commit-rules.js';
import { branchHead, openRepository, commitInfo, readCommit, resolvePin, type Repository } from '../git/follower.js';
import { historyRefusal, hostFloor } from './history-guard.js';
import { writeStatusTag } from '../git/status-tags.js';
import type { HostKey } from '../git/signing/openssh-key.js';
import { describeVerdict, type LoadedTrust } from '../git/signing/commit-trust.js';
import { loadPassFiles } from './config-files.js';
import { heartbeatDue, idlePoll, logCurrent, logPaused, logPinned, type IdleStateReader } from './idle-poll.js';
import { checkStateDir } from '../util/state-security.js';
import { GIT_SOURCE, readAgentState, writeAgentState, type AgentState, type Decision } from './agent-state.js';
import type { AgentConfig } from './config.js';
import { decide, driftAction, resultOf, type LastGoodFacts, type PassPlan, type PassStep } from './decide.js';
import { describeDrift, describeSetDrift } from './drift.js';
import { findDrift } from '../netfilter/compare-saves.js';
import { describeTarget, type Target } from '../netfilter/target.js';
import { readGeneration } from '../netfilter/generation.js';
import { recordedGenerationHolds } from '../apply/transaction.js';
import { detectBackend } from '../netfilter/backend.js';
import { STATE_FILE } from '../util/state-layout.js';
import type { Logger } from './log.js';
import type { PauseInfo, StatusRecord } from '../git/status-message.js';
import { pauseState, readPause, removePause, type Pause } from './pause.js';
import { readPassRecord, type PassRecord } from './pass-record.js';
import { commitsToRelate, gate, holdKey, type GateVerdict, type RingReader } from './rollout.js';
import { ringReader } from './ring-reader.js';
import { isAncestor } from '../git/verified-objects.js';
import { finishPass } from './pass-finish.js';
import type { PassFacts, SyncOptions, SyncOutcome } from './pass-types.js';

// The types of a pass are in pass-types.ts, which the lean `nfgit run` daemon loads without this module.
export { exitCodeOf, SYNC_DEFAULTS, type PassFacts, type SyncOptions, type SyncOutcome } from './pass-types.js';

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
  readonly sinks: readonly StatusSink[];
  /** What agent-status.json said before this pass. */
  readonly previous: PassRecord;
  /** What this pass found, for agent-status.json and the metrics (filled in as it goes). */
  readonly facts: PassFacts;
  /** Reads every host's current status, for the rollout gate; null when rollout.after is not set. */
  readonly ringReader: RingReader | null;
}

/** The default of status.heartbeat: how often an idle agent tells the fleet it is alive (see README, Liveness). */
export const HEARTBEAT_MS = 3_600_000;

/**
 * Runs one pass under the agent's lock (so a cron sync and the daemon never interleave), then records
 * what it did in agent-status.json and, when configured, the metrics textfile, whether it failed or not.
 * A poll that finds nothing to do (idle-poll.ts) is answered without the lock: no process is spawned.
 */
export async function syncOnce(config: AgentConfig, options: SyncOptions, log: Logger): Promise<SyncOutcome> {
  const started = new Date();
  const previous = readPassRecord(config.stateDir);
  const facts: PassFacts = {};
  // One StateDir for the pass and its record: it keeps the parsed last-good.json.
  const state = new StateDir(config.stateDir);
  let outcome: SyncOutcome | undefined;
  try {
    outcome =
      (await idlePoll(config, options, log, previous, facts, idleStateOf(state))) ??
      (await lockedPass(config, options, log, previous, facts, state));
    return outcome;
  } catch (err) {
    finishPass(config, log, state, started, previous, facts, undefined, err);
    throw err;
  } finally {
    if (outcome !== undefined) finishPass(config, log, state, started, previous, facts, outcome, undefined);
  }
}

/** The idle poll's view of a pass's state directory: its StateDir, checked as the pass checks it. */
export function idleStateOf(state: StateDir): IdleStateReader {
  return { checkDir: () => checkStateDir(state.dir), readLastGood: () => state.readLastGood() };
}

async function lockedPass(
  config: AgentConfig,
  options: SyncOptions,
  log: Logger,
  previous: PassRecord,
  facts: PassFacts,
  state: StateDir,
): Promise<SyncOutcome> {
  state.ensure();
  // Everything the configuration points to is read before anything else: a bad key or trust file changes nothing.
  const { key, trust, tagSigners } = await loadPassFiles(config);
  const lock = await lockStateDir(config.stateDir, 'nfgit sync', options.lockWaitMs, STATE_FILE.agentLock);
  try {
    const repo = await openRepository(config.repository, config.stateDir, config.repository.timeoutMs);
    return await pass({
      config,
      options,
      log,
      repo,
      key,
      trust,
      state,
      preserve: parsePreserve(config.preserve),
      sinks: statusSinks(config, repo, key, log),
      previous,
      facts,
      ringReader: tagSigners === null ? null : ringReader(repo, tagSigners),
    });
  } finally {
    lock.release();
  }
}

/** What the always-run block of a pass records: a decision taken now, or one whose status is still to publish. */
type Report =
  | {
      readonly kind: 'decision';
      readonly commit: string;
      readonly result: Decision;
      readonly errors: readonly string[];
      readonly rules: StatusRecord['rules'];
      readonly changes?: StatusRecord['changes'];
      readonly applyPath?: string;
    }
  | { readonly kind: 'republish' };

/**
 * One pass as a list of steps: poll (the branch head), decide (pure), then either guard history →
 * verify → extract → deploy for a commit to decide, or reconcile for the running one. Whatever the
 * steps end with, the one always-run block below records it: agent.json and every status sink.
 */
async function pass(ctx: PassContext): Promise<SyncOutcome> {
  const { repo, log, config } = ctx;
  // poll
  const lastGood = ctx.state.readLastGood();
  const agent = readAgentState(config.stateDir, lastGood);
  const applied = agent.applied?.commit ?? null;
  const { plan, pause } = await planPass(ctx, agent, lastGood);
  // The commit the pass is about: the branch head, or the pin.
  const head = plan.commit;
  let report: Report | null = null;
  let outcome: SyncOutcome | undefined;
  try {
    switch (plan.kind) {
      case 'paused': {
        logPaused(log, ctx.previous, plan, pause as Pause, applied);
        if (plan.republish) report = { kind: 'republish' };
        outcome = { kind: 'current', commit: plan.commit, applied, drift: 'not-checked' };
        break;
      }
      case 'rollout-check':
        throw new InternalError('internal error: the rollout gate was not read');
      case 'rollout-held': {
        // An earlier decision still to publish goes first: the held report is the host's newest.
        if (plan.republish) await record(ctx, agent, { kind: 'republish' });
        await reportHeld(ctx, plan, applied);
        const drift = plan.reconcile === null ? 'not-checked' : await reconcile(ctx, plan.reconcile);
        if (drift !== 'not-checked') ctx.facts.drift = drift;
        outcome = { kind: 'current', commit: head, applied, drift, held: plan.held };
        break;
      }
      case 'report-not-from-git': {
        const source = lastGood?.source ?? '';
        log.log('warn', 'not-from-git', `${notFromGit(ctx, head, lastGood)} (reconcile.mode is report: left as it is)`, {
          commit: head,
          source,
        });
        ctx.facts.drift = 'not-from-git';
        outcome = { kind: 'current', commit: head, applied, drift: 'reported' };
        break;
      }
      case 'current': {
        logCurrent(log, ctx.options.reconcile, repo.branch, plan, agent);
        // A status tag the server could not take earlier (it exists locally): pushed by the report block.
        if (plan.republish) report = { kind: 'republish' };
        const drift = plan.reconcile === null ? 'not-checked' : await reconcile(ctx, plan.reconcile);
        if (drift !== 'not-checked') ctx.facts.drift = drift;
        outcome = { kind: 'current', commit: head, applied, drift };
        break;
      }
      case 'deploy': {
        if (plan.notFromGit)
          log.log('warn', 'not-from-git', `${notFromGit(ctx, head, lastGood)}: applying ${short(head)} again`, {
            commit: head,
            source: lastGood?.source,
          });
        report = await deployCommit(ctx, agent, plan);
        outcome = { kind: 'decided', commit: head, result: report.result, errors: report.errors, tag: null };
        break;
      }
    }
  } finally {
    // report: the one block every pass ends with, whatever its steps did (a transient failure, thrown, records nothing: the next pass decides again).
    if (report !== null) {
      const tag = await record(ctx, agent, report);
      if (outcome?.kind === 'decided') outcome = { ...outcome, tag };
    }
  }
  if (outcome === undefined) throw new InternalError('internal error: a pass ended without an outcome');
  const running = outcome.kind === 'decided' && outcome.result === 'applied' ? outcome.commit : applied;
  // A held report is the host's liveness while it waits (reportHeld writes one at least hourly).
  if (report === null && running !== null && plan.kind !== 'rollout-held') await heartbeat(ctx, running, pause);
  await runningCommit(ctx, running);
  return outcome;
}

/** poll and decide: the branch head, the pause, the pin resolved on the branch, then the plan (decide.ts). */
async function planPass(
  ctx: PassContext,
  agent: AgentState,
  lastGood: LastGoodFacts | undefined,
): Promise<{ plan: PassPlan; pause: Pause | undefined }> {
  const { repo, config } = ctx;
  const head = await branchHead(repo);
  ctx.facts.headSeen = head;
  const pause = currentPause(ctx);
  // Resolved again only when the branch head or the pin changed: the walk from the head to the pin is not free.
  const known = ctx.previous.pin;
  const same = known !== null && config.pin !== null && known.commit.startsWith(config.pin) && (known.ahead ?? known.commit) === head;
  const pin = config.pin === null ? null : same ? known.commit : await resolvePin(repo, config.pin, head);
  ctx.facts.pin = pin === null ? null : { commit: pin, ahead: pin === head ? null : head };
  const options = {
    reconcile: ctx.options.reconcile,
    retry: ctx.options.retry,
    allowRewrite: ctx.options.allowRewrite,
    reconcileMode: config.reconcile.mode,
    paused: pause !== undefined,
    pin,
  };
  const gated = ctx.ringReader === null ? {} : { rollout: { verdict: null } };
  let plan = decide(head, agent, lastGood, { ...options, ...gated });
  if (plan.kind === 'rollout-check') {
    const verdict = await checkRollout(ctx, plan.commit, agent.applied?.commit ?? null);
    plan = decide(head, agent, lastGood, {
      ...options,
      rollout: { verdict: { commit: verdict.commit, held: verdict.open ? null : verdict.why } },
    });
  }
  logPinned(ctx.log, ctx.previous, repo.branch, plan);
  return { plan, pause };
}

/**
 * The rollout gate for a new commit: every host's current status read (ringReader), the ancestry of
 * the commits the earlier ring runs read from the agent's copy, then judged (rollout.ts). An open gate
 * is said once, as the commit then deploys; a held one is said by reportHeld.
 */
async function checkRollout(ctx: PassContext, commit: string, running: string | null): Promise<GateVerdict> {
  const { config, repo } = ctx;
  const after = config.rollout.after;
  if (ctx.ringReader === null || after === null) throw new InternalError('internal error: the rollout gate without rollout.after');
  const reports = await ctx.ringReader(commit);
  const base = {
    commit,
    self: config.host,
    after,
    reports,
    staleAfterMs: ROLLOUT_STALE_HEARTBEATS * config.status.heartbeatMs,
    now: new Date(),
  };
  const descendants = new Set<string>();
  const cache = {};
  for (const c of commitsToRelate(base)) {
    // The commit this host runs is older than the new one: not walked (a walk that finds nothing reads the whole history).
    if (c === running) continue;
    if (await isAncestor({ gitdir: repo.gitdir, name: repo.name }, commit, c, { cache })) descendants.add(c);
  }
  const verdict = gate({ ...base, descends: (c) => descendants.has(c) });
  ctx.facts.gate = verdict;
  if (verdict.open)
    ctx.log.log('info', 'rollout-open', `rollout: ${verdict.why}: applying ${short(commit)}`, {
      commit,
      ring: after.ring,
      hosts: verdict.hosts,
    });
  return verdict;
}

/**
 * How old the newest report of a host of the earlier ring may be, in status.heartbeat periods (this
 * host's: a fleet shares one), before the gate calls it silent and waits for it: three heartbeats missed.
 */
export const ROLLOUT_STALE_HEARTBEATS = 3;

/**
 * A held pass: said (log, agent-status.json) and reported (a `held` status record) when the commit or
 * what it waits for changes, then at debug on polls (at info on passes that check drift), with the report again at least every status.heartbeat as the
 * host's liveness. What it waits for is the gate's state, hosts and what each is at (`fw1 runs …`,
 * `fw1 healthy`), not its words: "healthy in 4m" changes at every poll and must not push a report each time.
 */
async function reportHeld(ctx: PassContext, plan: Extract<PassPlan, { kind: 'rollout-held' }>, running: string | null): Promise<void> {
  const { config } = ctx;
  const verdict = ctx.facts.gate;
  const key = verdict === undefined || verdict.open ? plan.held : holdKey(verdict);
  const prev = ctx.previous.held;
  const now = new Date();
  const same = prev !== null && prev.commit === plan.commit && prev.key === key;
  const last = ctx.previous.reported;
  const due = !same || !prev.reported || last === null || now.getTime() - new Date(last.at).getTime() >= config.status.heartbeatMs;
  ctx.facts.held = {
    commit: plan.commit,
    why: plan.held,
    key,
    since: same ? prev.since : now.toISOString(),
    reported: same && prev.reported,
  };
  const ring = config.rollout.after?.ring ?? '';
  ctx.log.log(
    // Said when it changes, and when the pass also checks drift (a start, a reconcile, `nfgit sync`), not at every poll.
    same && !ctx.options.reconcile ? 'debug' : verdict !== undefined && !verdict.open && verdict.state === 'stopped' ? 'warn' : 'info',
    'rollout-held',
    `held: ${plan.held}; running ${running === null ? 'nothing from git' : short(running)}, not ${short(plan.commit)}`,
    {
      commit: plan.commit,
      running,
      ring,
      held: plan.held,
      ...(verdict === undefined || verdict.open
        ? {}
        : { state: verdict.state, waiting: verdict.waiting, stopped: verdict.stopped, ignored: verdict.ignored }),
    },
  );
  if (!due) return;
  const lastGood = ctx.state.readLastGood();
  const status: StatusRecord = {
    result: 'held',
    host: config.host,
    commit: plan.commit,
    previous: running,
    rules: Object.fromEntries(
      Object.entries(lastGood?.families ?? {}).map(([f, rs]) => [f, { rules: rs.rules, digest: rs.digest }]),
    ) as StatusRecord['rules'],
    errors: [],
    agent: `nfgit ${VERSION}`,
    time: now,
    held: plan.held,
    ...ringOf(config),
  };
  const names = [];
  for (const sink of ctx.sinks) names.push(await sink.publish(status, true));
  if (names.every((n) => n !== null)) {
    ctx.facts.held = { ...ctx.facts.held, reported: true };
    if (running !== null) ctx.facts.reported = { at: now.toISOString(), commit: running, paused: false, ring: config.rollout.ring };
  }
}

/** The `Ring:` of every report of this host, when the configuration gives one. */
function ringOf(config: AgentConfig): { ring?: string } {
  return config.rollout.ring === null ? {} : { ring: config.rollout.ring };
}

/** pause.json, unless absent or ended by its time limit (then removed, and said). */
function currentPause(ctx: PassContext): Pause | undefined {
  const pause = readPause(ctx.config.stateDir);
  const state = pauseState(pause, new Date());
  ctx.facts.paused = state === 'active';
  if (state === 'active') return pause;
  if (state === 'expired' && pause !== undefined) {
    removePause(ctx.config.stateDir);
    ctx.log.log(
      'info',
      'pause-ended',
      `the pause by ${pause.by} ended at ${pause.until ?? '?'} (--for): the agent applies and repairs again`,
      {
        by: pause.by,
        until: pause.until,
        reason: pause.reason,
      },
    );
  }
  return undefined;
}

/**
 * Tells the fleet this host is alive and what it runs when no decision did this pass: a heartbeat
 * status tag for the running commit, when the last report is older than HEARTBEAT_MS, was about
 * another commit, or said paused when the agent is not (or the reverse). One tag push an hour at most
 * while idle; the heartbeat replaces the host's earlier one (status-tags.ts).
 */
async function heartbeat(ctx: PassContext, running: string, pause: Pause | undefined): Promise<void> {
  const now = new Date();
  if (!heartbeatDue(ctx.previous.reported, running, pause !== undefined, ctx.config, now)) return;
  const lastGood = ctx.state.readLastGood();
  const rules = Object.fromEntries(
    Object.entries(lastGood?.families ?? {}).map(([f, rs]) => [f, { rules: rs.rules, digest: rs.digest }]),
  ) as StatusRecord['rules'];
  const paused: PauseInfo | undefined =
    pause === undefined ? undefined : { by: pause.by, until: pause.until === null ? null : new Date(pause.until), reason: pause.reason };
  const status: StatusRecord = {
    result: 'applied',
    host: ctx.config.host,
    commit: running,
    previous: null,
    rules,
    errors: [],
    agent: `nfgit ${VERSION}`,
    time: now,
    heartbeat: true,
    ...(paused === undefined ? {} : { paused }),
    ...ringOf(ctx.config),
  };
  const names = [];
  for (const sink of ctx.sinks) names.push(await sink.publish(status, true));
  if (names.every((n) => n !== null))
    ctx.facts.reported = { at: now.toISOString(), commit: running, paused: pause !== undefined, ring: ctx.config.rollout.ring };
}

/** The running commit's committer time, read once per commit (for the metrics). */
async function runningCommit(ctx: PassContext, running: string | null): Promise<void> {
  if (running === null) {
    ctx.facts.running = null;
    return;
  }
  if (ctx.previous.running?.commit === running) return;
  let committedAt: string | null = null;
  try {
    committedAt = commitInfo(await readCommit(ctx.repo, running)).time?.toISOString() ?? null;
  } catch {
    // Not in the agent's copy (applied before a re-clone): the metric is left out until it is.
  }
  ctx.facts.running = { commit: running, committedAt };
}

function notFromGit(ctx: PassContext, head: string, lastGood: LastGoodFacts | undefined): string {
  return `the host runs rules applied by hand (${lastGood?.source}, ${lastGood?.appliedAt}), not commit ${short(head)} of ${ctx.repo.branch}`;
}

/** guard history → verify → extract → deploy for the commit the plan names; what to record of it. */
async function deployCommit(
  ctx: PassContext,
  agent: AgentState,
  plan: Extract<PassPlan, { kind: 'deploy' }>,
): Promise<Extract<Report, { kind: 'decision' }>> {
  const { repo, config } = ctx;
  const head = plan.commit;
  const applied = agent.applied?.commit ?? null;
  const decision = (
    result: Decision,
    errors: readonly string[],
    rules: StatusRecord['rules'],
    changes?: StatusRecord['changes'],
    applyPath?: string,
  ) =>
    ({
      kind: 'decision',
      commit: head,
      result,
      errors,
      rules,
      ...(changes === undefined ? {} : { changes }),
      ...(applyPath === undefined ? {} : { applyPath }),
    }) as const;
  /** A failed step's errors become the commit's decision, or are thrown for a retry (resultOf). */
  const failed = (step: PassStep, err: unknown, rules: StatusRecord['rules'], show: (e: NfgitError) => string = (e) => e.format()) => {
    const errors = asNfgitErrors(err);
    const result = resultOf(step, errors);
    if (result === 'retry') throw err;
    return decision(result, errors.map(show), rules);
  };
  const fetched = await fetchVerifyExtract(repo, head, {
    trust: ctx.trust,
    rulesPath: config.repository.path,
    tempPrefix: 'nfgit-sync-',
    guard: async (commit) => {
      if (plan.announce) {
        const info = commitInfo(commit);
        ctx.log.log('info', 'new-commit', `${repo.branch} moved to ${short(head)}: ${info.subject}`, {
          commit: head,
          author: info.author,
          previous: applied,
        });
      }
      if (!plan.guardHistory) return null;
      // Without agent.json's memory (a reinstall), the host's own status tags in the remote are fetched for the floor.
      const floor = await hostFloor(repo, config.host, ctx.key, applied === null);
      return historyRefusal({ repo, head: commit, running: applied, floor });
    },
  });
  switch (fetched.kind) {
    case 'refused':
      return decision(resultOf('guard'), [fetched.why], {});
    case 'untrusted':
      return decision(resultOf('verify'), [describeVerdict(head, fetched.verdict)], {});
    case 'unextractable':
      ctx.log.log('info', 'verified', describeVerdict(head, fetched.verdict), { commit: head });
      return failed('extract', fetched.error, {});
    case 'extracted':
      break;
  }
  ctx.log.log('info', 'verified', describeVerdict(head, fetched.verdict), { commit: head });
  const rulesDir = fetched.rules.dir;
  try {
    const compileOptions = { ...agentCompileOptions(config, rulesDir, ctx.preserve), timeoutMs: ctx.options.compileTimeoutMs };
    const deployed = await deploy(compileOptions, { ...applyOptions(ctx), source: `${GIT_SOURCE}${head}` });
    const rules = deployed.result === undefined ? {} : countsOf(deployed.result, config.ipv4Only);
    if (!deployed.ok) {
      // Messages about the directory itself (no rule files in it…) name it as the repository does.
      const show = (e: NfgitError) => e.format().split(rulesDir).join(config.repository.path);
      // A probe that failed after the apply (rolled back) records what failed, as the status tag says it.
      const apply = (e: NfgitError) => (e instanceof ProbeError ? e.failure : e.format());
      return failed(
        deployed.step,
        deployed.error,
        rules,
        deployed.step === 'compile' ? show : deployed.step === 'apply' ? apply : undefined,
      );
    }
    ctx.facts.applyMs = deployed.report.durationMs;
    logApply(ctx, deployed.report, head);
    const changes = Object.fromEntries(
      deployed.report.families.flatMap((f) =>
        f.change === undefined ? [] : [[f.family, { added: f.change.rulesAdded, removed: f.change.rulesRemoved }]],
      ),
    );
    return decision('applied', [], rules, changes, pathTrailer(deployed.report.path));
  } finally {
    await fetched.rules.remove();
  }
}

function applyOptions(ctx: PassContext): ApplyOptions {
  return {
    target: ctx.config.target,
    stateDir: ctx.config.stateDir,
    state: ctx.state,
    ipv4Only: ctx.config.ipv4Only,
    lockWaitMs: ctx.options.lockWaitMs,
    hostCommandTimeoutMs: ctx.options.hostCommandTimeoutMs,
    command: `nfgit sync (host ${ctx.config.host})`,
    preserve: ctx.preserve,
    // A git probe is one ref listing of the agent's own repository, from where the agent runs.
    ...(ctx.config.probes === null ? {} : { probation: { probes: ctx.config.probes, git: () => branchHead(ctx.repo) } }),
  };
}

function countsOf(result: CompileResult, ipv4Only: boolean): StatusRecord['rules'] {
  return Object.fromEntries(
    Object.entries(managedRulesets(result, ipv4Only)).map(([f, rs]) => [f, { rules: rs.ruleCount, digest: digestOf(rs.text) }]),
  );
}

function logApply(ctx: PassContext, report: ApplyReport, head: string): void {
  if (report.recovery.found) ctx.log.log('warn', 'recovered', report.recovery.message);
  const path =
    report.path.kind === 'incremental'
      ? { path: 'incremental', commands: report.path.changes }
      : { path: 'full', reason: report.path.reason };
  ctx.log.log('info', 'apply-path', describePath(report.path), { commit: head, ...path });
  for (const f of report.families) {
    const c = f.change;
    ctx.log.log(
      'info',
      'family-applied',
      `${FAMILY_NAME[f.family]}: ${f.rules} rule(s) in ${f.tables.join(', ') || '(no table)'}${c === undefined ? '' : `; +${c.rulesAdded} -${c.rulesRemoved} rules`}`,
      {
        commit: head,
        family: f.family,
        rules: f.rules,
        added: c?.rulesAdded,
        removed: c?.rulesRemoved,
      },
    );
  }
  if (report.sets !== undefined) {
    const c = report.sets.change;
    ctx.log.log('info', 'sets-applied', describeSetsOutcome(report.sets), {
      commit: head,
      sets: report.sets.sets,
      added: c?.membersAdded,
      removed: c?.membersRemoved,
    });
  }
  for (const w of report.hostCommandFailures) {
    ctx.log.log(
      'warn',
      'host-command-failed',
      `host command "${w.argv.join(' ')}" (${w.at}) failed: ${w.message}; the ruleset stays applied`,
      { commit: head },
    );
  }
}

/** A place the status of a decided commit is published: today the status tag; metrics or a second sink go beside it. */
interface StatusSink {
  /** Publishes a record (again: for a commit decided before, so beside its earlier status); the name it is known by (the tag), or null when it failed (logged; a later pass publishes it). */
  publish(record: StatusRecord, again: boolean): Promise<string | null>;
}

/** Every status sink of a pass. */
function statusSinks(config: AgentConfig, repo: Repository, key: HostKey, log: Logger): readonly StatusSink[] {
  const tag: StatusSink = {
    async publish(record, again) {
      try {
        const written = await writeStatusTag({ gitdir: repo.gitdir, remote: repo.remote, record, key, keep: config.tags.keep, again });
        const how = written.pushed ? ' pushed' : repo.remote === null ? ' written' : '';
        log.log(
          'info',
          'tagged',
          `status tag ${written.name}${how}${written.pruned.length > 0 ? `; pruned ${written.pruned.length} old tag(s)` : ''}`,
          { tag: written.name, commit: record.commit },
        );
        return written.name;
      } catch (err) {
        log.log(
          'warn',
          'tag-failed',
          `could not publish the status tag for ${short(record.commit)}: ${(err as Error).message}; it is kept and pushed at a later pass`,
          { commit: record.commit },
        );
        return null;
      }
    },
  };
  return [tag];
}

/**
 * The report step: a decision goes to agent.json first (so it is not taken again), then the log and
 * every status sink, then agent.json again once they all took it; a pending status is published again.
 * Returns the status tag's name (the first sink's), or null.
 */
async function record(ctx: PassContext, agent: AgentState, report: Report): Promise<string | null> {
  const { config, log } = ctx;
  let state = agent;
  let status: StatusRecord;
  let again: boolean;
  if (report.kind === 'decision') {
    const { commit, result, errors } = report;
    const now = new Date();
    const previous = agent.applied?.commit ?? null;
    state = {
      nfgitAgent: 1,
      applied: result === 'applied' ? { commit, at: now.toISOString() } : agent.applied,
      decided: { commit, result, at: now.toISOString(), errors, published: false },
    };
    writeAgentState(config.stateDir, state);
    const level = result === 'applied' ? 'info' : 'error';
    const headline =
      result === 'applied'
        ? `applied ${short(commit)} to ${describeTarget(config.target)}`
        : `${result} ${short(commit)}; still running ${previous === null ? 'what was there before' : short(previous)}`;
    log.log(level, result, headline, { commit, previous, errors, details: errors });
    status = {
      result,
      host: config.host,
      commit,
      previous,
      rules: report.rules,
      ...(report.changes === undefined ? {} : { changes: report.changes }),
      ...(report.applyPath === undefined ? {} : { applyPath: report.applyPath }),
      errors,
      agent: `nfgit ${VERSION}`,
      time: now,
      ...ringOf(config),
    };
    // A commit decided before (sync --retry, or moved back to) gets a new tag beside its old one: tags never move.
    again = true;
  } else {
    const decided = agent.decided;
    if (decided === null) return null;
    status = {
      result: decided.result,
      host: config.host,
      commit: decided.commit,
      previous: null,
      rules: {},
      errors: decided.errors,
      agent: `nfgit ${VERSION}`,
      time: new Date(decided.at),
      ...ringOf(config),
    };
    again = false;
  }
  const names = [];
  for (const sink of ctx.sinks) names.push(await sink.publish(status, again));
  const tag = names[0] ?? null;
  if (tag !== null && names.every((n) => n !== null) && state.decided !== null) {
    writeAgentState(config.stateDir, { ...state, decided: { ...state.decided, tag, published: true } });
    // A decision taken now tells the fleet the host is alive (a republished one is old news).
    if (report.kind === 'decision' && state.applied !== null)
      ctx.facts.reported = { at: status.time.toISOString(), commit: state.applied.commit, paused: false, ring: config.rollout.ring };
  }
  return tag;
}

/** Compares the live ruleset of each family with the applied one; repairs or reports. */
async function reconcile(ctx: PassContext, mode: 'repair' | 'report'): Promise<'none' | 'repaired' | 'reported'> {
  const { config, log, state } = ctx;
  const families = managedFamilies(config.ipv4Only);
  const { target } = config;
  const { preserve } = ctx;
  const details: string[] = [];
  // Nothing committed in the target since the last apply recorded its generation: the families are the
  // recorded ones, with no save (netfilter/generation.ts). The sets are looked at all the same.
  const unchanged = await sameGenerationAsRecorded(state, target, families);
  for (const family of unchanged ? [] : families) {
    const applied = state.readCanonical(family);
    if (applied === undefined) continue;
    // nfgit's part of a preserved chain it adds to (DOCKER-USER) is nfgit's: a rule of it gone is drift, a foreign one added is not.
    const own = trustedOwnForm(applied, state.readLastGood()?.families[family]?.text, preserve);
    const claims = own === undefined ? undefined : ownClaims(own);
    const live = stripPreserved(await saveFamily(target, family), preserve, claims);
    details.push(...describeDrift(FAMILY_NAME[family], findDrift(stripPreserved(applied, preserve, claims), live)));
  }
  details.push(...(await setDrift(ctx, families)));
  const action = driftAction(mode, details);
  if (action === 'none') {
    log.log(
      'debug',
      'no-drift',
      `the live ruleset is the applied one${unchanged ? ' (nothing committed in the target since the apply: its generation is the recorded one)' : ''}`,
      { generation: unchanged },
    );
    return 'none';
  }
  if (action === 'report') {
    log.log('warn', 'drift', 'the live ruleset differs from the applied one (reconcile.mode is report: left as it is)', { details });
    return 'reported';
  }
  log.log('warn', 'drift', 'the live ruleset differs from the applied one: putting the applied ruleset back', { details });
  const report = await restoreLast(applyOptions(ctx));
  if (!report.restored) throw new InternalError('internal error: drift found but no last good ruleset to restore');
  ctx.facts.applyMs = report.durationMs;
  log.log('info', 'repaired', `drift repaired: the applied ruleset (${report.source}) is back`, { source: report.source });
  return 'repaired';
}

/** Whether the target's nf_tables generation is the one the last apply recorded (never on the legacy backend). */
async function sameGenerationAsRecorded(state: StateDir, target: Target, families: readonly Family[]): Promise<boolean> {
  const recorded = state.readLastGood();
  // No generation recorded (the legacy backend, --preserve…): no process is spawned to read one.
  if (recorded?.generation === undefined) return false;
  // The backend may have been switched since: legacy rules would not move the generation.
  const backend = await detectBackend(target, families).catch(() => undefined);
  return backend !== undefined && recordedGenerationHolds(recorded, target, await readGeneration(target, backend));
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
  const live = await saveSets(ctx.config.target);
  const runtime = runtimeFilledSets(
    applied,
    families.map((f) => ctx.state.readCanonical(f) ?? ''),
  );
  return describeSetDrift(diffSets(applied, live, owned, runtime));
}

function short(oid: string): string {
  return oid.slice(0, 12);
}
