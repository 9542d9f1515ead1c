import { summarize, type FleetStatus, type HostStatus } from './fleet-status.js';
import type { HistoryEntry } from './status-history.js';

// The fleet view and a host's history as text: a table whose last column is cut to the terminal's
// width (whole with --host, and always whole in --json), and a summary line. Pure: the width is given.

/** How wide the table may be, and whether the last column is cut to it (false: whole, for --host). */
export interface TableLayout {
  readonly width: number;
  readonly truncate: boolean;
}

/** The width used when the output is not a terminal and $COLUMNS is not set. */
export const DEFAULT_WIDTH = 100;

/** The least the last column keeps however narrow the terminal: a line that overflows beats a column of `…`. */
const MIN_LAST = 12;

/** `2025-03-01 12:34 UTC`. */
export function when(d: Date): string {
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** s cut to n characters, the last one `…` when cut. */
export function ellipsize(s: string, n: number): string {
  const chars = [...s];
  return chars.length <= n ? s : `${chars.slice(0, Math.max(n - 1, 0)).join('')}…`;
}

/**
 * Left-aligned columns separated by two spaces, without trailing spaces; with layout.truncate, the
 * last column is cut so that each line fits layout.width.
 */
export function columns(rows: readonly string[][], layout: TableLayout): string[] {
  const widths: number[] = [];
  for (const row of rows) row.slice(0, -1).forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)));
  const lead = widths.reduce((a, w) => a + w + 2, 0);
  const room = Math.max(layout.width - lead, MIN_LAST);
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? (layout.truncate ? ellipsize(cell, room) : cell) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

/** `5,000 hosts: 4,212 at head, 3 refused, 780 behind, 5 stale`: every count that is not zero. */
export function summaryLine(fleet: FleetStatus): string {
  const s = summarize(fleet);
  if (s.hosts === 0) return '0 hosts';
  const n = (k: number): string => k.toLocaleString('en-US');
  const parts = [
    [s['at-head'], `${n(s['at-head'])} at head`],
    [s.refused, `${n(s.refused)} refused`],
    [s['rolled-back'], `${n(s['rolled-back'])} rolled back`],
    [s.untrusted, `${n(s.untrusted)} untrusted`],
    [s.held, `${n(s.held)} held`],
    [s.behind, `${n(s.behind)} behind`],
    [s.running, `${n(s.running)} running (head unknown)`],
    [s.unreadable, `${n(s.unreadable)} unreadable`],
    [s.paused, `${n(s.paused)} paused`],
    [s.stale, `${n(s.stale)} stale`],
    [s.signatureFailures, plural(s.signatureFailures, 'signature failure')],
  ] as const;
  return `${plural(s.hosts, 'host')}: ${parts
    .filter(([k]) => k > 0)
    .map(([, t]) => t)
    .join(', ')}`;
}

/** The REPORT cell: the result, the heartbeat, and the commit when it is not the one the host runs. */
function reportCell(h: HostStatus): string {
  if (h.report === null) return h.category === 'unreadable' ? 'unreadable' : '-';
  const r = h.report.record;
  const what = r.heartbeat === true ? 'heartbeat' : r.result;
  return r.commit === h.runs ? what : `${what} ${r.commit.slice(0, 12)}`;
}

/** The DETAIL cell: why (first error line, held reason, ignored tag), paused, stale. */
function detailCell(h: HostStatus): string {
  const parts: string[] = [];
  const f = h.followed?.record;
  if (f !== undefined)
    parts.push(`after ${f.result} ${f.commit.slice(0, 12)}${f.errors[0] === undefined ? '' : `: ${f.errors[0].split('\n')[0]}`}`);
  const r = h.report?.record;
  if (r?.held !== undefined) parts.push(r.held.split('\n')[0] ?? '');
  else if (r !== undefined && r.errors.length > 0) parts.push(r.errors[0]?.split('\n')[0] ?? '');
  if (h.report === null && h.ignored[0] !== undefined)
    parts.push(h.signatureFailure ? `not believed: signature ${h.ignored[0].signature}` : `unreadable: ${h.ignored[0].reason}`);
  if (h.paused !== null)
    parts.push(
      `paused by ${h.paused.by}${h.paused.until === null ? '' : ` until ${when(h.paused.until)}`}${h.paused.reason === null ? '' : `: ${h.paused.reason}`}`,
    );
  if (h.stale === true) parts.push('stale: is its agent running?');
  return parts.join('; ') || '';
}

/**
 * The fleet view as text: the branch head, a table (HOST RUNS HEAD REPORT SEEN SIGNATURE DETAIL), a
 * line per ignored tag, the errors whole when not truncating (--host), then the summary line.
 */
export function renderFleetTable(fleet: FleetStatus, layout: TableLayout = { width: DEFAULT_WIDTH, truncate: false }): string {
  const head = fleet.head === null ? `${fleet.branch}: no such branch here` : `${fleet.branch} is at ${fleet.head.slice(0, 12)}`;
  if (fleet.hosts.length === 0) {
    const none = fleet.source === 'current' ? 'no host matches' : 'no status tags (nfgit/*): fetch them with `git fetch --tags`';
    return `${head}\n${none}\n`;
  }
  const rows = [['HOST', 'RUNS', 'HEAD', 'REPORT', 'SEEN (UTC)', 'SIGNATURE', 'DETAIL']];
  for (const h of fleet.hosts) {
    rows.push([
      h.host,
      h.runs?.slice(0, 12) ?? '(none)',
      h.headApplied === null ? '?' : h.headApplied ? 'yes' : 'no',
      reportCell(h),
      h.lastSeen === null ? '-' : when(h.lastSeen).slice(0, -4),
      h.report?.signature ?? h.ignored[0]?.signature ?? '-',
      detailCell(h),
    ]);
  }
  const lines = [head, ...columns(rows, layout)];
  // Whole, whatever the width: each is a report that was not believed, the reason for exit status 1.
  for (const h of fleet.hosts) for (const i of h.ignored) lines.push(`${h.host}: ignored ${i.tag}: ${i.reason}`);
  if (!layout.truncate)
    for (const h of fleet.hosts) {
      const errors = [...(h.followed?.record.errors ?? []), ...(h.report?.record.errors ?? [])];
      for (const e of errors) if (e.includes('\n')) lines.push(`${h.host}: error: ${e.replace(/\n/g, '\n  ')}`);
    }
  lines.push(summaryLine(fleet));
  return lines.join('\n') + '\n';
}

/** A host's history as text, newest first: TIME RESULT COMMIT TAG SIGNATURE FOUND DETAIL, every error whole below its row. */
export function renderHistory(host: string, entries: readonly HistoryEntry[]): string {
  if (entries.length === 0)
    return `${host}: no reports (no refs/nfgit/hosts/${host} and no tags nfgit/${host}/*; fetch them, see nfgit status --help)\n`;
  const lines: string[] = [];
  const rows = [['TIME', 'RESULT', 'COMMIT', 'TAG', 'SIGNATURE', 'FOUND', 'DETAIL']];
  const extra: string[][] = [];
  for (const e of entries) {
    const r = 'error' in e.record ? null : e.record;
    const detail = r === null ? (e.record as { error: string }).error : (r.held ?? r.errors[0] ?? '');
    const [first = '', ...more] = detail.split('\n');
    rows.push([
      r === null ? (e.taggerTime === null ? '-' : when(e.taggerTime)) : when(r.time),
      r === null ? 'unreadable' : r.heartbeat === true ? 'heartbeat' : r.result,
      r?.commit.slice(0, 12) ?? '-',
      e.name ?? e.ref,
      e.signature,
      e.via,
      first,
    ]);
    const rest = [...more, ...(r?.errors.slice(r.held === undefined ? 1 : 0) ?? []).flatMap((x) => x.split('\n'))];
    extra.push(rest);
  }
  const table = columns(rows, { width: 0, truncate: false });
  lines.push(table[0] as string);
  table.slice(1).forEach((line, i) => {
    lines.push(line);
    for (const l of extra[i] ?? []) lines.push(`    ${l}`);
  });
  return lines.join('\n') + '\n';
}
