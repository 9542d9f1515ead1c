// Staged rollout (README, Staged rollout): whether a host of a later ring may apply a commit, from the
// current status records of the hosts of the earlier ring. Pure: the records, the ancestry of their
// commits and the clock are read by the caller (sync.ts); gate() only judges them.

import type { StatusRecord } from '../git/status-message.js';
import { formatDuration } from './duration.js';

/** rollout.after: the ring this host waits for, and how long its hosts must have run a commit. */
export interface RolloutAfter {
  readonly ring: string;
  readonly healthyForMs: number;
}

/**
 * One host's current status as read from its current status ref (refs/nfgit/hosts/HOST): the host
 * the ref names, the record of the tag it points at (or why there is none), and whether the tag's
 * signature verifies against rollout.allowedSigners as that host's key (`good`) or not (any other word).
 */
export interface HostReport {
  readonly host: string;
  readonly record: StatusRecord | { readonly error: string };
  readonly signature: string;
  readonly signatureDetail?: string;
}

/**
 * Reads every host's current status record, for a gate about commit (which a reader may send as a
 * "have": the agent holds it). The agent's reader is ring-reader.ts, which judges each report as
 * `nfgit status` does (git/current-status.ts).
 */
export type RingReader = (commit: string) => Promise<readonly HostReport[]>;

/** What the gate needs beside the reports. */
export interface GateInput {
  /** The commit this host would apply. */
  readonly commit: string;
  /** This host: its own report is never counted, whatever ring it claims. */
  readonly self: string;
  readonly after: RolloutAfter;
  readonly reports: readonly HostReport[];
  /** Whether a commit descends from `commit` (read from the agent's copy; false when it does not hold it). */
  readonly descends: (commit: string) => boolean;
  /** A report older than this is stale: its host may be dead, and it blocks (it is said so). */
  readonly staleAfterMs: number;
  readonly now: Date;
}

/** One host of the earlier ring that does not let the commit through yet, and why in a few words. */
export interface Waiting {
  readonly host: string;
  /** `healthy in 4m`, `silent for 5h`, `paused`, `held`, `runs 0a1b2c3d4e5f`… */
  readonly why: string;
}

/** One host of the earlier ring whose decision on the commit stops the rollout. */
export interface Stopped {
  readonly host: string;
  readonly result: 'refused' | 'rolled-back' | 'untrusted';
  readonly error: string;
}

/** The gate's answer: open (every host of the earlier ring runs the commit, healthy), or held and why. */
export type GateVerdict =
  | { readonly open: true; readonly commit: string; readonly hosts: readonly string[]; readonly why: string }
  | {
      readonly open: false;
      readonly commit: string;
      /** `waiting`: not every host ran it long enough yet; `stopped`: one refused or rolled it back; `no-hosts`: no believable report of the ring. */
      readonly state: 'waiting' | 'stopped' | 'no-hosts';
      /** The `Held:` text: `waiting for canary fw1, fw2 (healthy in 4m)`. */
      readonly why: string;
      readonly waiting: readonly Waiting[];
      readonly stopped: readonly Stopped[];
      /** Reports not believed (bad signature, not a status record, another host's record): host and why. */
      readonly ignored: readonly Waiting[];
    };

/** What a host runs, from its one current record: an applied record's commit, else the commit it kept. */
export function runningCommit(r: StatusRecord): string | null {
  return r.result === 'applied' ? r.commit : r.previous;
}

/** The commits of the believed earlier-ring reports whose ancestry the gate asks about (descends()). */
export function commitsToRelate(input: Omit<GateInput, 'descends'>): string[] {
  const out = new Set<string>();
  for (const r of members(input).members) {
    const runs = runningCommit(r);
    if (runs !== null && runs !== input.commit) out.add(runs);
  }
  return [...out];
}

function members(input: Omit<GateInput, 'descends'>): { members: StatusRecord[]; ignored: Waiting[] } {
  const out: StatusRecord[] = [];
  const ignored: Waiting[] = [];
  for (const rep of input.reports) {
    if (rep.host === input.self) continue;
    if ('error' in rep.record) {
      ignored.push({ host: rep.host, why: `not a status record: ${rep.record.error}` });
      continue;
    }
    // A record believed by its signature alone: the ring it claims is what makes a host a member.
    if (rep.signature !== 'good') {
      ignored.push({
        host: rep.host,
        why: `signature ${rep.signature}${rep.signatureDetail === undefined ? '' : `: ${rep.signatureDetail}`}`,
      });
      continue;
    }
    if (rep.record.host !== rep.host) {
      ignored.push({ host: rep.host, why: `the record is for host ${rep.record.host}` });
      continue;
    }
    if (rep.record.ring === input.after.ring) out.push(rep.record);
  }
  out.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  return { members: out, ignored };
}

/**
 * Whether this host may apply input.commit now. Open only when at least one host of the earlier ring
 * reported, none of them refused, rolled back or distrusted the commit, and every one runs it (or a
 * newer commit of the branch that descends from it) with a report at least healthyFor old and not
 * stale. A stale host blocks: a commit that cut a canary off from git must not roll on when the
 * canary falls silent. Any of them deciding against the commit stops the rollout until a newer commit.
 */
export function gate(input: GateInput): GateVerdict {
  const { commit, after, now } = input;
  const { members: ring, ignored } = members(input);
  const held = (state: 'waiting' | 'stopped' | 'no-hosts', why: string, waiting: Waiting[] = [], stopped: Stopped[] = []): GateVerdict => ({
    open: false,
    commit,
    state,
    why,
    waiting,
    stopped,
    ignored,
  });
  if (ring.length === 0) {
    const notBelieved =
      ignored.length === 0 ? '' : `; not believed: ${ignored.map((i) => `${i.host} (${i.why.split('\n')[0]})`).join(', ')}`;
    return held('no-hosts', `no host of ring ${after.ring} has reported${notBelieved}`);
  }
  const stopped: Stopped[] = [];
  for (const r of ring) {
    if (r.commit === commit && (r.result === 'refused' || r.result === 'rolled-back' || r.result === 'untrusted'))
      stopped.push({ host: r.host, result: r.result, error: (r.errors[0] ?? '').split('\n')[0]?.trim() ?? '' });
  }
  if (stopped.length > 0) {
    const [first] = stopped as [Stopped];
    const verb = first.result === 'rolled-back' ? 'rolled back' : first.result;
    const more =
      stopped.length > 1
        ? ` (and ${stopped
            .slice(1)
            .map((s) => s.host)
            .join(', ')})`
        : '';
    return held(
      'stopped',
      `${after.ring} ${first.host} ${verb} ${short(commit)}${first.error === '' ? '' : `: ${first.error}`}${more}`,
      [],
      stopped,
    );
  }
  const waiting: Waiting[] = [];
  for (const r of ring) {
    const age = now.getTime() - r.time.getTime();
    const runs = runningCommit(r);
    const hasIt = runs !== null && (runs === commit || input.descends(runs));
    if (age >= input.staleAfterMs) waiting.push({ host: r.host, why: `silent for ${roughly(age)}` });
    else if (!hasIt) waiting.push({ host: r.host, why: notYet(r) });
    else if (age < after.healthyForMs) waiting.push({ host: r.host, why: `healthy in ${roughly(after.healthyForMs - age)}` });
  }
  if (waiting.length > 0) {
    const list = waiting.map((w) => `${w.host} (${w.why})`).join(', ');
    return held('waiting', `waiting for ${after.ring} ${list}`, waiting);
  }
  const hosts = ring.map((r) => r.host);
  return {
    open: true,
    commit,
    hosts,
    why: `${after.ring} ${hosts.join(', ')} run${hosts.length === 1 ? 's' : ''} ${short(commit)}${after.healthyForMs > 0 ? ` for at least ${formatDuration(after.healthyForMs)}` : ''}`,
  };
}

/**
 * What a hold waits for, as a key that changes when it is worth saying and reporting again: the state,
 * and each host with what it is at (`fw1 runs 0a1b2c3d4e5f`, `fw2 healthy`, `fw3 silent`), without the
 * countdowns ("healthy in 4m" changes at every poll).
 */
export function holdKey(verdict: Extract<GateVerdict, { open: false }>): string {
  const waiting = verdict.waiting.map((w) => `${w.host} ${w.why.replace(/ (in|for) \d.*$/, '')}`);
  return `${verdict.state}: ${[...waiting, ...verdict.stopped.map((s) => `${s.host} ${s.result}`)].join(', ')}`;
}

/** Why a host of the earlier ring that does not run the commit yet does not: paused, held itself, or what it runs. */
function notYet(r: StatusRecord): string {
  if (r.paused !== undefined) return `paused by ${r.paused.by}`;
  if (r.result === 'held') return `held: ${(r.held ?? '').split('\n')[0]}`;
  const runs = runningCommit(r);
  return runs === null ? 'runs nothing from git' : `runs ${short(runs)}`;
}

/** A duration for people, to the minute (to the second under one). */
function roughly(ms: number): string {
  const whole = ms < 60_000 ? Math.ceil(ms / 1000) * 1000 : Math.ceil(ms / 60_000) * 60_000;
  return formatDuration(whole);
}

function short(oid: string): string {
  return oid.slice(0, 12);
}
