// The one place that compares saved rulesets (iptables-save text, counters ignored): what an apply
// changed (diffSaves), whether a rollback put a family back (sameTables), and drift of the live ruleset
// from the applied one (findDrift). The line-by-line diff of `nfgit diff` is ruleset-diff.ts, built on
// the same parse. Rules are compared as multisets per table or chain, so a move is a remove and an add.

import { isEmptyTable, parseSave, tableBlocks, type SavedTable } from './save-text.js';
import { differingLines } from './text-window.js';

/** What changed between two saved rulesets: counts and the chain names, per table. */
export interface RulesetChange {
  readonly chainsAdded: readonly string[];
  readonly chainsRemoved: readonly string[];
  readonly rulesAdded: number;
  readonly rulesRemoved: number;
  readonly policiesChanged: readonly string[];
}

/** Compares two iptables-save outputs (rules as multisets per chain, so a move counts as remove + add). */
export function diffSaves(before: string, after: string): RulesetChange {
  const a = tableBlocks(before);
  const b = tableBlocks(after);
  const chainsAdded: string[] = [];
  const chainsRemoved: string[] = [];
  const policiesChanged: string[] = [];
  let rulesAdded = 0;
  let rulesRemoved = 0;
  for (const name of new Set([...a.keys(), ...b.keys()])) {
    const blockA = a.get(name);
    const blockB = b.get(name);
    if (blockA === blockB) continue;
    // Only the lines between those both blocks start and end with alike are parsed: a line cut off at
    // either end is in both, at the same place (a chain declared once, a rule matched one for one), so
    // the counts below are those of the whole blocks.
    const mid = differingLines(blockA ?? '', blockB ?? '');
    const ta = blockA === undefined ? undefined : tableOf(name, mid.a);
    const tb = blockB === undefined ? undefined : tableOf(name, mid.b);
    const declA = new Map((ta?.chains ?? []).map((c) => splitDecl(c)));
    const declB = new Map((tb?.chains ?? []).map((c) => splitDecl(c)));
    for (const [chain, policy] of declB) {
      if (!declA.has(chain)) {
        if (policy === '-') chainsAdded.push(`${name}/${chain}`);
      } else if (declA.get(chain) !== policy) policiesChanged.push(`${name}/${chain}`);
    }
    for (const [chain, policy] of declA) if (!declB.has(chain) && policy === '-') chainsRemoved.push(`${name}/${chain}`);
    // Rules both have at the same place at either end match one for one: only the middles are counted.
    const [ra, rb] = middles(ta?.rules ?? [], tb?.rules ?? []);
    rulesAdded += multisetMinus(rb, ra).length;
    rulesRemoved += multisetMinus(ra, rb).length;
  }
  return { chainsAdded, chainsRemoved, rulesAdded, rulesRemoved, policiesChanged };
}

/** Lines of one table's block (or part of it) parsed as that table. */
function tableOf(name: string, lines: string): SavedTable {
  return parseSave(`*${name}\n${lines}\nCOMMIT\n`).get(name) ?? { name, chains: [], rules: [] };
}

function splitDecl(decl: string): [string, string] {
  const [chain = '', policy = ''] = decl.slice(1).split(' ');
  return [chain, policy];
}

/** Same chains and, chain by chain, the same rules in the same order (a merged restore input lists chains in its own order). */
export function sameTables(a: ReadonlyMap<string, SavedTable>, b: ReadonlyMap<string, SavedTable>): boolean {
  if (a.size !== b.size) return false;
  const byChain = (t: SavedTable): string => orderedLines(t).join('\n');
  for (const [name, ta] of a) {
    const tb = b.get(name);
    if (tb === undefined || byChain(ta) !== byChain(tb)) return false;
  }
  return true;
}

/** What differs in one table: declarations and rules missing from the live ruleset, or extra in it. */
export interface TableDrift {
  readonly table: string;
  /** Lines (`:CHAIN POLICY` or `-A CHAIN …`) that the applied ruleset has and the live one lacks. */
  readonly missing: readonly string[];
  /** Lines the live ruleset has and the applied one does not. */
  readonly extra: readonly string[];
  /** Same rules in both, in another order. */
  readonly reordered: boolean;
}

/** The tables that differ; empty when the live ruleset is the applied one. */
export function findDrift(applied: string, live: string): TableDrift[] {
  const want = nonEmpty(parseSave(applied));
  const have = nonEmpty(parseSave(live));
  const drift: TableDrift[] = [];
  for (const table of [...new Set([...want.keys(), ...have.keys()])].sort()) {
    const a = want.get(table);
    const b = have.get(table);
    // The common case, cheaply: both list the same chains and the same rules in the same order.
    if (a !== undefined && b !== undefined && sameLines(a.rules, b.rules) && sameLines([...a.chains].sort(), [...b.chains].sort()))
      continue;
    const linesA = orderedLines(a);
    const linesB = orderedLines(b);
    if (sameLines(linesA, linesB)) continue;
    const missing = multisetMinus(linesA, linesB);
    const extra = multisetMinus(linesB, linesA);
    const reordered = missing.length === 0 && extra.length === 0 && linesA.join('\n') !== linesB.join('\n');
    if (missing.length > 0 || extra.length > 0 || reordered) drift.push({ table, missing, extra, reordered });
  }
  return drift;
}

function sameLines(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((l, i) => l === b[i]);
}

/**
 * A table's declarations in name order, then its rules grouped by chain, chains in name order, each
 * chain's rules in their order: the order in which a save lists the chains (creation order on some
 * backends) does not matter to a packet, the order within a chain does.
 */
function orderedLines(t: SavedTable | undefined): string[] {
  return [...[...(t?.chains ?? [])].sort(), ...inChainOrder(t?.rules ?? [])];
}

/** Rules grouped by chain, chains in name order, each chain's rules in their order (a stable sort). */
function inChainOrder(rules: readonly string[]): string[] {
  const chain = (r: string): string => r.split(' ', 2)[1] ?? '';
  return rules
    .map((r, i) => ({ r, c: chain(r), i }))
    .sort((x, y) => (x.c < y.c ? -1 : x.c > y.c ? 1 : x.i - y.i))
    .map((x) => x.r);
}

function nonEmpty(tables: Map<string, SavedTable>): Map<string, SavedTable> {
  return new Map([...tables].filter(([, t]) => !isEmptyTable(t)));
}

/** The parts of a and b between their longest common head and tail. */
function middles(a: readonly string[], b: readonly string[]): [readonly string[], readonly string[]] {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  return [a.slice(head, a.length - tail), b.slice(head, b.length - tail)];
}

/** Elements of a not matched one for one by elements of b, in a's order. */
function multisetMinus(a: readonly string[], b: readonly string[]): string[] {
  const count = new Map<string, number>();
  for (const x of b) count.set(x, (count.get(x) ?? 0) + 1);
  const out: string[] = [];
  for (const x of a) {
    const n = count.get(x) ?? 0;
    if (n > 0) count.set(x, n - 1);
    else out.push(x);
  }
  return out;
}
