// The bench's report: what each loader loaded, normalized for comparison; the cells' medians; the
// markdown table with its ratios and the targets; the notes, problems and samples; printed on stdout
// and written to .bench/results.md.

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import type { AgentBenchResult } from './agent-bench.js';
import type { Options } from './options.js';

// ---------------------------------------------------------------------------------------------
// iptables-save comparison

/** Rule count (-A lines) of iptables-save output. */
export function countRules(save: string): number {
  let n = 0;
  for (const line of save.split('\n')) if (line.startsWith('-A ')) n++;
  return n;
}

/**
 * iptables-save output in a canonical form: per table, chain declarations sorted (without
 * counters), then each chain's rules in order, chains sorted by name. Chain order in the save
 * output depends on creation order, which differs between loaders and means nothing.
 */
export function normalizeSave(save: string): string {
  const tables = new Map<string, { decls: string[]; rules: Map<string, string[]> }>();
  let cur: { decls: string[]; rules: Map<string, string[]> } | undefined;
  for (const raw of save.split('\n')) {
    const line = raw.trimEnd();
    if (line === '' || line.startsWith('#') || line === 'COMMIT') continue;
    if (line.startsWith('*')) {
      cur = { decls: [], rules: new Map() };
      tables.set(line.slice(1), cur);
    } else if (cur === undefined) {
      continue;
    } else if (line.startsWith(':')) {
      cur.decls.push(line.replace(/ \[\d+:\d+\]$/, ''));
    } else if (line.startsWith('-A ')) {
      const chain = line.split(' ')[1] ?? '';
      const list = cur.rules.get(chain) ?? [];
      list.push(line);
      cur.rules.set(chain, list);
    } else {
      cur.decls.push(line);
    }
  }
  const out: string[] = [];
  for (const name of [...tables.keys()].sort()) {
    const t = tables.get(name);
    if (t === undefined) continue;
    // An empty table (no rules, only ACCEPT policies on built-in chains) is the same as no table.
    const trivial = t.rules.size === 0 && t.decls.every((d) => / ACCEPT$/.test(d));
    if (trivial) continue;
    out.push(`*${name}`, ...t.decls.sort());
    for (const chain of [...t.rules.keys()].sort()) out.push(...(t.rules.get(chain) ?? []));
  }
  return out.join('\n') + '\n';
}

/** Where two normalized saves first differ, as the bench's problem text shows it. */
export function firstDifference(a: string, b: string): string {
  const la = a.split('\n');
  const lb = b.split('\n');
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    if (la[i] !== lb[i]) return `line ${i + 1}:\n      expected: ${la[i] ?? '(end)'}\n      got:      ${lb[i] ?? '(end)'}`;
  }
  return '(identical)';
}

// ---------------------------------------------------------------------------------------------
// Cells

/** The table's rows: baselines, then nfgit's commands. */
export type Key = 'floor' | 'seed' | 'sequential' | 'restore' | 'compile' | 'check' | 'apply';

/** Each row's label, in the table, the log and the problems. */
export const LABELS: Record<Key, string> = {
  floor: 'zsh no-op floor (zsh -f, no-op functions)',
  seed: 'seed interception script (build + load)',
  sequential: 'sequential iptables (one call a rule)',
  restore: 'bare iptables-restore (rules.v4 + rules.v6)',
  compile: 'nfgit compile',
  check: 'nfgit check',
  apply: 'nfgit apply (compile + stage + snapshot + both restores)',
};
/** The table's row order. */
const ORDER: Key[] = ['floor', 'seed', 'sequential', 'restore', 'compile', 'check', 'apply'];

/** One measurement at one size: its samples (seconds), or a text in their place. */
export interface Cell {
  samples: number[];
  /** text shown instead of a number: "n/a", "error", "skipped (est. ~62 s)" */
  text?: string;
}

/** Median of the samples (the mean of the middle two for an even count). */
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
};

/** A cell's median, or undefined when it holds a text or no sample. */
export const cellValue = (c: Cell | undefined): number | undefined =>
  c !== undefined && c.text === undefined && c.samples.length > 0 ? median(c.samples) : undefined;

/** Every size's cells, by row. */
export type Results = Map<number, Map<Key, Cell>>;

/** Seconds as the table shows them: three decimals below 10 s, one below 100 s, none above. */
function fmtSeconds(s: number): string {
  if (s >= 100) return s.toFixed(0);
  if (s >= 10) return s.toFixed(1);
  return s.toFixed(3);
}

/** The first n lines of a command's output, and how many more there were. */
export function firstLines(text: string, n: number): string {
  const lines = text.trimEnd().split('\n');
  return lines.slice(0, n).join('\n') + (lines.length > n ? `\n… (${lines.length - n} more lines)` : '');
}

/** First line of a tool's version output, for the environment lines. */
function toolVersion(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return (r.stdout || r.stderr || '').trim().split('\n')[0] ?? '?';
}

// ---------------------------------------------------------------------------------------------
// Table and targets

const num = (results: Results, n: number, k: Key): number | undefined => cellValue(results.get(n)?.get(k));

function cellText(results: Results, n: number, k: Key): string {
  const c = results.get(n)?.get(k);
  if (c === undefined) return 'n/a';
  if (c.text !== undefined) return c.text;
  const v = cellValue(c);
  return v === undefined ? 'n/a' : fmtSeconds(v);
}

function ratio(results: Results, n: number, a: Key, b: Key): string {
  const x = num(results, n, a);
  const y = num(results, n, b);
  return x !== undefined && y !== undefined && y > 0 ? `${(x / y).toFixed(2)}x` : 'n/a';
}

/** The markdown table: a column a size, a row a measurement, then the ratios in bold. */
function rulesTable(results: Results, sizes: number[], runs: number): string {
  const head = `| seconds (median of ${runs}) | ${sizes.map((n) => `${n} rules`).join(' | ')} |`;
  const sep = `|---|${sizes.map(() => '---:').join('|')}|`;
  const rows = ORDER.map((k) => `| ${LABELS[k]} | ${sizes.map((n) => cellText(results, n, k)).join(' | ')} |`);
  const ratioRow = (label: string, a: Key, b: Key): string => `| **${label}** | ${sizes.map((n) => ratio(results, n, a, b)).join(' | ')} |`;
  const ratioRows = [
    ratioRow('compile / zsh no-op floor', 'compile', 'floor'),
    ratioRow('check / seed script', 'check', 'seed'),
    ratioRow('check / bare restore', 'check', 'restore'),
    ratioRow('apply / seed script', 'apply', 'seed'),
  ];
  return [head, sep, ...rows, ...ratioRows].join('\n');
}

/** A performance target from the brief: row a against row b at size n. */
interface Target {
  label: string;
  n: number;
  a: Key;
  b: Key;
  limit: number;
  /** below the limit (true), or at most the limit (false) */
  strict: boolean;
}

const TARGETS: Target[] = [
  { label: 'compile within 1.25x of the zsh no-op floor at 50000 rules', n: 50000, a: 'compile', b: 'floor', limit: 1.25, strict: false },
  {
    label: 'check of 10000 rules faster than the seed script building and loading them',
    n: 10000,
    a: 'check',
    b: 'seed',
    limit: 1,
    strict: true,
  },
  {
    label: "at 50k rules, nfgit's full check+apply within 1.0x of the seed script's time",
    n: 50000,
    a: 'apply',
    b: 'seed',
    limit: 1,
    strict: false,
  },
];

/** One target line: MET or NOT MET with both times, or why it was not measured. */
function targetLine(results: Results, sizes: number[], t: Target): string {
  const x = num(results, t.n, t.a);
  const y = num(results, t.n, t.b);
  if (!sizes.includes(t.n)) return `- ${t.label}: not measured (size ${t.n} not in --sizes)`;
  if (x === undefined || y === undefined) return `- ${t.label}: not measured (${x === undefined ? LABELS[t.a] : LABELS[t.b]} unavailable)`;
  const r = x / y;
  const met = t.strict ? r < t.limit : r <= t.limit;
  return `- ${t.label}: ${met ? 'MET' : 'NOT MET'} (${fmtSeconds(x)} s vs ${fmtSeconds(y)} s = ${r.toFixed(2)}x)`;
}

/** Every sample of every cell, one line a cell. */
function sampleLines(results: Results, sizes: number[]): string[] {
  const samples: string[] = [];
  for (const n of sizes) {
    for (const k of ORDER) {
      const c = results.get(n)?.get(k);
      if (c !== undefined && c.samples.length > 0)
        samples.push(`- ${n} rules, ${LABELS[k]}: ${c.samples.map((s) => s.toFixed(3)).join(', ')}`);
    }
  }
  return samples;
}

// ---------------------------------------------------------------------------------------------
// results.md and stdout

/** Everything the report is made of. */
export interface ReportInput {
  readonly opts: Pick<Options, 'sizes' | 'runs' | 'rules'>;
  readonly results: Results;
  readonly startedAt: Date;
  /** The bundled CLI's startup line. */
  readonly startup: string;
  readonly agent: AgentBenchResult | undefined;
  readonly notes: string[];
  readonly problems: string[];
  /** Where results.md goes (.bench in the repository). */
  readonly outDir: string;
}

/** The machine, the tools and how the runs were made. */
function environmentLines(startedAt: Date, rules: boolean, runs: number): string[] {
  return [
    `- date: ${startedAt.toISOString()}`,
    `- host: ${cpus().length} CPU(s) (${cpus()[0]?.model ?? '?'}), Linux ${release()}`,
    `- ${toolVersion('iptables', ['-V'])}; ${toolVersion('zsh', ['--version'])}; node ${process.version}`,
    ...(rules
      ? [
          `- runs per cell: ${runs}; every loader in a fresh \`unshare --net\` namespace (nfgit apply: a fresh \`ip netns add\` one); times are wall clock ` +
            `from spawn to the end of the load (loaders) or to process exit (floor, nfgit)`,
        ]
      : []),
  ];
}

const DEFAULT_NOTES = [
  'zsh no-op floor: the rule files sourced in one `zsh -f` (emulate -R zsh, errexit) with iptables, ip6tables and main as no-op functions, in `unshare --net`.',
  "seed interception script: test/bench/seed.zsh, the seed article's first method restored (see its header for the changes), run in a fresh namespace: builds the restore input and loads it.",
  'sequential iptables: the rule files run with the real binaries, one process a rule, in a fresh namespace.',
  'bare iptables-restore: `iptables-restore < rules.v4 && ip6tables-restore < rules.v6` into a fresh namespace.',
  'nfgit compile / check: `node dist/src/cli/main.js compile --rules DIR --out DIR` / `... check --rules DIR`, whole process.',
  'nfgit apply: `node dist/src/cli/main.js apply --rules DIR --netns NS --state-dir DIR`, whole process (compile, stage in a scratch namespace, lock, snapshot both families, journal, restore IPv4 then IPv6, record the last good ruleset, host commands), into a fresh `ip netns add` namespace with a fresh state directory each run; making and deleting the namespace are not timed. Its baseline, "seed script applies", is the seed interception script row: it builds and loads the same ruleset without staging, snapshot or rollback.',
];

/** The agent's rows as an indented block (stdout). */
function agentBlock(agent: AgentBenchResult): string {
  const width = Math.max(0, ...agent.rows.map(([label]) => label.length));
  return [agent.title, ...agent.rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`)].join('\n');
}

/** The agent's rows as a two-column table (results.md). */
function agentTable(agent: AgentBenchResult): string {
  return [`| ${agent.title} | |`, '|---|---:|', ...agent.rows.map(([label, value]) => `| ${label} | ${value} |`)].join('\n');
}

const bullets = (lines: string[]): string[] => lines.map((s) => `- ${s}`);

/** results.md. */
function markdown(r: ReportInput, table: string, targets: string[]): string {
  const { opts, agent } = r;
  return [
    '# nfgit benchmark',
    '',
    ...environmentLines(r.startedAt, opts.rules, opts.runs),
    '',
    ...(opts.rules ? [table, '', r.startup, '', '## Targets (reported, not asserted)', '', ...targets, ''] : [r.startup, '']),
    ...(agent !== undefined ? ['## Agent', '', agentTable(agent), ''] : []),
    '## What the rows are',
    '',
    ...bullets(opts.rules ? DEFAULT_NOTES : []),
    ...bullets(agent?.notes ?? []),
    ...bullets(r.notes),
    '',
    '## Problems',
    '',
    ...(r.problems.length > 0 ? bullets(r.problems) : ['- none']),
    '',
    '## All samples',
    '',
    ...sampleLines(r.results, opts.sizes).map((s) => `${s} s`),
    ...bullets(agent?.samples ?? []),
    '',
  ].join('\n');
}

/** Prints the report on stdout and writes results.md. */
export function writeReport(r: ReportInput): void {
  const table = rulesTable(r.results, r.opts.sizes, r.opts.runs);
  const targets = TARGETS.map((t) => targetLine(r.results, r.opts.sizes, t));
  const md = markdown(r, table, targets);
  if (r.opts.rules) process.stdout.write('\n' + table + '\n\nTargets (reported, not asserted):\n' + targets.join('\n') + '\n');
  process.stdout.write('\n' + r.startup + '\n');
  if (r.agent !== undefined) process.stdout.write('\n' + agentBlock(r.agent) + '\n');
  if (r.notes.length > 0) process.stdout.write('\nNotes:\n' + bullets(r.notes).join('\n') + '\n');
  if (r.problems.length > 0) process.stdout.write('\nProblems:\n' + bullets(r.problems).join('\n') + '\n');
  mkdirSync(r.outDir, { recursive: true });
  writeFileSync(join(r.outDir, 'results.md'), md);
  process.stdout.write(`\n(written to ${join(r.outDir, 'results.md')})\n`);
}
