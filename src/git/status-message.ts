import { InternalError, UsageError } from '../errors/errors.js';

// The message of a status tag: a one-line summary for `git tag -n` and `git log --decorate`, then git
// trailers (git-interpret-trailers(1)) that `git interpret-trailers --parse` and nfgit both read.
// Pure: no I/O, no clock.

/**
 * What a host decided about a commit. `held` is not a decision but a report: a staged rollout keeps the
 * host on its running commit (`Previous`) until the earlier ring is healthy on this one (`Held:` says why).
 */
export type StatusResult = 'applied' | 'refused' | 'rolled-back' | 'untrusted' | 'held';

/** Every StatusResult, in the order the documentation lists them. */
export const STATUS_RESULTS: readonly StatusResult[] = ['applied', 'refused', 'rolled-back', 'untrusted', 'held'];

/** A status tag named by another: its name (`nfgit/HOST/COMMIT[.N]`) and the tag object's id. */
export interface TagLink {
  readonly name: string;
  readonly oid: string;
}

/** One address family of a compiled ruleset: its rule count and digest (`sha256:…`). */
export interface FamilyCount {
  readonly rules: number;
  readonly digest: string;
}

/** What an apply changed in one family, as `apply` and `diff` count it: rules added and removed. */
export interface ChangeCount {
  readonly added: number;
  readonly removed: number;
}

/** One decision of one host about one commit, as written into its status tag. */
export interface StatusRecord {
  readonly result: StatusResult;
  readonly host: string;
  /** The full object id of the commit decided on. */
  readonly commit: string;
  /** The commit the host ran before this decision; null when it ran none. */
  readonly previous: string | null;
  /** Empty when the commit was not compiled. */
  readonly rules: { readonly ipv4?: FamilyCount; readonly ipv6?: FamilyCount };
  /** For an applied commit: what the apply changed against the ruleset before (`Change-IPv4: +3 -1`). */
  readonly changes?: { readonly ipv4?: ChangeCount; readonly ipv6?: ChangeCount };
  /** Why the commit was refused or rolled back, for example `rules/30-web:14: unknown option "--dporrt"`; may be multi-line. */
  readonly errors: readonly string[];
  /** `nfgit VERSION`. */
  readonly agent: string;
  readonly time: Date;
  /**
   * Not a decision but the host saying it still runs the commit (`Heartbeat: yes`): written at most
   * hourly when nothing else is, and when a pause starts or ends, so the fleet view can tell a silent host.
   */
  readonly heartbeat?: boolean;
  /** The agent was paused by an admin when it wrote this (`Paused-By`, `Paused-Until`, `Paused-Reason`). */
  readonly paused?: PauseInfo;
  /** The host's rollout ring (`Ring: canary`), when the configuration gives one. */
  readonly ring?: string;
  /** How an applied commit was loaded (`Apply-Path: incremental 3` or `full: why`); absent before nfgit had both. */
  readonly applyPath?: string;
  /** Why a `held` report holds the commit (`Held: waiting for canary fw1, fw2`). */
  readonly held?: string;
  /**
   * The host's newest decision tag before this report (`Previous-Tag: NAME OID`): a host's history is
   * walked from its current status ref through these, without listing its tags.
   */
  readonly previousTag?: TagLink;
}

/** A pause as a status tag tells it. */
export interface PauseInfo {
  readonly by: string;
  readonly until: Date | null;
  readonly reason: string | null;
}

const OID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
/** A host name usable as one component of a ref name (git-check-ref-format(1)) and in `HOST@nfgit`. */
const HOST = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const SUMMARY_ERROR_MAX = 200;

/** Whether host can name status tags: letters, digits, `.`, `_`, `-`, not starting with `.` or `-`, no `..`, not ending in `.lock` or `.`. */
export function isValidHostName(host: string): boolean {
  return HOST.test(host) && !host.includes('..') && !host.endsWith('.lock') && !host.endsWith('.') && host.length <= 253;
}

/** The status tag name of host for commit: `nfgit/HOST/` and the first 12 digits of the commit. */
export function statusTagName(host: string, commit: string): string {
  if (!isValidHostName(host)) {
    throw new UsageError(
      `"${host}" cannot name a status tag: a host name may hold letters, digits, ".", "_" and "-", and must not start with "." or "-"`,
    );
  }
  if (!OID.test(commit)) throw new InternalError(`"${commit}" is not a full commit id`);
  return `nfgit/${host}/${commit.slice(0, 12)}`;
}

/**
 * A value line of a multi-line trailer: a blank (or all-space) line gets a `.` in front, because git
 * ends the trailer block at a blank line; so does a line starting with `.`, to read back unchanged.
 */
function escapeLine(line: string): string {
  return line.trim() === '' || line.startsWith('.') ? `.${line}` : line;
}

function unescapeLine(line: string): string {
  return line.startsWith('.') ? line.slice(1) : line;
}

/** `Key: value`, with the value's further lines folded as continuation lines (a leading space). */
function trailer(key: string, value: string): string {
  const [first = '', ...rest] = value.replace(/\r\n?/g, '\n').split('\n');
  return [`${key}: ${escapeLine(first)}`, ...rest.map((l) => ` ${escapeLine(l)}`)].join('\n');
}

/** The summary line: `HOST: RESULT SHORT` and, when there is one, `: ` and the first line of the first error. */
function summary(r: StatusRecord): string {
  const state = r.paused !== undefined ? ' (paused)' : r.heartbeat === true ? ' (heartbeat)' : '';
  const head = `${r.host}: ${r.result} ${r.commit.slice(0, 12)}${state}`;
  const first = (r.held ?? r.errors[0])?.split(/\r?\n/)[0]?.trim();
  if (first === undefined || first === '') return head;
  return `${head}: ${first.length > SUMMARY_ERROR_MAX ? `${first.slice(0, SUMMARY_ERROR_MAX - 1)}…` : first}`;
}

function familyValue(f: FamilyCount): string {
  return `${f.rules} ${f.digest}`;
}

/** The tag message for a record: summary line, blank line, trailers; no final newline (isomorphic-git adds one). */
export function formatStatusMessage(r: StatusRecord): string {
  const lines = [
    trailer('Result', r.result),
    trailer('Host', r.host),
    trailer('Commit', r.commit),
    trailer('Previous', r.previous ?? 'none'),
  ];
  if (r.rules.ipv4 !== undefined) lines.push(trailer('Rules-IPv4', familyValue(r.rules.ipv4)));
  if (r.rules.ipv6 !== undefined) lines.push(trailer('Rules-IPv6', familyValue(r.rules.ipv6)));
  if (r.changes?.ipv4 !== undefined) lines.push(trailer('Change-IPv4', `+${r.changes.ipv4.added} -${r.changes.ipv4.removed}`));
  if (r.changes?.ipv6 !== undefined) lines.push(trailer('Change-IPv6', `+${r.changes.ipv6.added} -${r.changes.ipv6.removed}`));
  for (const e of r.errors) lines.push(trailer('Error', e));
  if (r.heartbeat === true) lines.push(trailer('Heartbeat', 'yes'));
  if (r.held !== undefined) lines.push(trailer('Held', r.held));
  if (r.ring !== undefined) lines.push(trailer('Ring', r.ring));
  if (r.applyPath !== undefined) lines.push(trailer('Apply-Path', r.applyPath));
  if (r.previousTag !== undefined) lines.push(trailer('Previous-Tag', `${r.previousTag.name} ${r.previousTag.oid}`));
  if (r.paused !== undefined) {
    lines.push(trailer('Paused-By', r.paused.by), trailer('Paused-Until', r.paused.until?.toISOString() ?? 'resume'));
    if (r.paused.reason !== null) lines.push(trailer('Paused-Reason', r.paused.reason));
  }
  lines.push(trailer('Agent', r.agent), trailer('Time', r.time.toISOString()));
  return `${summary(r)}\n\n${lines.join('\n')}`;
}

/** Splits the last paragraph of a message into trailers, unfolding continuation lines; a message when it is not a trailer block. */
function parseTrailers(message: string): Array<[string, string]> | string {
  const paragraphs = message
    .replace(/\r\n?/g, '\n')
    .replace(/\n+$/, '')
    .split(/\n[ \t]*\n/);
  if (paragraphs.length < 2) return 'the message has no trailer block (a blank line, then Key: value lines)';
  const block = paragraphs[paragraphs.length - 1] ?? '';
  const out: Array<[string, string]> = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(' ') || line.startsWith('\t')) {
      const last = out[out.length - 1];
      if (last === undefined) return `a continuation line comes before any trailer: "${line}"`;
      last[1] += `\n${unescapeLine(line.slice(1))}`;
      continue;
    }
    const m = /^([A-Za-z0-9-]+): ?(.*)$/.exec(line);
    if (m === null) return `not a trailer line: "${line}"`;
    out.push([m[1] ?? '', unescapeLine(m[2] ?? '')]);
  }
  return out;
}

function parseFamily(key: string, value: string): FamilyCount | string {
  const m = /^(\d+) (\S+)$/.exec(value);
  if (m === null) return `${key} must be "COUNT DIGEST", not "${value}"`;
  return { rules: Number(m[1]), digest: m[2] ?? '' };
}

/** Reads a status tag message back; `{error}` says what is wrong when it is not one nfgit wrote. */
export function parseStatusMessage(message: string): StatusRecord | { error: string } {
  const trailers = parseTrailers(message);
  if (typeof trailers === 'string') return { error: trailers };
  const single = new Map<string, string>();
  const errors: string[] = [];
  for (const [key, value] of trailers) {
    const k = key.toLowerCase();
    if (k === 'error') errors.push(value);
    else if (single.has(k)) return { error: `the ${key} trailer appears twice` };
    else single.set(k, value);
  }
  const fields: Record<string, string> = {};
  for (const key of ['Result', 'Host', 'Commit', 'Previous', 'Agent', 'Time']) {
    const v = single.get(key.toLowerCase());
    if (v === undefined) return { error: `the ${key} trailer is missing` };
    fields[key] = v;
  }
  const { Result: result = '', Host: host = '', Commit: commit = '', Previous: previous = '', Agent: agent = '', Time: time = '' } = fields;
  if (!STATUS_RESULTS.includes(result as StatusResult))
    return { error: `unknown Result "${result}" (expected ${STATUS_RESULTS.join(', ')})` };
  if (!isValidHostName(host)) return { error: `Host "${host}" is not a valid host name` };
  if (!OID.test(commit)) return { error: `Commit "${commit}" is not a full commit id` };
  if (previous !== 'none' && !OID.test(previous)) return { error: `Previous "${previous}" is neither a full commit id nor "none"` };
  const when = new Date(time);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(time) || Number.isNaN(when.getTime())) return { error: `Time "${time}" is not an ISO 8601 time` };
  const rules: { ipv4?: FamilyCount; ipv6?: FamilyCount } = {};
  for (const [key, family] of [
    ['Rules-IPv4', 'ipv4'],
    ['Rules-IPv6', 'ipv6'],
  ] as const) {
    const v = single.get(key.toLowerCase());
    if (v === undefined) continue;
    const f = parseFamily(key, v);
    if (typeof f === 'string') return { error: f };
    rules[family] = f;
  }
  const changes: { ipv4?: ChangeCount; ipv6?: ChangeCount } = {};
  for (const [key, family] of [
    ['Change-IPv4', 'ipv4'],
    ['Change-IPv6', 'ipv6'],
  ] as const) {
    const v = single.get(key.toLowerCase());
    if (v === undefined) continue;
    const m = /^\+(\d+) -(\d+)$/.exec(v);
    if (m === null) return { error: `${key} must be "+ADDED -REMOVED", not "${v}"` };
    changes[family] = { added: Number(m[1]), removed: Number(m[2]) };
  }
  // Tags of an nfgit before heartbeats and pauses have neither trailer: a decision, not paused.
  const heartbeat = single.get('heartbeat');
  if (heartbeat !== undefined && heartbeat !== 'yes') return { error: `Heartbeat must be "yes", not "${heartbeat}"` };
  let paused: PauseInfo | undefined;
  const by = single.get('paused-by');
  if (by !== undefined) {
    const until = single.get('paused-until') ?? 'resume';
    const untilTime = new Date(until);
    if (until !== 'resume' && Number.isNaN(untilTime.getTime()))
      return { error: `Paused-Until must be an ISO 8601 time or "resume", not "${until}"` };
    paused = { by, until: until === 'resume' ? null : untilTime, reason: single.get('paused-reason') ?? null };
  }
  const held = single.get('held');
  if (result === 'held' && held === undefined) return { error: 'a held report must say why (the Held trailer is missing)' };
  const applyPath = single.get('apply-path');
  const ring = single.get('ring');
  if (ring !== undefined && !isValidRingName(ring)) return { error: `Ring "${ring}" is not a valid ring name` };
  let previousTag: TagLink | undefined;
  const link = single.get('previous-tag');
  if (link !== undefined) {
    const m = /^(nfgit\/\S+) ([0-9a-f]{40}|[0-9a-f]{64})$/.exec(link);
    if (m === null) return { error: `Previous-Tag must be "nfgit/HOST/COMMIT TAG-ID", not "${link}"` };
    previousTag = { name: m[1] ?? '', oid: m[2] ?? '' };
  }
  return {
    result: result as StatusResult,
    host,
    commit,
    previous: previous === 'none' ? null : previous,
    rules,
    ...(Object.keys(changes).length > 0 ? { changes } : {}),
    errors,
    agent,
    time: when,
    ...(heartbeat === 'yes' ? { heartbeat: true } : {}),
    ...(paused === undefined ? {} : { paused }),
    ...(ring === undefined ? {} : { ring }),
    ...(applyPath === undefined ? {} : { applyPath }),
    ...(held === undefined ? {} : { held }),
    ...(previousTag === undefined ? {} : { previousTag }),
  };
}

/** Whether name can name a rollout ring: `canary`, `1`, `eu-west`… (letters, digits, `.`, `_`, `-`; at most 63). */
export function isValidRingName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name);
}

/** The ref that always points at a host's newest status tag object (a decision, heartbeat or held report). */
export function hostStatusRef(host: string): string {
  if (!isValidHostName(host)) throw new InternalError(`"${host}" is not a valid host name`);
  return `${HOST_STATUS_REFS}${host}`;
}

/** The prefix of every host's current status ref. */
export const HOST_STATUS_REFS = 'refs/nfgit/hosts/';
