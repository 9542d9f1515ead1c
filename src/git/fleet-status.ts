import type { CurrentStatus } from './current-status.js';
import type { PauseInfo, StatusRecord, StatusResult, TagLink } from './status-message.js';
import type { SignatureState, StatusTag } from './status-tags.js';

// The fleet view of `nfgit status`: per host, what it runs and what it last reported, from its current
// status ref (refs/nfgit/hosts/HOST, one report a host) or, in a repository without those refs, from
// its status tags. Pure: the reports and the branch head are read by the caller.

/** A decision (or, from current refs, a report) taken from one status tag. */
export interface Decision {
  readonly tag: string;
  readonly result: StatusResult;
  readonly commit: string;
  readonly time: Date;
  /** The first line of the first error, or null. */
  readonly firstError: string | null;
  readonly signature: SignatureState;
}

/** A tag that was not used: its record does not parse, or its signature cannot be trusted. */
export interface IgnoredTag {
  readonly tag: string;
  readonly reason: string;
  readonly signature: SignatureState;
}

/** The report a host's line is about: its current one (from refs), or its newest decision (from tags). */
export interface Report {
  /** The status tag's name (`nfgit/HOST/COMMIT12[.N]`). */
  readonly tag: string;
  /** The tag object's id, when read from a current ref. */
  readonly oid: string | null;
  readonly record: StatusRecord;
  readonly signature: SignatureState;
  readonly signatureDetail: string;
}

/**
 * Where a host stands, one of these a host: its report's failure (refused, rolled back, untrusted),
 * held by a rollout, else whether it runs the head (running: the head is unknown); unreadable when
 * its report cannot be read or parsed; none when its only reports fail their signatures.
 */
export type HostCategory = 'at-head' | 'behind' | 'refused' | 'rolled-back' | 'untrusted' | 'held' | 'running' | 'unreadable' | 'none';

/** One host's line of the fleet view. */
export interface HostStatus {
  readonly host: string;
  /** The applied decision of the commit the host runs (from current refs: the report that says so). */
  readonly running: Decision | null;
  /** The newest decision (from current refs: the current report, heartbeat or held included). */
  readonly last: Decision | null;
  /** Whether the host runs the branch head; null when the head is unknown. */
  readonly headApplied: boolean | null;
  readonly ignored: readonly IgnoredTag[];
  /** The time of its newest report, a decision or a heartbeat (null: none). */
  readonly lastSeen: Date | null;
  /** Whether that is older than the stale limit (null: not judged, no limit given). */
  readonly stale: boolean | null;
  /** The pause its newest report says, or null. */
  readonly paused: PauseInfo | null;
  /** The commit it runs (null: none, or unknown). */
  readonly runs: string | null;
  readonly report: Report | null;
  /**
   * From current refs, when the report is a heartbeat that follows a failed decision about another commit
   * (CurrentStatus.followed): that decision, which then gives the category, `last` and the detail.
   */
  readonly followed: Report | null;
  readonly category: HostCategory;
  /** Whether one of its reports failed a checked signature. */
  readonly signatureFailure: boolean;
}

/** How old a host's newest report may be before the fleet view calls it stale. */
export interface Liveness {
  readonly now: Date;
  readonly staleAfterMs: number;
}

/** The fleet view: the branch, its head, and each host sorted by name. */
export interface FleetStatus {
  readonly branch: string;
  readonly head: string | null;
  /** Whether signatures were checked against allowed signers. */
  readonly checked: boolean;
  /** Read from the current status refs, or from the status tags (a repository without those refs). */
  readonly source: 'current' | 'tags';
  readonly hosts: readonly HostStatus[];
}

/** Signature states that make a tag unusable when signatures are checked. */
const UNTRUSTED: ReadonlySet<SignatureState> = new Set(['bad', 'untrusted', 'wrong-host', 'unsigned']);

/** Whether a signature state is a failure: only when signatures are checked. */
export function isSignatureFailure(state: SignatureState, checked: boolean): boolean {
  return checked && UNTRUSTED.has(state);
}

/** What a host runs from one report: an applied record (a heartbeat too) its commit, any other the commit before. */
export function runningCommit(r: StatusRecord): string | null {
  return r.result === 'applied' ? r.commit : r.previous;
}

function decision(tag: string, r: StatusRecord, signature: SignatureState): Decision {
  const first = r.errors[0]?.split('\n')[0] ?? null;
  return { tag, result: r.result, commit: r.commit, time: r.time, firstError: first, signature };
}

function categoryOf(r: StatusRecord | null, runs: string | null, head: string | null, unreadable: boolean): HostCategory {
  if (r === null) return unreadable ? 'unreadable' : 'none';
  if (r.result === 'refused' || r.result === 'rolled-back' || r.result === 'untrusted' || r.result === 'held') return r.result;
  if (head === null) return 'running';
  return runs === head ? 'at-head' : 'behind';
}

function staleness(liveness: Liveness | null, lastSeen: Date | null): boolean | null {
  return liveness === null || lastSeen === null ? null : liveness.now.getTime() - lastSeen.getTime() > liveness.staleAfterMs;
}

/**
 * Builds the fleet view from status tags (a repository without current refs). When checked, tags
 * whose signature is bad, untrusted, by another host or missing are not believed: they are listed as
 * ignored, never taken as what a host runs.
 */
export function fleetStatus(
  tags: readonly StatusTag[],
  head: string | null,
  branch: string,
  checked: boolean,
  liveness: Liveness | null = null,
): FleetStatus {
  const byHost = new Map<string, StatusTag[]>();
  for (const t of tags) byHost.set(t.host, [...(byHost.get(t.host) ?? []), t]);
  const hosts: HostStatus[] = [];
  for (const host of [...byHost.keys()].sort()) {
    const ignored: IgnoredTag[] = [];
    const decisions: Report[] = [];
    // Every believed report, heartbeats too: the newest says when the host was last heard of, and whether it was paused.
    const reports: Report[] = [];
    for (const t of byHost.get(host) ?? []) {
      if (isSignatureFailure(t.signature, checked))
        ignored.push({ tag: t.name, reason: `signature ${t.signature}: ${t.signatureDetail}`, signature: t.signature });
      else if ('error' in t.record) ignored.push({ tag: t.name, reason: t.record.error, signature: t.signature });
      else {
        const rep = { tag: t.name, oid: null, record: t.record, signature: t.signature, signatureDetail: t.signatureDetail };
        reports.push(rep);
        if (t.record.heartbeat !== true) decisions.push(rep);
      }
    }
    const newestFirst = (a: Report, b: Report): number =>
      b.record.time.getTime() - a.record.time.getTime() || (a.tag < b.tag ? 1 : a.tag > b.tag ? -1 : 0);
    decisions.sort(newestFirst);
    reports.sort(newestFirst);
    const applied = decisions.find((d) => d.record.result === 'applied') ?? null;
    const running = applied === null ? null : decision(applied.tag, applied.record, applied.signature);
    const newest = reports[0] ?? null;
    const report = decisions[0] ?? newest;
    const lastSeen = newest?.record.time ?? null;
    const runs = running?.commit ?? null;
    hosts.push({
      host,
      running,
      last: decisions[0] === undefined ? null : decision(decisions[0].tag, decisions[0].record, decisions[0].signature),
      headApplied: head === null ? null : runs === head,
      ignored,
      lastSeen,
      stale: staleness(liveness, lastSeen),
      paused: newest?.record.paused ?? null,
      runs,
      report,
      followed: null,
      category: categoryOf(
        report?.record ?? null,
        runs,
        head,
        ignored.some((i) => !isSignatureFailure(i.signature, checked)),
      ),
      signatureFailure: ignored.some((i) => isSignatureFailure(i.signature, checked)),
    });
  }
  return { branch, head, checked, source: 'tags', hosts };
}

/** One host's line from its current status: the report its ref names says what it runs (see runningCommit). */
function currentHost(s: CurrentStatus, head: string | null, checked: boolean, liveness: Liveness | null): HostStatus {
  const name = s.name ?? s.ref;
  const failed = isSignatureFailure(s.signature, checked);
  if (failed || 'error' in s.record) {
    const reason = failed ? `signature ${s.signature}: ${s.signatureDetail}` : (s.record as { error: string }).error;
    return {
      host: s.host,
      running: null,
      last: null,
      headApplied: head === null ? null : false,
      ignored: [{ tag: name, reason, signature: s.signature }],
      lastSeen: null,
      stale: null,
      paused: null,
      runs: null,
      report: null,
      followed: null,
      category: failed ? 'none' : 'unreadable',
      signatureFailure: failed,
    };
  }
  const r = s.record;
  const runs = runningCommit(r);
  // A heartbeat after a failed decision: the failure stays what the host's line is about.
  const f = s.followed;
  const followed: Report | null =
    f !== undefined && !('error' in f.record) && !isSignatureFailure(f.signature, checked) && f.record.result !== 'applied'
      ? { tag: f.name ?? f.ref, oid: f.oid, record: f.record, signature: f.signature, signatureDetail: f.signatureDetail }
      : null;
  // The decision that put the running commit there: this report when it is that decision, else the one it follows.
  const applyingTag = r.result === 'applied' && r.heartbeat !== true ? name : (r.previousTag?.name ?? name);
  return {
    host: s.host,
    running:
      runs === null ? null : { tag: applyingTag, result: 'applied', commit: runs, time: r.time, firstError: null, signature: s.signature },
    last: followed === null ? decision(name, r, s.signature) : decision(followed.tag, followed.record, followed.signature),
    headApplied: head === null ? null : runs === head,
    ignored: [],
    lastSeen: r.time,
    stale: staleness(liveness, r.time),
    paused: r.paused ?? null,
    runs,
    report: { tag: name, oid: s.oid, record: r, signature: s.signature, signatureDetail: s.signatureDetail },
    followed,
    category: categoryOf(followed?.record ?? r, runs, head, false),
    signatureFailure: false,
  };
}

/** Builds the fleet view from every host's current status (readCurrentStatuses). */
export function currentFleetStatus(
  statuses: readonly CurrentStatus[],
  head: string | null,
  branch: string,
  checked: boolean,
  liveness: Liveness | null = null,
): FleetStatus {
  const hosts = [...statuses]
    .sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0))
    .map((s) => currentHost(s, head, checked, liveness));
  return { branch, head, checked, source: 'current', hosts };
}

/** Whether any tag's checked signature failed (the exit status of `nfgit status`). */
export function hasSignatureFailures(fleet: FleetStatus): boolean {
  return fleet.hosts.some(
    (h) =>
      h.signatureFailure ||
      h.ignored.some((i) => isSignatureFailure(i.signature, fleet.checked)) ||
      [h.running, h.last].some((d) => d !== null && isSignatureFailure(d.signature, fleet.checked)),
  );
}

/** The counts of the summary line: each host once among the categories, and paused, stale, signature failures on top. */
export type FleetSummary = { readonly hosts: number } & Readonly<Record<Exclude<HostCategory, 'none'>, number>> & {
    readonly paused: number;
    readonly stale: number;
    readonly signatureFailures: number;
  };

/** Counts the hosts of a fleet view. */
export function summarize(fleet: FleetStatus): FleetSummary {
  const counts = {
    hosts: fleet.hosts.length,
    'at-head': 0,
    behind: 0,
    refused: 0,
    'rolled-back': 0,
    untrusted: 0,
    held: 0,
    running: 0,
    unreadable: 0,
    paused: 0,
    stale: 0,
    signatureFailures: 0,
  };
  for (const h of fleet.hosts) {
    if (h.category !== 'none') counts[h.category]++;
    if (h.paused !== null) counts.paused++;
    if (h.stale === true) counts.stale++;
    if (h.signatureFailure) counts.signatureFailures++;
  }
  return counts;
}

/** What `--failed`, `--stale` keep (the host pattern is applied before reading, see hostMatcher). */
export interface FleetFilter {
  /** Only hosts whose report is a failure (refused, rolled back, untrusted), unreadable, or failed its signature. */
  readonly failed?: boolean;
  /** Only hosts whose newest believed report is older than this (ms) at now, or that have none. */
  readonly staleMs?: number;
  readonly now?: Date;
}

const FAILED: ReadonlySet<HostCategory> = new Set(['refused', 'rolled-back', 'untrusted', 'unreadable']);

/** The hosts of a fleet view that pass the filter (all when it is empty). */
export function filterFleet(fleet: FleetStatus, filter: FleetFilter): FleetStatus {
  const now = (filter.now ?? new Date()).getTime();
  const keep = (h: HostStatus): boolean =>
    (filter.failed !== true || FAILED.has(h.category) || h.signatureFailure) &&
    (filter.staleMs === undefined || h.lastSeen === null || now - h.lastSeen.getTime() > filter.staleMs);
  return { ...fleet, hosts: fleet.hosts.filter(keep) };
}

/**
 * A host-name glob (`web*`, `fw?`, `db[12]`, several separated by commas) as a predicate. Host names
 * hold no `/`, so `*` is any run of characters.
 */
export function hostMatcher(pattern: string): (host: string) => boolean {
  const res = pattern
    .split(',')
    .filter((p) => p !== '')
    .map((p) => {
      let re = '';
      for (let i = 0; i < p.length; i++) {
        const c = p[i] as string;
        if (c === '*') re += '.*';
        else if (c === '?') re += '.';
        else if (c === '[') {
          const end = p.indexOf(']', i + 2);
          if (end < 0) re += '\\[';
          else {
            const body = p.slice(i + 1, end).replace(/\\/g, '\\\\');
            re += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
            i = end;
          }
        } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
      }
      return new RegExp(`^${re}$`);
    });
  return (host) => res.some((r) => r.test(host));
}

/** Whether pattern is a glob (names hosts by pattern) rather than one host's name. */
export function isGlob(pattern: string): boolean {
  return /[*?[,]/.test(pattern);
}

const iso = (d: Date | null | undefined): string | null => d?.toISOString() ?? null;

/** A report as JSON: the whole record (every error whole), its tag, its signature. */
export function reportJson(tag: string, oid: string | null, r: StatusRecord, signature: SignatureState, signatureDetail: string): unknown {
  const link = (l: TagLink | undefined): TagLink | null => l ?? null;
  return {
    tag,
    oid,
    result: r.result,
    commit: r.commit,
    previous: r.previous,
    time: r.time.toISOString(),
    heartbeat: r.heartbeat === true,
    held: r.held ?? null,
    ring: r.ring ?? null,
    errors: r.errors,
    previousTag: link(r.previousTag),
    agent: r.agent,
    signature,
    signatureDetail,
  };
}

/** The fleet view as plain JSON data (times as ISO 8601 strings). */
export function fleetStatusJson(fleet: FleetStatus): unknown {
  const d = (x: Decision | null): unknown => (x === null ? null : { ...x, time: x.time.toISOString() });
  const { hosts, ...summary } = summarize(fleet);
  return {
    branch: fleet.branch,
    head: fleet.head,
    signaturesChecked: fleet.checked,
    source: fleet.source,
    summary: { hosts, ...summary },
    hosts: fleet.hosts.map((h) => ({
      host: h.host,
      running: d(h.running),
      last: d(h.last),
      headApplied: h.headApplied,
      ignored: h.ignored,
      lastSeen: iso(h.lastSeen),
      stale: h.stale,
      paused: h.paused === null ? null : { ...h.paused, until: iso(h.paused.until) },
      runs: h.runs,
      category: h.category,
      signatureFailure: h.signatureFailure,
      report:
        h.report === null ? null : reportJson(h.report.tag, h.report.oid, h.report.record, h.report.signature, h.report.signatureDetail),
      followed:
        h.followed === null
          ? null
          : reportJson(h.followed.tag, h.followed.oid, h.followed.record, h.followed.signature, h.followed.signatureDetail),
    })),
  };
}
