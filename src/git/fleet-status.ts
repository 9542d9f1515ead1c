import type { PauseInfo, StatusRecord, StatusResult } from './status-message.js';
import type { SignatureState, StatusTag } from './status-tags.js';

// The fleet view of `nfgit status`: per host, what it runs and what it last decided, from its status
// tags. Pure: the tags and the branch head are read by the caller.

/** A decision taken from one status tag. */
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

/** One host's line of the fleet view. */
export interface HostStatus {
  readonly host: string;
  /** The newest `applied` decision: the commit the host runs. */
  readonly running: Decision | null;
  /** The newest decision of any result. */
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
  readonly hosts: readonly HostStatus[];
}

/** Signature states that make a tag unusable when signatures are checked. */
const UNTRUSTED: ReadonlySet<SignatureState> = new Set(['bad', 'untrusted', 'wrong-host', 'unsigned']);

/** Whether a signature state is a failure: only when signatures are checked. */
export function isSignatureFailure(state: SignatureState, checked: boolean): boolean {
  return checked && UNTRUSTED.has(state);
}

function decision(tag: StatusTag, r: StatusRecord): Decision {
  const first = r.errors[0]?.split('\n')[0] ?? null;
  return { tag: tag.name, result: r.result, commit: r.commit, time: r.time, firstError: first, signature: tag.signature };
}

/**
 * Builds the fleet view. When checked, tags whose signature is bad, untrusted, by another host or
 * missing are not believed: they are listed as ignored, never taken as what a host runs.
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
    const decisions: Decision[] = [];
    // Every believed report, heartbeats too: the newest says when the host was last heard of, and whether it was paused.
    const reports: StatusRecord[] = [];
    for (const t of byHost.get(host) ?? []) {
      if (isSignatureFailure(t.signature, checked))
        ignored.push({ tag: t.name, reason: `signature ${t.signature}: ${t.signatureDetail}`, signature: t.signature });
      else if ('error' in t.record) ignored.push({ tag: t.name, reason: t.record.error, signature: t.signature });
      else {
        reports.push(t.record);
        if (t.record.heartbeat !== true) decisions.push(decision(t, t.record));
      }
    }
    decisions.sort((a, b) => b.time.getTime() - a.time.getTime() || (a.tag < b.tag ? 1 : -1));
    reports.sort((a, b) => b.time.getTime() - a.time.getTime());
    const running = decisions.find((d) => d.result === 'applied') ?? null;
    const newest = reports[0] ?? null;
    const lastSeen = newest?.time ?? null;
    hosts.push({
      host,
      running,
      last: decisions[0] ?? null,
      headApplied: head === null ? null : running?.commit === head,
      ignored,
      lastSeen,
      stale: liveness === null || lastSeen === null ? null : liveness.now.getTime() - lastSeen.getTime() > liveness.staleAfterMs,
      paused: newest?.paused ?? null,
    });
  }
  return { branch, head, checked, hosts };
}

/** Whether any tag's checked signature failed (the exit status of `nfgit status`). */
export function hasSignatureFailures(fleet: FleetStatus): boolean {
  return fleet.hosts.some(
    (h) =>
      h.ignored.some((i) => isSignatureFailure(i.signature, fleet.checked)) ||
      [h.running, h.last].some((d) => d !== null && isSignatureFailure(d.signature, fleet.checked)),
  );
}

/** `2025-03-01 12:34 UTC`. */
function when(d: Date): string {
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** Left-aligned columns separated by two spaces, without trailing spaces. */
function columns(rows: readonly string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/** The fleet view as a text table, then one line per ignored tag. */
export function renderFleetTable(fleet: FleetStatus): string {
  const head = fleet.head === null ? `${fleet.branch}: no such branch here` : `${fleet.branch} is at ${fleet.head.slice(0, 12)}`;
  if (fleet.hosts.length === 0) return `${head}\nno status tags (nfgit/*): fetch them with \`git fetch --tags\`\n`;
  const rows = [['HOST', 'RUNS', 'SINCE', 'HEAD', 'SIGNATURE', 'LAST DECISION']];
  for (const h of fleet.hosts) {
    const last =
      h.last === null
        ? '-'
        : `${h.last.result} ${h.last.commit.slice(0, 12)} ${when(h.last.time)}${h.last.firstError === null ? '' : `: ${h.last.firstError}`}`;
    const sig = [...new Set([h.running, h.last].filter((d): d is Decision => d !== null).map((d) => d.signature))].join(',') || '-';
    rows.push([
      h.host,
      h.running?.commit.slice(0, 12) ?? '(none)',
      h.running === null ? '-' : when(h.running.time),
      h.headApplied === null ? '?' : h.headApplied ? 'yes' : 'no',
      sig,
      last,
    ]);
  }
  const lines = [head, ...columns(rows)];
  for (const h of fleet.hosts) {
    if (h.paused !== null)
      lines.push(
        `${h.host}: paused by ${h.paused.by}${h.paused.until === null ? '' : ` until ${when(h.paused.until)}`}${h.paused.reason === null ? '' : `: ${h.paused.reason}`}`,
      );
    if (h.stale === true && h.lastSeen !== null)
      lines.push(
        `${h.host}: stale: its newest report is from ${when(h.lastSeen)}; is its agent running? (nfgit status --local on the host)`,
      );
  }
  for (const h of fleet.hosts) for (const i of h.ignored) lines.push(`${h.host}: ignored ${i.tag}: ${i.reason}`);
  return lines.join('\n') + '\n';
}

/** The fleet view as plain JSON data (times as ISO 8601 strings). */
export function fleetStatusJson(fleet: FleetStatus): unknown {
  const d = (x: Decision | null): unknown => (x === null ? null : { ...x, time: x.time.toISOString() });
  return {
    branch: fleet.branch,
    head: fleet.head,
    signaturesChecked: fleet.checked,
    hosts: fleet.hosts.map((h) => ({
      host: h.host,
      running: d(h.running),
      last: d(h.last),
      headApplied: h.headApplied,
      ignored: h.ignored,
      lastSeen: h.lastSeen?.toISOString() ?? null,
      stale: h.stale,
      paused: h.paused === null ? null : { ...h.paused, until: h.paused.until?.toISOString() ?? null },
    })),
  };
}
