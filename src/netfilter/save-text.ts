/** One table of iptables-save output: its chain declarations and rules, counters stripped. */
export interface SavedTable {
  readonly name: string;
  /** `:CHAIN POLICY` (policy `-` for user chains), without counters. */
  readonly chains: readonly string[];
  /** `-A CHAIN …` lines, without counters, in order. */
  readonly rules: readonly string[];
}

/** Parses iptables-save output (with or without -c) into tables; comments and warnings are skipped. */
export function parseSave(text: string): Map<string, SavedTable> {
  const tables = new Map<string, { name: string; chains: string[]; rules: string[] }>();
  let cur: { name: string; chains: string[]; rules: string[] } | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      cur = { name: line.slice(1), chains: [], rules: [] };
      tables.set(cur.name, cur);
    } else if (line === 'COMMIT') {
      cur = undefined;
    } else if (cur !== undefined && line.startsWith(':')) {
      cur.chains.push(line.replace(/ \[\d+:\d+\]$/, ''));
    } else if (cur !== undefined) {
      cur.rules.push(line.replace(/^\[\d+:\d+\] /, ''));
    }
  }
  return tables;
}

/** Whether a table holds nothing: no rules, no user chains, ACCEPT policies. */
export function isEmptyTable(t: SavedTable | undefined): boolean {
  return t !== undefined && t.rules.length === 0 && t.chains.every((c) => c.endsWith(' ACCEPT'));
}

/** Whether a saved ruleset holds anything beyond empty tables. */
export function hasRules(text: string): boolean {
  return [...parseSave(text).values()].some((t) => !isEmptyTable(t));
}

/** Keeps only the blocks of the given tables from restore input rendered by nfgit. */
export function selectTables(restoreText: string, keep: ReadonlySet<string>): string {
  const out: string[] = [];
  let on = false;
  for (const line of restoreText.split('\n')) {
    if (line.startsWith('*')) on = keep.has(line.slice(1));
    if (on) out.push(line);
    if (line === 'COMMIT') on = false;
  }
  return out.length === 0 ? '' : out.join('\n') + '\n';
}
