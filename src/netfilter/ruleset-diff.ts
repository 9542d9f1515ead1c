// What applying a ruleset would change: two iptables-save outputs (the live one and the expected one
// after the apply) compared per table and chain, counters ignored. Pure: no I/O. Rules are compared in
// order within each chain (a shortest edit script, as diff(1) does), because order decides which rule
// a packet meets first; a rule that only moves shows as - at its old place and + at its new one,
// marked `moved`, and is not counted as added or removed (the counts are diffSaves', which `apply`
// prints, so `diff` and `apply` agree).

import { TABLE_ORDER } from '../compiler/tables.js';
import { diffSaves, type RulesetChange } from './compare-saves.js';
import { isEmptyTable, parseSave, selectTables, type SavedTable } from './save-text.js';

/** One line of a chain's diff: a rule removed (-), added (+), or unchanged context around a change. */
export interface RuleLine {
  readonly op: '-' | '+' | ' ';
  readonly rule: string;
  /** 1-based place in the chain: after the apply for `+`, before it for `-` and context. */
  readonly position: number;
  /** A rule that is on both sides, at another place: reordered, not added or removed. */
  readonly moved?: true;
}

/** What changes in one chain. Unchanged chains are not listed. */
export interface ChainDiff {
  readonly chain: string;
  /** `added`/`removed` for user chains created or deleted; `changed` otherwise. */
  readonly status: 'added' | 'removed' | 'changed';
  /** Built-in chain policy before and after (null where the chain or its table does not exist); null for user chains. */
  readonly policy: { readonly before: string | null; readonly after: string | null } | null;
  /** Changed rules in chain order, with one line of unchanged context before and after each run of changes. */
  readonly lines: readonly RuleLine[];
}

/** What changes in one table. */
export interface TableDiff {
  readonly table: string;
  /** `added`: the table does not exist before; `removed`: it does not exist after. */
  readonly status: 'added' | 'removed' | 'changed';
  readonly chains: readonly ChainDiff[];
}

/** What changes in one family: the tables, and the counts as `apply` reports them. */
export interface FamilyDiff {
  readonly changed: boolean;
  readonly tables: readonly TableDiff[];
  readonly change: RulesetChange;
}

/**
 * The ruleset a target holds after `applyTransaction` of restore input whose canonical form (as loaded
 * in the staging namespace) is `staged`: the tables the rules use plus those the target has are
 * replaced by their staged form; a table the target has but the staged form lacks stays as it is.
 */
export function expectedAfterApply(live: string, staged: string, usedTables: readonly string[]): string {
  const liveTables = [...parseSave(live).keys()];
  const stagedTables = new Set(parseSave(staged).keys());
  const keep = new Set([...usedTables, ...liveTables]);
  const untouched = new Set(liveTables.filter((t) => !stagedTables.has(t)));
  return selectTables(staged, keep) + selectTables(live, untouched);
}

/** Compares two iptables-save outputs per table and chain; tables empty (or absent) on both sides are left out. */
export function diffRulesets(before: string, after: string): FamilyDiff {
  const a = parseSave(before);
  const b = parseSave(after);
  const tables: TableDiff[] = [];
  for (const name of tableOrder([...new Set([...b.keys(), ...a.keys()])])) {
    const ta = a.get(name);
    const tb = b.get(name);
    if ((ta === undefined || isEmptyTable(ta)) && (tb === undefined || isEmptyTable(tb))) continue;
    const chains = diffTable(ta, tb);
    if (chains.length === 0) continue;
    tables.push({ table: name, status: ta === undefined ? 'added' : tb === undefined ? 'removed' : 'changed', chains });
  }
  return { changed: tables.length > 0, tables, change: diffSaves(before, after) };
}

/** filter, nat, mangle, raw, security (as nfgit renders them), then any other table by name. */
function tableOrder(names: readonly string[]): string[] {
  const rank = (t: string): number => (TABLE_ORDER.includes(t) ? TABLE_ORDER.indexOf(t) : TABLE_ORDER.length);
  return [...names].sort((x, y) => rank(x) - rank(y) || (x < y ? -1 : x > y ? 1 : 0));
}

interface ChainSide {
  readonly policy: string;
  readonly rules: string[];
}

/** Chains of a table by name, in declaration order, with their rules. */
export function chainsOf(t: SavedTable | undefined): Map<string, ChainSide> {
  const chains = new Map<string, ChainSide>();
  for (const decl of t?.chains ?? []) {
    const [chain = '', policy = ''] = decl.slice(1).split(' ');
    chains.set(chain, { policy, rules: [] });
  }
  for (const rule of t?.rules ?? []) {
    // iptables-save prints every rule as `-A CHAIN …`, after the chain's declaration.
    const end = rule.indexOf(' ', 3);
    const chain = end < 0 ? rule.slice(3) : rule.slice(3, end);
    let side = chains.get(chain);
    if (side === undefined) chains.set(chain, (side = { policy: '-', rules: [] }));
    side.rules.push(rule);
  }
  return chains;
}

function diffTable(ta: SavedTable | undefined, tb: SavedTable | undefined): ChainDiff[] {
  const ca = chainsOf(ta);
  const cb = chainsOf(tb);
  const out: ChainDiff[] = [];
  for (const chain of new Set([...cb.keys(), ...ca.keys()])) {
    const sa = ca.get(chain);
    const sb = cb.get(chain);
    const user = (sa ?? sb)?.policy === '-';
    const lines = diffRules(sa?.rules ?? [], sb?.rules ?? []);
    if (user) {
      if (sa !== undefined && sb !== undefined && lines.length === 0) continue;
      out.push({ chain, status: sa === undefined ? 'added' : sb === undefined ? 'removed' : 'changed', policy: null, lines });
    } else {
      // A built-in chain of a table that does not exist is as good as one with an ACCEPT policy.
      const before = sa?.policy ?? null;
      const after = sb?.policy ?? null;
      if (lines.length === 0 && (before ?? 'ACCEPT') === (after ?? 'ACCEPT')) continue;
      out.push({ chain, status: 'changed', policy: { before, after }, lines });
    }
  }
  return out;
}

/** Rule lines of one chain: the edit script with moves marked and one line of context around changes. */
export function diffRules(before: readonly string[], after: readonly string[]): RuleLine[] {
  const script = editScript(before, after);
  // A rule both removed and added (as many times as it is on both sides) only moved.
  const removed = new Map<string, number>();
  for (const e of script) if (e.op === '-') removed.set(e.rule, (removed.get(e.rule) ?? 0) + 1);
  const movedCount = new Map<string, number>();
  for (const e of script) {
    if (e.op !== '+') continue;
    const n = removed.get(e.rule) ?? 0;
    if (n > 0) {
      removed.set(e.rule, n - 1);
      movedCount.set(e.rule, (movedCount.get(e.rule) ?? 0) + 1);
    }
  }
  const left = { '-': new Map(movedCount), '+': new Map(movedCount) };
  const marked: RuleLine[] = script.map((e) => {
    if (e.op === ' ') return e;
    const n = left[e.op].get(e.rule) ?? 0;
    if (n === 0) return e;
    left[e.op].set(e.rule, n - 1);
    return { ...e, moved: true };
  });
  return marked.filter(
    (e, i) =>
      e.op !== ' ' || marked[i - 1]?.op === '-' || marked[i - 1]?.op === '+' || marked[i + 1]?.op === '-' || marked[i + 1]?.op === '+',
  );
}

/** Beyond this many edits a chain's middle is shown as all removed, then all added (time and memory stay bounded). */
const MAX_EDITS = 2000;

/**
 * A shortest edit script from `a` to `b` (Myers' O((N+M)D) algorithm, after trimming the common head and
 * tail): ' ' keeps a line of `a`, '-' removes one, '+' adds one of `b`. Undefined beyond `maxEdits` edits.
 */
export function editOps(a: readonly string[], b: readonly string[], maxEdits = MAX_EDITS): EditOp[] | undefined {
  const { head, tail } = commonEnds(a, b);
  const midA = a.slice(head, a.length - tail);
  const midB = b.slice(head, b.length - tail);
  const mid = myers(midA, midB, maxEdits);
  if (mid === undefined) return undefined;
  return [...a.slice(0, head).map((): Op => ' '), ...mid, ...a.slice(a.length - tail).map((): Op => ' ')];
}

/** How many lines `a` and `b` share at their start and (after that) at their end. */
function commonEnds(a: readonly string[], b: readonly string[]): { head: number; tail: number } {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  return { head, tail };
}

/** One step of an edit script. */
export type EditOp = ' ' | '-' | '+';

/** A shortest edit script as rule lines; beyond MAX_EDITS the middle is all removed, then all added. */
function editScript(a: readonly string[], b: readonly string[]): RuleLine[] {
  const ops = editOps(a, b) ?? bounded(a, b);
  let i = 0;
  let j = 0;
  return ops.map((op): RuleLine => {
    if (op === '+') return { op, rule: b[j++] as string, position: j };
    if (op === ' ') j++;
    return { op, rule: a[i++] as string, position: i };
  });
}

type Op = RuleLine['op'];

/** The script of editScript beyond MAX_EDITS: the common head and tail kept, the middle all removed, then all added. */
function bounded(a: readonly string[], b: readonly string[]): Op[] {
  const { head, tail } = commonEnds(a, b);
  const keep = (n: number): Op[] => Array.from({ length: n }, (): Op => ' ');
  const fill = (n: number, op: Op): Op[] => Array.from({ length: n }, () => op);
  return [...keep(head), ...fill(a.length - head - tail, '-'), ...fill(b.length - head - tail, '+'), ...keep(tail)];
}

function myers(a: readonly string[], b: readonly string[], maxEdits: number): Op[] | undefined {
  const n = a.length;
  const m = b.length;
  const max = n + m;
  // Only diagonals within maxEdits of the start are ever reached: the arrays stay small for a large chain.
  const width = Math.min(max, maxEdits) + 1;
  const off = width;
  const v = new Int32Array(2 * width + 3);
  // trace[d]: v over diagonals -d-1 … d+1 before step d (index k + d + 1).
  const trace: Int32Array[] = [];
  for (let d = 0; d <= Math.min(max, maxEdits); d++) {
    trace.push(v.slice(off - d - 1, off + d + 2));
    for (let k = -d; k <= d; k += 2) {
      let x =
        k === -d || (k !== d && (v[off + k - 1] as number) < (v[off + k + 1] as number))
          ? (v[off + k + 1] as number)
          : (v[off + k - 1] as number) + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x++;
        y++;
      }
      v[off + k] = x;
      if (x >= n && y >= m) return backtrack(n, m, trace);
    }
  }
  return undefined;
}

function backtrack(n: number, m: number, trace: readonly Int32Array[]): Op[] {
  const out: Op[] = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const v = trace[d] as Int32Array;
    const at = (k: number): number => v[k + d + 1] as number;
    const k = x - y;
    const prevK = k === -d || (k !== d && at(k - 1) < at(k + 1)) ? k + 1 : k - 1;
    const prevX = at(prevK);
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      out.push(' ');
      x--;
      y--;
    }
    if (d > 0) {
      out.push(x === prevX ? '+' : '-');
    }
    x = prevX;
    y = prevY;
  }
  return out.reverse();
}

/** A readable account, diff-like: per table and chain, `- rule` removed, `+ rule` added, context indented. */
export function renderFamilyDiff(familyName: string, diff: FamilyDiff): string[] {
  if (!diff.changed) return [`${familyName}: no change`];
  const c = diff.change;
  const parts = [`+${c.rulesAdded} -${c.rulesRemoved} rules`];
  if (c.chainsAdded.length > 0) parts.push(`chains added: ${c.chainsAdded.join(', ')}`);
  if (c.chainsRemoved.length > 0) parts.push(`chains removed: ${c.chainsRemoved.join(', ')}`);
  if (c.policiesChanged.length > 0) parts.push(`policies changed: ${c.policiesChanged.join(', ')}`);
  const moved = diff.tables.flatMap((t) => t.chains.flatMap((ch) => ch.lines)).filter((l) => l.op === '+' && l.moved === true).length;
  if (moved > 0) parts.push(`${moved} rule(s) moved`);
  const out = [`${familyName}: ${parts.join('; ')}`];
  for (const t of diff.tables) {
    out.push(`${familyName} table ${t.table}${t.status === 'added' ? ' (new)' : t.status === 'removed' ? ' (removed)' : ''}`);
    for (const ch of t.chains) {
      if (ch.policy !== null) {
        const { before, after } = ch.policy;
        out.push(
          `  chain ${ch.chain} (policy ${before === null || before === after ? (after ?? 'ACCEPT') : `${before} → ${after ?? 'ACCEPT'}`})`,
        );
      } else if (ch.status === 'added') out.push(`  + chain ${ch.chain} (new)`);
      else if (ch.status === 'removed') out.push(`  - chain ${ch.chain} (removed)`);
      else out.push(`  chain ${ch.chain}`);
      ch.lines.forEach((l, i) => {
        const prev = ch.lines[i - 1];
        if (l.op === ' ' && prev?.op === ' ' && l.position > prev.position + 1) out.push('    …');
        out.push(l.op === ' ' ? `    ${l.rule}` : `  ${l.op} ${l.rule}${l.moved === true ? '  (moved)' : ''}`);
      });
    }
  }
  return out;
}
