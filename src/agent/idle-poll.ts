// The lock-free look of a poll. Nearly every poll of `nfgit run` finds the branch where it was and
// nothing due; such a poll changes nothing but agent-status.json, so it needs neither the agent's lock
// (a `flock` child process per poll, see apply/state-lock.ts) nor the agent's copy of the repository.
// idlePoll() reads what a pass reads first (agent.json, last-good.json, pause.json, agent-status.json,
// the files the configuration names, the branch head), plans with the same decide() as the pass, and
// answers only when that plan is one that does nothing; anything else, and any error, is left to the
// full pass under the lock, which reads everything again and decides as it always did. Why not hold
// the lock differently: Node has no flock(2), a helper process holding it for the daemon's life would
// block `nfgit sync` and admins, and one that takes and drops it on request is a process per poll again.

import type { AgentConfig } from './config.js';
import type { Logger } from './log.js';
import { lookBranchHead } from '../git/branch-look.js';
import { readAgentState, type AgentState } from './agent-state.js';
import { decide, type PassPlan } from './decide.js';
import { loadPassFiles } from './config-files.js';
import { describePause, pauseState, readPause, type Pause } from './pause.js';
import type { PassRecord } from './pass-record.js';
import type { LastGoodReader } from './pass-finish.js';
import type { PassFacts, SyncOptions, SyncOutcome } from './pass-types.js';

/**
 * What the idle poll reads of the state directory: in a pass, its StateDir and util/state-security.ts
 * (sync.ts idleStateOf); in the `nfgit run` daemon, which must not load those (issue 15: zod), the
 * lean reader of lean-state.ts.
 */
export interface IdleStateReader extends LastGoodReader {
  /** Throws when the state directory is not safe to trust (as checkStateDir). */
  checkDir(): void;
}

/**
 * What a poll does when nothing is to be done, without the agent's lock; undefined when the full pass
 * must run. It answers for a plan (decide.ts) of 'current' or 'paused' with no status to publish, no
 * heartbeat due, the pin already resolved for this head, the running commit's time already read, and a
 * last pass that ended well: a retry after a failure, a held rollout (which reads the earlier ring), an
 * ended pause (removed and said), a new head, a pin to resolve and every pass that checks drift go to
 * the full pass. Never throws: a problem is the full pass's to find and report, in its own order.
 */
export async function idlePoll(
  config: AgentConfig,
  options: SyncOptions,
  log: Logger,
  previous: PassRecord,
  facts: PassFacts,
  state: IdleStateReader,
): Promise<SyncOutcome | undefined> {
  if (options.reconcile || options.retry) return undefined;
  if (previous.lastPass?.result !== 'ok' || previous.failures > 0 || previous.held !== null) return undefined;
  try {
    return await look(config, options, log, previous, facts, state);
  } catch {
    return undefined;
  }
}

async function look(
  config: AgentConfig,
  options: SyncOptions,
  log: Logger,
  previous: PassRecord,
  facts: PassFacts,
  state: IdleStateReader,
): Promise<SyncOutcome | undefined> {
  // As the pass's state.ensure(): a state directory others could write is refused (by the full pass, which says why).
  state.checkDir();
  const lastGood = state.readLastGood();
  const agent = readAgentState(config.stateDir, lastGood);
  const pause = readPause(config.stateDir);
  const now = new Date();
  const paused = pauseState(pause, now);
  if (paused === 'expired') return undefined;
  // What the full pass reads before its lock: a key or trust file broken since is its error to report, at every poll as before.
  await loadPassFiles(config);
  // Without isomorphic-git: a remote's ls-refs, a local repository's ref file (read only, in place).
  const head = await lookBranchHead(config.repository, config.stateDir, config.repository.timeoutMs);
  // The pin as the last pass resolved it for this very head (sync.ts planPass); else the full pass resolves it.
  const known = previous.pin;
  let pin: string | null = null;
  if (config.pin !== null) {
    if (known === null || !known.commit.startsWith(config.pin) || (known.ahead ?? known.commit) !== head) return undefined;
    pin = known.commit;
  }
  const plan = decide(head, agent, lastGood, {
    reconcile: false,
    retry: false,
    allowRewrite: options.allowRewrite,
    reconcileMode: config.reconcile.mode,
    paused: paused === 'active',
    pin,
    ...(config.rollout.after === null ? {} : { rollout: { verdict: null } }),
  });
  if ((plan.kind !== 'current' && plan.kind !== 'paused') || plan.republish) return undefined;
  if (plan.kind === 'current' && plan.reconcile !== null) return undefined;
  const running = agent.applied?.commit ?? null;
  if (running !== null) {
    if (previous.running?.commit !== running) return undefined;
    if (heartbeatDue(previous.reported, running, paused === 'active', config, now)) return undefined;
  }
  // Nothing to do: said as the full pass says it, and recorded as it records it.
  facts.headSeen = head;
  facts.paused = paused === 'active';
  facts.pin = pin === null ? null : { commit: pin, ahead: pin === head ? null : head };
  if (running === null) facts.running = null;
  if (plan.kind === 'paused') logPaused(log, previous, plan, pause as Pause, running);
  else {
    logPinned(log, previous, config.repository.branch, plan);
    logCurrent(log, false, config.repository.branch, plan, agent);
  }
  return { kind: 'current', commit: plan.commit, applied: running, drift: 'not-checked' };
}

/**
 * Whether a heartbeat status is due (sync.ts heartbeat): no report yet, one about another commit, one
 * that said paused when the agent is not (or the reverse), another ring, or older than status.heartbeat.
 */
export function heartbeatDue(
  last: PassRecord['reported'],
  running: string,
  paused: boolean,
  config: Pick<AgentConfig, 'rollout' | 'status'>,
  now: Date,
): boolean {
  return (
    last === null ||
    last.commit !== running ||
    last.paused !== paused ||
    // A ring given or changed in the configuration is said at once: later rings find the host by it.
    (last.ring ?? null) !== config.rollout.ring ||
    now.getTime() - new Date(last.at).getTime() >= config.status.heartbeatMs
  );
}

/** The log of a paused pass: said when the pass finds the agent paused, then at debug (every poll would flood the log). */
export function logPaused(
  log: Logger,
  previous: PassRecord,
  plan: Extract<PassPlan, { kind: 'paused' }>,
  pause: Pause,
  applied: string | null,
): void {
  const level = previous.lastPass?.summary === 'paused' ? 'debug' : 'warn';
  const waiting = plan.pending ? `; ${short(plan.commit)} waits to be applied` : '';
  log.log(level, 'paused', `${describePause(pause)}: applying and repairing nothing${waiting} (nfgit resume ends it)`, {
    commit: plan.commit,
    running: applied,
    by: pause.by,
    until: pause.until,
    reason: pause.reason,
  });
}

/** A pin the branch is beyond: said when the head moves beyond it, then at debug. */
export function logPinned(log: Logger, previous: PassRecord, branch: string, plan: PassPlan): void {
  if (!('ahead' in plan) || plan.ahead === undefined || plan.kind === 'paused') return;
  const level = previous.pin?.ahead === plan.ahead ? 'debug' : 'info';
  log.log(level, 'pinned', `pinned to ${short(plan.commit)} (pin): ${branch} is at ${short(plan.ahead)}, beyond it; not moving`, {
    commit: plan.commit,
    head: plan.ahead,
  });
}

/** A 'current' plan: the head already applied, or decided earlier and not retried. */
export function logCurrent(
  log: Logger,
  reconcile: boolean,
  branch: string,
  plan: Extract<PassPlan, { kind: 'current' }>,
  agent: AgentState,
): void {
  const head = plan.commit;
  const applied = agent.applied?.commit ?? null;
  if (plan.held && agent.decided !== null) {
    // At info when the pass also checks drift (a start, a reconcile, `nfgit sync`), not at every poll.
    log.log(
      reconcile ? 'info' : 'debug',
      'held',
      `${short(head)} on ${branch} was ${agent.decided.result} earlier; running ${applied === null ? 'nothing from git' : short(applied)} (sync --retry decides it again)`,
      { commit: head, result: agent.decided.result },
    );
  } else {
    log.log('debug', 'current', `${branch} is at ${short(head)}, already applied`, { commit: head });
  }
}

function short(oid: string): string {
  return oid.slice(0, 12);
}
