// Drift: the live ruleset against the one nfgit applied, both in the kernel's canonical form
// (iptables-save), counters ignored. Tables that hold nothing (no rules, no user chains, ACCEPT
// policies) count as absent, since a host and a staging namespace differ in which empty tables exist.

import type { SetChange } from '../apply/set-diff.js';
import { isEmptyTable, parseSave, type SavedTable } from '../netfilter/save-text.js';

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
    const linesA = [...[...(a?.chains ?? [])].sort(), ...(a?.rules ?? [])];
    const linesB = [...[...(b?.chains ?? [])].sort(), ...(b?.rules ?? [])];
    const missing = multisetMinus(linesA, linesB);
    const extra = multisetMinus(linesB, linesA);
    const reordered = missing.length === 0 && extra.length === 0 && linesA.join('\n') !== linesB.join('\n');
    if (missing.length > 0 || extra.length > 0 || reordered) drift.push({ table, missing, extra, reordered });
  }
  return drift;
}

function nonEmpty(tables: Map<string, SavedTable>): Map<string, SavedTable> {
  return new Map([...tables].filter(([, t]) => !isEmptyTable(t)));
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

/** A readable account of drift, diff-like: `table filter: - -A INPUT …` (missing) and `+ …` (extra). */
export function describeDrift(family: string, drift: readonly TableDrift[], maxLines = 20): string[] {
  const lines: string[] = [];
  for (const d of drift) {
    lines.push(`${family} table ${d.table}: ${d.missing.length} line(s) missing, ${d.extra.length} extra${d.reordered ? ', rules reordered' : ''}`);
    for (const m of d.missing) lines.push(`  - ${m}`);
    for (const x of d.extra) lines.push(`  + ${x}`);
  }
  if (lines.length > maxLines) return [...lines.slice(0, maxLines), `  … ${lines.length - maxLines} more line(s)`];
  return lines;
}

/**
 * A readable account of drift in nfgit's sets, from diffSets(applied, live): a set missing, its type
 * or options changed, `ipset S: N member(s) missing, M extra` with `- member` (missing) and `+ member`
 * (extra), capped as describeDrift.
 */
export function describeSetDrift(drift: readonly SetChange[], maxLines = 20): string[] {
  const lines: string[] = [];
  for (const d of drift) {
    if (d.status === 'removed') {
      lines.push(`ipset ${d.set}: missing (${d.removed.length} member(s))`);
      continue;
    }
    if (d.status === 'added') {
      lines.push(`ipset ${d.set}: extra set (${d.added.length} member(s))`);
      continue;
    }
    if (d.header !== null) lines.push(`ipset ${d.set}: type or options changed: ${d.header.before ?? ''} → ${d.header.after ?? ''}`);
    if (d.removed.length > 0 || d.added.length > 0) lines.push(`ipset ${d.set}: ${d.removed.length} member(s) missing, ${d.added.length} extra`);
    for (const m of d.removed) lines.push(`  - ${m}`);
    for (const x of d.added) lines.push(`  + ${x}`);
  }
  if (lines.length > maxLines) return [...lines.slice(0, maxLines), `  … ${lines.length - maxLines} more line(s)`];
  return lines;
}
