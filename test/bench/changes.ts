// The rule directories of the incremental apply rows: the benchmark's ruleset (generate.ts) with one
// rule added, one deleted, one replaced, or 1% of its rules changed across chains. Each is the same
// generator with its address arrays or one loop edited, so the rest of the files stay byte for byte.

import { generateRules, ip4, type Arrays, type Generated } from './generate.js';

/** The changes the incremental rows apply on top of the base ruleset. */
export type Change = 'add' | 'delete' | 'replace' | 'percent';

export const CHANGES: readonly Change[] = ['add', 'delete', 'replace', 'percent'];

/** Changes of one rule: the ones the post-compile target (0.1x) is about. */
export const ONE_RULE: readonly Change[] = ['add', 'delete', 'replace'];

/** A changed rule directory: its files and counts, what changed, and where to keep counters. */
export interface ChangedRules {
  readonly generated: Generated;
  /** e.g. "1 rule added (middle of BLOCKLIST)" */
  readonly what: string;
  /** Rules whose text changed, were added or were deleted. */
  readonly changed: number;
  /** An IPv4 filter chain the change leaves its first rule alone in (the counters row sets and reads it). */
  readonly counterChain: string;
}

const items = (a: Arrays, name: string): string[] => {
  const found = a.find(([n]) => n === name)?.[1];
  if (found === undefined) throw new Error(`changes: the generator has no array ${name}`);
  return found;
};

/**
 * The arrays the 1% change edits: name, rules made per element, and a fresh value for the k-th
 * edited element (from ranges the generator does not use, so no changed rule equals another).
 */
const SPREAD: Array<[name: string, perElement: number, fresh: (k: number) => string]> = [
  ['web_clients4', 4, (k) => ip4('198.19.0.1', k)],
  ['admin_nets4', 1, (k) => `${ip4('192.168.0.0', k * 256)}/24`],
  ['mail_peers4', 3, (k) => ip4('198.19.64.1', k)],
  ['dns_clients4', 2, (k) => ip4('198.19.96.1', k)],
  ['db_clients4', 2, (k) => ip4('198.19.112.1', k)],
  ['mon_hosts4', 2, (k) => ip4('10.250.128.1', k)],
  ['lan_nets4', 5, (k) => `${ip4('192.168.128.0', k * 256)}/24`],
  ['blocklist4', 1, (k) => `${ip4('198.19.128.0', k * 16)}/28`],
  ['web_clients6', 4, (k) => `2001:db8:eeee::${(k + 1).toString(16)}`],
  ['admin_nets6', 1, (k) => `2001:db8:eeef:${k.toString(16)}::/64`],
  ['lan_nets6', 4, (k) => `2001:db8:eef0:${k.toString(16)}::/64`],
  ['blocklist6', 1, (k) => `2001:db8:eef1:${k.toString(16)}::/64`],
];

/**
 * Changes about 1% of n rules in place (same position, another address), spread over the arrays in
 * proportion to the rules each makes, evenly spaced within each (never its first element, whose rule
 * keeps the counters). Returns how many rules changed and in how many arrays.
 */
function changePercent(a: Arrays, n: number): { rules: number; arrays: number } {
  const target = Math.max(1, Math.round(n / 100));
  const total = SPREAD.reduce((sum, [name, per]) => sum + items(a, name).length * per, 0);
  let rules = 0;
  let arrays = 0;
  for (const [name, per, fresh] of SPREAD) {
    const list = items(a, name);
    const k = Math.min(list.length - 1, Math.round((target * list.length) / total));
    for (let j = 0; j < k; j++) list[Math.max(1, Math.floor(((j + 0.5) * list.length) / k))] = fresh(j);
    rules += k * per;
    if (k > 0) arrays++;
  }
  return { rules, arrays };
}

/** The base ruleset of n rules with CHANGE applied. */
export function changedRules(n: number, change: Change): ChangedRules {
  const base = generateRules(n);
  switch (change) {
    case 'add': {
      const g = generateRules(n, {
        editArrays: (a) => {
          const list = items(a, 'blocklist4');
          list.splice(Math.floor(list.length / 2), 0, '198.19.255.0/28');
        },
      });
      return { generated: { ...g, v4: base.v4 + 1 }, what: '1 rule added (middle of BLOCKLIST)', changed: 1, counterChain: 'BLOCKLIST' };
    }
    case 'delete': {
      const g = generateRules(n, {
        editArrays: (a) => void items(a, 'blocklist4').splice(Math.floor(items(a, 'blocklist4').length / 2), 1),
      });
      return { generated: { ...g, v4: base.v4 - 1 }, what: '1 rule deleted (middle of BLOCKLIST)', changed: 1, counterChain: 'BLOCKLIST' };
    }
    case 'replace': {
      let net = '';
      const g = generateRules(n, {
        editArrays: (a) => {
          const list = items(a, 'admin_nets4');
          net = list[Math.floor(list.length / 2)] ?? '';
        },
        editBody: (name, body) => {
          if (name !== '55-ssh') return body;
          const loop = '  allow_in iptables SSH_IN tcp 22 $net\n';
          if (!body.includes(loop)) throw new Error('changes: 55-ssh lost its allow_in loop');
          return body.replace(loop, `  if [[ $net == ${net} ]]; then\n    allow_in iptables SSH_IN tcp 2222 $net\n  else\n  ${loop}  fi\n`);
        },
      });
      return { generated: g, what: `1 rule replaced (middle of SSH_IN: port 22 to 2222)`, changed: 1, counterChain: 'SSH_IN' };
    }
    case 'percent': {
      let spread = { rules: 0, arrays: 0 };
      const g = generateRules(n, { editArrays: (a) => void (spread = changePercent(a, n)) });
      return {
        generated: g,
        what: `1% of rules changed (${spread.rules} rules, another address in place, over ${spread.arrays} address lists)`,
        changed: spread.rules,
        counterChain: 'BLOCKLIST',
      };
    }
  }
}
