// Drift: the live ruleset against the one nfgit applied, both in the kernel's canonical form
// (iptables-save), counters ignored. Tables that hold nothing (no rules, no user chains, ACCEPT
// policies) count as absent, since a host and a staging namespace differ in which empty tables exist.

import type { SetChange } from '../netfilter/set-diff.js';
import type { TableDrift } from '../netfilter/compare-saves.js';

/** A readable account of drift, diff-like: `table filter: - -A INPUT …` (missing) and `+ …` (extra). */
export function describeDrift(family: string, drift: readonly TableDrift[], maxLines = 20): string[] {
  const lines: string[] = [];
  for (const d of drift) {
    lines.push(
      `${family} table ${d.table}: ${d.missing.length} line(s) missing, ${d.extra.length} extra${d.reordered ? ', rules reordered' : ''}`,
    );
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
    if (d.removed.length > 0 || d.added.length > 0)
      lines.push(`ipset ${d.set}: ${d.removed.length} member(s) missing, ${d.added.length} extra`);
    for (const m of d.removed) lines.push(`  - ${m}`);
    for (const x of d.added) lines.push(`  + ${x}`);
  }
  if (lines.length > maxLines) return [...lines.slice(0, maxLines), `  … ${lines.length - maxLines} more line(s)`];
  return lines;
}
