import { BUILTIN_CHAINS } from '../compiler/tables.js';
import { renderRuleLine } from '../compiler/render-restore.js';
import { TOOL } from '../compiler/parse-argv.js';
import { runInScratchNetns } from '../util/sandbox.js';

import type { CanonicalMatcher } from '../compiler/kernel-services.js';

export type { CanonicalMatcher };

const QUERY_CHAIN = 'nfgit-canonical-query';

/**
 * Loads the table and the queried rule into a scratch namespace and lets iptables-save print both in
 * canonical form (`-p tcp --dport 80` becomes `-p tcp -m tcp --dport 80`), then compares them.
 */
export const kernelCanonicalMatcher: CanonicalMatcher = async (family, table, chain, spec) => {
  const lines = [`*${table.name}`];
  for (const b of BUILTIN_CHAINS[table.name] ?? []) lines.push(`:${b} ACCEPT [0:0]`);
  for (const c of table.chains.values()) if (!c.builtin) lines.push(`:${c.name} - [0:0]`);
  lines.push(`:${QUERY_CHAIN} - [0:0]`);
  for (const r of chain.rules) {
    const l = renderRuleLine(chain.name, r.spec);
    if (!l.ok) return -1;
    lines.push(l.text);
  }
  const q = renderRuleLine(QUERY_CHAIN, spec);
  if (!q.ok) return -1;
  lines.push(q.text, 'COMMIT', '');
  const tool = TOOL[family];
  const r = await runInScratchNetns(`${tool}-restore && ${tool}-save -t "$1"`, [table.name], { input: lines.join('\n') });
  if (r.code !== 0) return -1;
  const prefix = `-A ${chain.name} `;
  const saved = r.stdout.split('\n');
  const rest = (l: string, p: string): string | undefined => (l === p.trimEnd() ? '' : l.startsWith(p) ? l.slice(p.length) : undefined);
  const query = saved.map((l) => rest(l, `-A ${QUERY_CHAIN} `)).find((x) => x !== undefined);
  if (query === undefined) return -1;
  let index = 0;
  for (const l of saved) {
    const body = rest(l, prefix);
    if (body === undefined) continue;
    if (body === query) return index;
    index++;
  }
  return -1;
};
