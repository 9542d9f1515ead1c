import { parseIpsetSave } from './ipset-driver.js';

// What differs between two `ipset save` outputs, for the sets nfgit owns or is about to load. Pure: no
// I/O. Compared set by set: the header (type and options) and the members as sets of lines. What the
// kernel changes by itself is left out: the random `initval` of hash sets, `hashsize` (ipset(8): only
// the initial size; the kernel grows it as members are added), and per member the remaining `timeout`
// and the `packets`/`bytes` counters.

/** One set as compared: its header after the name, and its members (element and their options). */
export interface ComparedSet {
  readonly name: string;
  /** `TYPE options…`, without initval and hashsize. */
  readonly header: string;
  /** Sorted, without the remaining timeout and counters. */
  readonly members: readonly string[];
}

/** What changes in one set from `before` to `after`. Unchanged sets are not listed. */
export interface SetChange {
  readonly set: string;
  /** `added`: absent before; `removed`: absent after; `changed`: members or header differ. */
  readonly status: 'added' | 'removed' | 'changed';
  /** The header on each side, when it differs (null where the set is absent). */
  readonly header: { readonly before: string | null; readonly after: string | null } | null;
  /** Members only after, sorted. */
  readonly added: readonly string[];
  /** Members only before, sorted. */
  readonly removed: readonly string[];
}

/** The counts of a list of set changes, as `apply` and `diff` report them. */
export interface SetCounts {
  readonly setsAdded: readonly string[];
  readonly setsRemoved: readonly string[];
  readonly membersAdded: number;
  readonly membersRemoved: number;
}

function normalizeHeader(rest: string): string {
  return rest.replace(/ initval 0x[0-9a-f]+/, '').replace(/ hashsize \d+/, '');
}

function normalizeMember(rest: string): string {
  return rest.replace(/ timeout \d+/, '').replace(/ packets \d+ bytes \d+/, '');
}

/** Parses `ipset save` output into the sets named (all when `names` is undefined), by name. */
export function parseSets(save: string, names?: readonly string[]): Map<string, ComparedSet> {
  const want = names === undefined ? undefined : new Set(names);
  const sets = new Map<string, ComparedSet>();
  for (const s of parseIpsetSave(save)) {
    if (want === undefined || want.has(s.name))
      sets.set(s.name, { name: s.name, header: normalizeHeader(s.create), members: s.adds.map(normalizeMember).sort() });
  }
  return sets;
}

/**
 * The canonical form of the sets named, from `ipset save`: sets by name, members sorted, initval,
 * hashsize, remaining timeouts and counters dropped. What drift detection compares with.
 */
export function canonicalSets(save: string, names: readonly string[]): string {
  const sets = parseSets(save, names);
  const lines = [...sets.keys()].sort().flatMap((name) => {
    const s = sets.get(name) as ComparedSet;
    return [`create ${name} ${s.header}`, ...s.members.map((m) => `add ${name} ${m}`)];
  });
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}

/** Sorted a minus sorted b. */
function minus(a: readonly string[], b: readonly string[]): string[] {
  const other = new Set(b);
  return a.filter((x) => !other.has(x));
}

/**
 * The sets named that differ between two `ipset save` outputs, in the order of `names`. A set absent
 * on both sides is left out. `ignoreMembers` names sets whose members are not compared (filled at
 * run time: a default timeout, or a rule's `-j SET --add-set`).
 */
export function diffSets(
  before: string,
  after: string,
  names: readonly string[],
  ignoreMembers: ReadonlySet<string> = new Set(),
): SetChange[] {
  const a = parseSets(before, names);
  const b = parseSets(after, names);
  const out: SetChange[] = [];
  for (const name of [...new Set(names)]) {
    const sa = a.get(name);
    const sb = b.get(name);
    if (sa === undefined && sb === undefined) continue;
    const members = !ignoreMembers.has(name);
    const added = members ? minus(sb?.members ?? [], sa?.members ?? []) : [];
    const removed = members ? minus(sa?.members ?? [], sb?.members ?? []) : [];
    const headerChanged = sa?.header !== sb?.header;
    if (!headerChanged && added.length === 0 && removed.length === 0) continue;
    out.push({
      set: name,
      status: sa === undefined ? 'added' : sb === undefined ? 'removed' : 'changed',
      header: headerChanged ? { before: sa?.header ?? null, after: sb?.header ?? null } : null,
      added,
      removed,
    });
  }
  return out;
}

/** Sums a list of set changes. */
export function countSets(changes: readonly SetChange[]): SetCounts {
  return {
    setsAdded: changes.filter((c) => c.status === 'added').map((c) => c.set),
    setsRemoved: changes.filter((c) => c.status === 'removed').map((c) => c.set),
    membersAdded: changes.reduce((n, c) => n + c.added.length, 0),
    membersRemoved: changes.reduce((n, c) => n + c.removed.length, 0),
  };
}

/**
 * Sets whose members change at run time, so that drift must not compare them: sets with a default
 * timeout (members expire), and sets a rule fills (`-j SET --add-set`/`--del-set`, `--map-set`) in
 * the canonical iptables-save text of either family.
 */
export function runtimeFilledSets(sets: string, rules: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const s of parseSets(sets).values()) if (/(^| )timeout \d+/.test(s.header)) out.add(s.name);
  for (const text of rules) for (const m of text.matchAll(/--(?:add|del|map)-set (\S+)/g)) out.add(m[1] as string);
  return out;
}

/** `nfgit diff`'s account of set changes: a line per set, then its members (`+`/`-`), at most `maxMembers` a set. */
export function renderSetDiff(changes: readonly SetChange[], maxMembers = 20): string[] {
  const out: string[] = [];
  for (const c of changes) {
    const what =
      c.status === 'added'
        ? ` (new: ${c.header?.after ?? ''})`
        : c.status === 'removed'
          ? ' (removed)'
          : c.header !== null
            ? ` (${c.header.before ?? ''} → ${c.header.after ?? ''})`
            : '';
    out.push(`ipset ${c.set}${what}: +${c.added.length} -${c.removed.length} members`);
    const lines = [...c.removed.map((m) => `  - ${m}`), ...c.added.map((m) => `  + ${m}`)];
    out.push(...lines.slice(0, maxMembers));
    if (lines.length > maxMembers) out.push(`  … ${lines.length - maxMembers} more member(s)`);
  }
  return out;
}

/** `ipsets: 2 set(s), +3 -1 members; sets added: a; sets removed: b`: what an apply did to the sets. */
export function describeSetsOutcome(outcome: { readonly sets: number; readonly change: SetCounts | undefined }): string {
  const c = outcome.change;
  if (c === undefined) return `ipsets: ${outcome.sets} set(s) (could not read the sets back to compare)`;
  const parts = [`ipsets: ${outcome.sets} set(s), +${c.membersAdded} -${c.membersRemoved} members`];
  if (c.setsAdded.length > 0) parts.push(`sets added: ${c.setsAdded.join(', ')}`);
  if (c.setsRemoved.length > 0) parts.push(`sets removed: ${c.setsRemoved.join(', ')}`);
  return parts.join('; ');
}
