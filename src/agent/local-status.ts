// `nfgit status --local`: what the agent on this host is doing, from its state directory alone
// (agent.json, agent-status.json, pause.json): no clone, no network. Built and rendered here, pure;
// the command reads the files.

import type { AgentState } from './agent-state.js';
import { pauseState, type Pause } from './pause.js';
import type { PassRecord } from './pass-record.js';

/** The stable JSON of `status --local --json` (fields are added, never renamed). */
export interface LocalStatus {
  readonly stateDir: string;
  readonly host: string | null;
  readonly running: { readonly commit: string; readonly since: string; readonly committedAt: string | null } | null;
  readonly lastDecision: {
    readonly commit: string;
    readonly result: string;
    readonly at: string;
    readonly errors: readonly string[];
    readonly tag: string | null;
    readonly published: boolean;
  } | null;
  readonly branchHead: { readonly commit: string; readonly seenAt: string; readonly running: boolean } | null;
  readonly lastPass: PassRecord['lastPass'];
  readonly lastError: PassRecord['lastError'];
  readonly nextPass: PassRecord['nextPass'];
  readonly failures: number;
  readonly drift: PassRecord['drift'];
  readonly paused: { readonly by: string; readonly at: string; readonly until: string | null; readonly reason: string | null } | null;
  readonly pin: { readonly configured: string; readonly commit: string | null; readonly ahead: string | null } | null;
  readonly lastReport: PassRecord['reported'];
  /** Staged rollout: the new commit the agent holds and why (`waiting for canary fw1 (runs 0a1b2c3d4e5f)`); null when not held. */
  readonly held: { readonly commit: string; readonly why: string; readonly since: string } | null;
  readonly counters: PassRecord['counters'];
}

/** What status --local reads. */
export interface LocalFacts {
  readonly stateDir: string;
  readonly host: string | null;
  /** The config's pin when --config was given (null: none configured or not known). */
  readonly pin: string | null;
  readonly agent: AgentState;
  readonly record: PassRecord;
  readonly pause: Pause | undefined;
  readonly now: Date;
}

/** The local status from what was read. */
export function localStatus(f: LocalFacts): LocalStatus {
  const { agent, record } = f;
  const running = agent.applied;
  const pause = pauseState(f.pause, f.now) === 'active' ? f.pause : undefined;
  const pinCommit = record.pin?.commit ?? null;
  const configured = f.pin ?? (pinCommit === null ? null : pinCommit);
  return {
    stateDir: f.stateDir,
    host: f.host,
    running:
      running === null
        ? null
        : {
            commit: running.commit,
            since: running.at,
            committedAt: record.running?.commit === running.commit ? record.running.committedAt : null,
          },
    lastDecision:
      agent.decided === null
        ? null
        : {
            commit: agent.decided.commit,
            result: agent.decided.result,
            at: agent.decided.at,
            errors: agent.decided.errors,
            tag: agent.decided.tag ?? null,
            published: agent.decided.published !== false,
          },
    branchHead:
      record.headSeen === null
        ? null
        : { commit: record.headSeen.commit, seenAt: record.headSeen.at, running: record.headSeen.commit === running?.commit },
    lastPass: record.lastPass,
    lastError: record.lastError,
    nextPass: record.nextPass,
    failures: record.failures,
    drift: record.drift,
    paused: pause === undefined ? null : { by: pause.by, at: pause.at, until: pause.until, reason: pause.reason },
    pin: configured === null ? null : { configured, commit: pinCommit, ahead: record.pin?.ahead ?? null },
    lastReport: record.reported,
    held: record.held === null ? null : { commit: record.held.commit, why: record.held.why, since: record.held.since },
    counters: record.counters,
  };
}

function short(oid: string): string {
  return oid.slice(0, 12);
}

/** `in 25 s`, `3 min ago`. */
function relative(at: string, now: Date): string {
  const s = Math.round((new Date(at).getTime() - now.getTime()) / 1000);
  const abs = Math.abs(s);
  const amount = abs < 120 ? `${abs} s` : abs < 7200 ? `${Math.round(abs / 60)} min` : `${Math.round(abs / 3600)} h`;
  return s >= 0 ? `in ${amount}` : `${amount} ago`;
}

/** The local status for people: one labelled line per fact. */
export function renderLocalStatus(st: LocalStatus, now: Date): string {
  const rows: Array<[string, string]> = [];
  const when = (at: string): string => `${at} (${relative(at, now)})`;
  if (st.host !== null) rows.push(['host', st.host]);
  rows.push(['state dir', st.stateDir]);
  rows.push([
    'running',
    st.running === null
      ? 'nothing from git'
      : `${short(st.running.commit)} since ${when(st.running.since)}${st.running.committedAt === null ? '' : `, committed ${st.running.committedAt}`}`,
  ]);
  if (st.lastDecision !== null && st.lastDecision.commit !== st.running?.commit)
    rows.push([
      'last decision',
      `${st.lastDecision.result} ${short(st.lastDecision.commit)} at ${st.lastDecision.at}${st.lastDecision.errors[0] === undefined ? '' : `: ${st.lastDecision.errors[0].split('\n')[0]}`}`,
    ]);
  rows.push([
    'branch head',
    st.branchHead === null
      ? 'not seen yet'
      : `${short(st.branchHead.commit)} seen ${when(st.branchHead.seenAt)}${st.branchHead.running ? ' (running)' : ' (not running)'}`,
  ]);
  rows.push([
    'last pass',
    st.lastPass === null
      ? 'none yet'
      : `${when(st.lastPass.at)}: ${st.lastPass.result}${st.lastPass.summary === st.lastPass.result ? '' : `, ${st.lastPass.summary}`}, ${(st.lastPass.durationMs / 1000).toFixed(2)} s`,
  ]);
  rows.push(['last error', st.lastError === null ? 'none' : `${st.lastError.at}: ${st.lastError.message.split('\n')[0]}`]);
  rows.push([
    'next pass',
    st.nextPass === null
      ? 'not scheduled (nfgit run is not running)'
      : `${when(st.nextPass.at)}${st.nextPass.backoff ? ' (backing off after failures)' : ''}`,
  ]);
  rows.push(['failures', `${st.failures} in a row`]);
  rows.push(['drift', st.drift === null ? 'not checked yet' : `${st.drift.state} (checked ${st.drift.at})`]);
  rows.push([
    'paused',
    st.paused === null
      ? 'no'
      : `yes, by ${st.paused.by} since ${st.paused.at}, ${st.paused.until === null ? 'until nfgit resume' : `until ${when(st.paused.until)}`}${st.paused.reason === null ? '' : `: ${st.paused.reason}`}`,
  ]);
  if (st.pin !== null)
    rows.push([
      'pin',
      `${st.pin.commit === null ? st.pin.configured : short(st.pin.commit)}${st.pin.ahead === null ? '' : `; the branch head ${short(st.pin.ahead)} is beyond it`}`,
    ]);
  if (st.held !== null) rows.push(['rollout', `holding ${short(st.held.commit)} since ${when(st.held.since)}: ${st.held.why}`]);
  rows.push(['last report', st.lastReport === null ? 'none' : `status tag at ${when(st.lastReport.at)}`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n';
}
