// Counters for a ruleset that has none. An apply whose snapshot is the recorded canonical form (the
// generation showed the live ruleset unchanged, netfilter/generation.ts) has no packet and byte
// counters to put back with it. A rollback then takes them from the target as it is at that moment:
// each rule of the snapshot that the target still has, in the same chain and order (a shortest edit
// script per chain), gets that rule's counters, and each built-in chain its policy counters, so that a
// rollback of an incremental apply keeps the counters of the rules it did not change, as the apply did.

import { editOps } from './ruleset-diff.js';

const COUNTERS = /^\[(\d+:\d+)\] /;
const POLICY_COUNTERS = / \[(\d+:\d+)\]$/;

interface Chains {
  /** Rule lines (without counters) and their counters, by chain. */
  readonly rules: Map<string, Array<{ line: string; counters: string | undefined }>>;
  /** Policy counters of the built-in chains. */
  readonly policies: Map<string, string>;
}

/** Counters by table, then chain, of a save with -c. */
function countersOf(save: string): Map<string, Chains> {
  const tables = new Map<string, Chains>();
  let cur: Chains | undefined;
  for (const raw of save.split('\n')) {
    const line = raw.trimEnd();
    if (line.startsWith('*')) tables.set(line.slice(1), (cur = { rules: new Map(), policies: new Map() }));
    else if (line === 'COMMIT') cur = undefined;
    else if (cur !== undefined && line.startsWith(':')) {
      const c = POLICY_COUNTERS.exec(line)?.[1];
      if (c !== undefined) cur.policies.set(line.slice(1).split(' ', 1)[0] ?? '', c);
    } else if (cur !== undefined && line !== '' && !line.startsWith('#')) {
      const counters = COUNTERS.exec(line)?.[1];
      const rule = counters === undefined ? line : line.slice(counters.length + 3);
      const chain = rule.split(' ', 3)[1] ?? '';
      let list = cur.rules.get(chain);
      if (list === undefined) cur.rules.set(chain, (list = []));
      list.push({ line: rule, counters });
    }
  }
  return tables;
}

/**
 * `snapshot` (a save without counters) with the counters `current` (a save with -c) has for the same
 * rules; rules it does not have get none (zero). Counters already in `snapshot` are kept.
 */
export function withCountersOf(snapshot: string, current: string): string {
  const have = countersOf(current);
  const want = countersOf(snapshot);
  // For each table and chain, the counters of the snapshot's rules in order (undefined: none).
  const given = new Map<string, Map<string, Array<string | undefined>>>();
  for (const [table, chains] of want) {
    const byChain = new Map<string, Array<string | undefined>>();
    given.set(table, byChain);
    for (const [chain, rules] of chains.rules) {
      const live = have.get(table)?.rules.get(chain) ?? [];
      const ops =
        editOps(
          live.map((r) => r.line),
          rules.map((r) => r.line),
        ) ?? [];
      const out: Array<string | undefined> = [];
      let i = 0;
      for (const op of ops) {
        if (op === ' ') out.push(live[i++]?.counters);
        else if (op === '-') i++;
        else out.push(undefined);
      }
      byChain.set(chain, ops.length === 0 ? rules.map(() => undefined) : out);
    }
  }
  const out: string[] = [];
  let table: string | undefined;
  const next = new Map<string, number>();
  for (const line of snapshot.split('\n')) {
    if (line.startsWith('*')) {
      table = line.slice(1);
      next.clear();
      out.push(line);
    } else if (line === 'COMMIT' || table === undefined || line === '' || line.startsWith('#')) {
      if (line === 'COMMIT') table = undefined;
      out.push(line);
    } else if (line.startsWith(':')) {
      const name = line.slice(1).split(' ', 1)[0] ?? '';
      const c = have.get(table)?.policies.get(name);
      out.push(c === undefined || !POLICY_COUNTERS.test(line) ? line : line.replace(POLICY_COUNTERS, ` [${c}]`));
    } else {
      const counted = COUNTERS.test(line);
      const rule = counted ? line.replace(COUNTERS, '') : line;
      const chain = rule.split(' ', 3)[1] ?? '';
      const k = next.get(chain) ?? 0;
      next.set(chain, k + 1);
      const c = counted ? undefined : given.get(table)?.get(chain)?.[k];
      out.push(c === undefined ? line : `[${c}] ${line}`);
    }
  }
  return out.join('\n');
}
