// The bench's report: what each loader loaded, normalized for comparison; the cells' medians; the
// markdown table with its ratios and the targets; the notes, problems and samples; printed on stdout
// and written to .bench/results.md.

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import type { AgentBenchResult } from './agent-bench.js';
import { CHANGES, ONE_RULE, type Change } from './changes.js';
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

/** The table's rows: baselines, then nfgit's commands, then the calls rows (a variant's floor and compile). */
export type Key =
  | 'floor'
  | 'seed'
  | 'seedIncremental'
  | 'sequential'
  | 'restore'
  | 'compile'
  | 'check'
  | 'apply'
  | 'floorLiteral'
  | 'compileLiteral'
  | 'floorVariables'
  | 'compileVariables';

/** Each row's label, in the table, the log and the problems. */
export const LABELS: Record<Key, string> = {
  floor: 'zsh no-op floor (zsh -f, no-op functions)',
  seed: 'seed interception script (build + load)',
  seedIncremental: "seed interception script, in the incremental rows' rounds",
  sequential: 'sequential iptables (one call a rule)',
  restore: 'bare iptables-restore (rules.v4 + rules.v6)',
  compile: 'nfgit compile',
  check: 'nfgit check',
  apply: 'nfgit apply --full (compile + stage + snapshot + both restores)',
  floorLiteral: 'zsh no-op floor, literal calls',
  compileLiteral: 'nfgit compile, literal calls',
  floorVariables: 'zsh no-op floor, calls through variables',
  compileVariables: 'nfgit compile, calls through variables',
};
/** The table's row order. */
const ORDER: Key[] = [
  'floor',
  'seed',
  'seedIncremental',
  'sequential',
  'restore',
  'compile',
  'check',
  'apply',
  'floorLiteral',
  'compileLiteral',
  'floorVariables',
  'compileVariables',
];

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

/** One change's incremental apply rows at one size (test/bench/incremental.ts). */
export interface IncrementalCells {
  /** What the change is at this size (changes.ts). */
  readonly what: string;
  /** `nfgit apply` of the changed rules (the path it chooses): the whole command, and its durationMs (after compiling). */
  readonly whole: Cell;
  readonly post: Cell;
  /** The same change with `--full`, from the same starting point. */
  readonly fullWhole: Cell;
  readonly fullPost: Cell;
  /** Each run's path ("incremental", "full (drift)"); "none" where apply --json printed no path. */
  readonly paths: string[];
  /** Each run's counters of an unchanged rule after the apply: "kept (7/700)", "reset (0/0)". */
  readonly counters: string[];
}

/** The incremental apply rows: by size, by change. */
export type IncrementalResults = Map<number, Map<Change, IncrementalCells>>;

/** What the incremental rows show where this build's `apply --json` has no `path`. */
export const NO_INCREMENTAL = 'n/a (no incremental apply in this build)';

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

/**
 * The seed's full reload the incremental rows are set against: the seed run in their own rounds
 * (beside them in time), else the main table's.
 */
const seedFullReload = (results: Results, n: number): number | undefined => num(results, n, 'seedIncremental') ?? num(results, n, 'seed');

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
  // Rows of sections not run (--sections) are left out.
  const ran = (k: Key): boolean => sizes.some((n) => results.get(n)?.has(k) === true);
  const rows = ORDER.filter(ran).map((k) => `| ${LABELS[k]} | ${sizes.map((n) => cellText(results, n, k)).join(' | ')} |`);
  const ratioRow = (label: string, a: Key, b: Key): string | undefined =>
    ran(a) && ran(b) ? `| **${label}** | ${sizes.map((n) => ratio(results, n, a, b)).join(' | ')} |` : undefined;
  const ratioRows = [
    ratioRow('compile / zsh no-op floor', 'compile', 'floor'),
    ratioRow('check / seed script', 'check', 'seed'),
    ratioRow('check / bare restore', 'check', 'restore'),
    ratioRow('apply --full / seed script', 'apply', 'seed'),
    ratioRow('compile (literal calls) / floor', 'compileLiteral', 'floorLiteral'),
    ratioRow('compile (calls through variables) / floor', 'compileVariables', 'floorVariables'),
  ].filter((r) => r !== undefined);
  return [head, sep, ...rows, ...ratioRows].join('\n');
}

/** One line of the targets table: what is aimed at, what was measured, and whether it is met. */
interface TargetRow {
  readonly target: string;
  readonly measured: string;
  readonly result: string;
}

/** Everything the targets are read from. */
interface TargetInput {
  readonly results: Results;
  readonly incremental: IncrementalResults;
  readonly sizes: number[];
  readonly agent: AgentBenchResult | undefined;
  /** Whether the rules sections ran (false with --agent-only: only the agent's target is shown). */
  readonly rules: boolean;
}

/** A ratio target: X / Y at most (or, strict, below) LIMIT; undefined X or Y says why in WHY. */
function ratioTarget(target: string, x: number | undefined, y: number | undefined, limit: number, strict: boolean, why: string): TargetRow {
  if (x === undefined || y === undefined || y <= 0) return { target, measured: why, result: 'not measured' };
  const r = x / y;
  const met = strict ? r < limit : r <= limit;
  return { target, measured: `${fmtSeconds(x)} s / ${fmtSeconds(y)} s = ${r.toFixed(2)}x`, result: met ? 'met' : 'NOT met' };
}

/** A target on two rows of the main table at size n. */
function rowsTarget(t: TargetInput, target: string, n: number, a: Key, b: Key, limit: number, strict = false): TargetRow {
  const x = num(t.results, n, a);
  const y = num(t.results, n, b);
  const why = !t.sizes.includes(n)
    ? `size ${n} not in --sizes`
    : `${x === undefined ? LABELS[a] : LABELS[b]}: ${cellText(t.results, n, x === undefined ? a : b)}`;
  return ratioTarget(target, x, y, limit, strict, why);
}

/** A target on an incremental row (X of the change) against Y at size n. */
function incrementalTarget(
  t: TargetInput,
  target: string,
  n: number,
  change: Change,
  x: (c: IncrementalCells) => Cell,
  y: (c: IncrementalCells) => number | undefined,
  limit: number,
): TargetRow {
  const cells = t.incremental.get(n)?.get(change);
  if (!t.sizes.includes(n) || cells === undefined)
    return { target, measured: !t.sizes.includes(n) ? `size ${n} not in --sizes` : 'not run', result: 'not measured' };
  const cell = x(cells);
  return ratioTarget(target, cellValue(cell), y(cells), limit, false, cell.text ?? 'no sample');
}

const BIG = 50000;

/**
 * The idle daemon's largest resident memory in MiB (with the small and the large ruleset applied), from
 * the agent section's samples (VmRSS in kB) or its rows.
 */
function idleRssMiB(agent: AgentBenchResult | undefined): number | undefined {
  const fromSamples = (agent?.samples ?? [])
    .filter((l) => l.startsWith('idle daemon resident memory'))
    .map((l) => /VmRSS (\d+) kB/.exec(l)?.[1])
    .filter((kb): kb is string => kb !== undefined)
    .map((kb) => Number(kb) / 1024);
  if (fromSamples.length > 0) return Math.max(...fromSamples);
  const fromRows = (agent?.rows ?? [])
    .filter(([label]) => label.startsWith('idle daemon resident memory'))
    .map(([, cell]) => /^([\d.]+) MiB/.exec(cell)?.[1])
    .filter((mib): mib is string => mib !== undefined)
    .map(Number);
  return fromRows.length > 0 ? Math.max(...fromRows) : undefined;
}

/** The targets of the briefs (issue 15 and before), reported, never asserted. */
function targetRows(t: TargetInput): TargetRow[] {
  const rows: TargetRow[] = [
    rowsTarget(t, 'compile within 1.25x of the zsh no-op floor at 50000 rules (mixed calls)', BIG, 'compile', 'floor', 1.25),
    rowsTarget(t, 'compile (literal calls) / its floor at 50000 rules: at most 1.25x', BIG, 'compileLiteral', 'floorLiteral', 1.25),
    rowsTarget(
      t,
      'compile (calls through variables) / its floor at 50000 rules: at most 1.25x',
      BIG,
      'compileVariables',
      'floorVariables',
      1.25,
    ),
    rowsTarget(t, 'check of 10000 rules faster than the seed script building and loading them', 10000, 'check', 'seed', 1, true),
    rowsTarget(t, 'check / seed script at 50000 rules: at most 0.8x', BIG, 'check', 'seed', 0.8),
    rowsTarget(t, 'apply --full into a fresh namespace / seed script at 50000 rules: at most 0.8x', BIG, 'apply', 'seed', 0.8),
  ];
  for (const c of ONE_RULE)
    rows.push(
      incrementalTarget(
        t,
        `${CHANGE_LABELS[c]}: after compiling, incremental / --full at 50000 rules: at most 0.1x`,
        BIG,
        c,
        (x) => x.post,
        (x) => cellValue(x.fullPost),
        0.1,
      ),
    );
  const seed = seedFullReload(t.results, BIG);
  for (const c of CHANGES)
    rows.push(
      incrementalTarget(
        t,
        `${CHANGE_LABELS[c]}: whole apply / seed full reload at 50000 rules: at most 0.5x`,
        BIG,
        c,
        (x) => x.whole,
        () => seed,
        0.5,
      ),
    );
  rows.push(countersTarget(t));
  const rss = idleRssMiB(t.agent);
  if (!t.rules) rows.length = 0;
  rows.push({
    target: 'idle daemon resident memory (agent section, 20 and 50000 rules applied): at most 60 MiB',
    measured: rss === undefined ? (t.agent === undefined ? 'agent section not run' : 'no idle daemon row') : `${rss.toFixed(1)} MiB`,
    result: rss === undefined ? 'not measured' : rss <= 60 ? 'met' : 'NOT met',
  });
  return rows;
}

/** Counters of an unchanged rule kept by every one-rule apply, at every size measured. */
function countersTarget(t: TargetInput): TargetRow {
  const target = 'counters of an unchanged rule after a one-rule apply: kept (7/700)';
  const seen: string[] = [];
  let all = true;
  for (const n of t.sizes)
    for (const c of ONE_RULE) {
      const runs = t.incremental.get(n)?.get(c)?.counters ?? [];
      if (runs.length === 0) continue;
      const bad = runs.find((r) => !r.startsWith('kept'));
      if (bad !== undefined) all = false;
      seen.push(`${n} ${CHANGE_LABELS[c]}: ${bad ?? runs[0]}`);
    }
  if (seen.length === 0) return { target, measured: 'not run', result: 'not measured' };
  return {
    target,
    measured: all ? 'kept (7/700) in every one-rule apply' : seen.filter((x) => !x.endsWith('(7/700)')).join('; '),
    result: all ? 'met' : 'NOT met',
  };
}

/** The targets as a table (results.md and stdout alike). */
function targetsTable(rows: TargetRow[]): string {
  return ['| target | measured | result |', '|---|---|---|', ...rows.map((r) => `| ${r.target} | ${r.measured} | **${r.result}** |`)].join(
    '\n',
  );
}

// ---------------------------------------------------------------------------------------------
// The incremental apply table

/** Each change's short name in the rows. */
export const CHANGE_LABELS: Record<Change, string> = {
  add: '+1 rule',
  delete: '-1 rule',
  replace: '1 rule replaced',
  percent: '1% of rules changed',
};

/** The incremental apply rows: per change, the path, the four times, the counters and the two ratios. */
function incrementalTable(t: TargetInput, runs: number): string {
  const { incremental, sizes } = t;
  const sized = sizes.filter((n) => incremental.has(n));
  const head = `| incremental apply, seconds (median of ${runs}) | ${sized.map((n) => `${n} rules`).join(' | ')} |`;
  const sep = `|---|${sized.map(() => '---:').join('|')}|`;
  const cellsOf = (n: number, c: Change): IncrementalCells | undefined => incremental.get(n)?.get(c);
  const rowOf =
    (c: Change) =>
    (label: string, f: (x: IncrementalCells, n: number) => string): string =>
      `| ${label} | ${sized.map((n) => (cellsOf(n, c) === undefined ? 'n/a' : f(cellsOf(n, c) as IncrementalCells, n))).join(' | ')} |`;
  const time = (cell: Cell): string =>
    cell.text !== undefined ? cell.text : cellValue(cell) === undefined ? 'n/a' : fmtSeconds(cellValue(cell) ?? 0);
  const ratioText = (x: Cell, y: number | undefined): string => {
    const a = cellValue(x);
    if (a === undefined) return x.text ?? 'n/a';
    return y !== undefined && y > 0 ? `${(a / y).toFixed(2)}x` : 'n/a';
  };
  const lines = [head, sep];
  for (const c of CHANGES) {
    const row = rowOf(c);
    const name = CHANGE_LABELS[c];
    lines.push(
      row(`${name}: path taken`, (x) =>
        x.paths.length === 0 ? 'n/a' : x.paths.every((p) => p === 'none') ? NO_INCREMENTAL : [...new Set(x.paths)].join(', '),
      ),
      row(`${name}: apply (whole command)`, (x) => time(x.whole)),
      row(`${name}: apply, after compiling (durationMs)`, (x) => time(x.post)),
      row(`${name}: apply --full (whole command)`, (x) => time(x.fullWhole)),
      row(`${name}: apply --full, after compiling`, (x) => time(x.fullPost)),
      row(`${name}: counters of an unchanged rule after the apply`, (x) =>
        x.counters.length === 0 ? 'n/a' : [...new Set(x.counters)].join(', '),
      ),
      row(`**${name}: after compiling, incremental / --full**${ONE_RULE.includes(c) ? ' (target ≤0.1x)' : ''}`, (x) =>
        ratioText(x.post, cellValue(x.fullPost)),
      ),
      row(`**${name}: whole apply / seed full reload** (target ≤0.5x at 50k)`, (x, n) => ratioText(x.whole, seedFullReload(t.results, n))),
    );
  }
  return lines.join('\n');
}

/** Every sample of every cell, one line a cell. */
function sampleLines(results: Results, incremental: IncrementalResults, sizes: number[]): string[] {
  const samples: string[] = [];
  const line = (what: string, c: Cell | undefined): void => {
    if (c !== undefined && c.samples.length > 0) samples.push(`- ${what}: ${c.samples.map((s) => s.toFixed(3)).join(', ')} s`);
  };
  for (const n of sizes) {
    for (const k of ORDER) line(`${n} rules, ${LABELS[k]}`, results.get(n)?.get(k));
    for (const [c, x] of incremental.get(n) ?? []) {
      line(`${n} rules, ${x.what}: apply (whole command)`, x.whole);
      line(`${n} rules, ${x.what}: apply, after compiling`, x.post);
      line(`${n} rules, ${x.what}: apply --full (whole command)`, x.fullWhole);
      line(`${n} rules, ${x.what}: apply --full, after compiling`, x.fullPost);
      if (x.paths.length > 0)
        samples.push(`- ${n} rules, ${CHANGE_LABELS[c]}: paths ${x.paths.join(', ')}; counters ${x.counters.join(', ') || 'n/a'}`);
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
  readonly incremental: IncrementalResults;
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
          `- runs per cell: ${runs}, interleaved (each round runs every row of a table once, so a ratio's two cells are measured minutes apart no more than a cell's own runs); every loader in a fresh \`unshare --net\` namespace (nfgit apply: a fresh \`ip netns add\` one); times are wall clock ` +
            `from spawn to the end of the load (loaders) or to process exit (floor, nfgit)`,
          ...(process.env.NODE_EXTRA_CA_CERTS === undefined
            ? []
            : [
                "- NODE_EXTRA_CA_CERTS is set here and left out of the measured commands' environment: every Node process would " +
                  'parse that CA bundle as it starts (70-90 ms on the build machines), which a firewall host does not (measure.ts childEnv)',
              ]),
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
  'nfgit apply --full: `node dist/src/cli/main.js apply --rules DIR --netns NS --state-dir DIR --full` (without `--full` in a build that lacks it), whole process (compile, stage in a scratch namespace, lock, snapshot both families, journal, restore IPv4 then IPv6, record the last good ruleset, host commands), into a fresh `ip netns add` namespace with a fresh state directory each run; making and deleting the namespace are not timed. Its baseline, "seed script applies", is the seed interception script row: it builds and loads the same ruleset without staging, snapshot or rollback.',
  "calls rows: the same rules written two more ways (test/bench/generate.ts): literal calls only (`iptables -A …`; the helper branches on its argument), and calls through variables only, the way admins write them (`IPT=iptables` … `$IPT -A …`, `$cmd -t nat -A …`, `for ipt in iptables ip6tables; do $ipt -A …`, the helper's `$cmd -A …`). Each is compiled (`nfgit compile`, whole process) and set against the zsh no-op floor of its own files; the compiled rulesets must equal the mixed one's byte for byte (a problem otherwise). The main rows (floor, compile) are the mixed files: about 60% of the calls through a variable.",
  'incremental apply rows (test/bench/incremental.ts, changes.ts): one named namespace and one state directory per run; the base ruleset is applied first (not timed), then for each change: counters of the first rule of a chain the change leaves alone are set to 7 packets / 700 bytes (`iptables -R CHAIN 1 -c 7 700 RULE`, as `iptables -S` prints it), `nfgit apply --json` of the changed rules (timed: the whole command, and its `durationMs`, the part after compiling; `path` is the path it took), the counters are read back, the base is applied again (not timed), then `nfgit apply --full --json` of the same change (timed), and the base again. Both applies of a change must leave the same ruleset (normalized iptables-save; a problem otherwise). The seed full reload is the seed interception script run once at the start of each round of the incremental rows (its own row), so that the ratio compares runs made minutes apart no more than the rows themselves.',
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
function markdown(r: ReportInput, tables: string[], targets: string): string {
  const { opts, agent } = r;
  return [
    '# nfgit benchmark',
    '',
    ...environmentLines(r.startedAt, opts.rules, opts.runs),
    '',
    ...tables.flatMap((t) => [t, '']),
    r.startup,
    '',
    ...(agent !== undefined ? ['## Agent', '', agentTable(agent), ''] : []),
    '## Targets (reported, not asserted)',
    '',
    targets,
    '',
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
    ...sampleLines(r.results, r.incremental, opts.sizes),
    ...bullets(agent?.samples ?? []),
    '',
  ].join('\n');
}

/** Prints the report on stdout (the targets last) and writes results.md. */
export function writeReport(r: ReportInput): void {
  const t: TargetInput = { results: r.results, incremental: r.incremental, sizes: r.opts.sizes, agent: r.agent, rules: r.opts.rules };
  const tables = r.opts.rules ? [rulesTable(r.results, r.opts.sizes, r.opts.runs)] : [];
  if (r.incremental.size > 0) tables.push(incrementalTable(t, r.opts.runs));
  const targets = targetsTable(targetRows(t));
  const md = markdown(r, tables, targets);
  for (const table of tables) process.stdout.write('\n' + table + '\n');
  process.stdout.write('\n' + r.startup + '\n');
  if (r.agent !== undefined) process.stdout.write('\n' + agentBlock(r.agent) + '\n');
  if (r.notes.length > 0) process.stdout.write('\nNotes:\n' + bullets(r.notes).join('\n') + '\n');
  if (r.problems.length > 0) process.stdout.write('\nProblems:\n' + bullets(r.problems).join('\n') + '\n');
  process.stdout.write('\nTargets (reported, not asserted):\n\n' + targets + '\n');
  mkdirSync(r.outDir, { recursive: true });
  writeFileSync(join(r.outDir, 'results.md'), md);
  process.stdout.write(`\n(written to ${join(r.outDir, 'results.md')})\n`);
}
