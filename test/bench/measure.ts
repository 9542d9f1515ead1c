// The bench's measurements: the processes, scratch namespaces and temp dirs it starts (and removes on
// every path), timed runs after the machine settles, and the timed steps: at each size the zsh floor,
// the seed script, sequential iptables and bare iptables-restore as baselines, then nfgit compile,
// check, apply --full and the calls rows (compile of literal calls and of calls through variables),
// and a comparison of what each loader put in the kernel; then the agent section. The incremental
// apply rows (incremental.ts) use its run(), settling and namespaces.
//
// Every baseline that touches netfilter runs in its own fresh `unshare --net` namespace; nfgit apply
// runs into a fresh named namespace (`ip netns add nfgit-t-bench-…`), created and deleted around
// each run, never into the machine's own.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { benchAgent, type AgentBenchResult } from './agent-bench.js';
import { benchFleet, type FleetBenchResult } from './fleet-bench.js';
import { generateRules, writeRules } from './generate.js';
import type { Options } from './options.js';
import { type Calls, type Generated } from './generate.js';
import {
  cellValue,
  countRules,
  firstDifference,
  firstLines,
  LABELS,
  normalizeSave,
  type Cell,
  type IncrementalResults,
  type Key,
  type Results,
} from './report.js';

// ---------------------------------------------------------------------------------------------
// Processes, temp dirs and cleanup

const active = new Set<ChildProcess>();
const tempDirs = new Set<string>();
const namespaces = new Set<string>();

/** Creates a fresh named network namespace for one run of nfgit apply. */
export function addNetns(): string {
  const name = `nfgit-t-bench-${randomBytes(4).toString('hex')}`;
  const r = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip netns add ${name} failed: ${(r.stderr ?? '').trim() || `exit ${r.status}`}`);
  namespaces.add(name);
  return name;
}

/**
 * Deletes a namespace made by addNetns. Its tables are emptied first, like the loaders' namespaces,
 * so the kernel's asynchronous teardown of 50k rules does not run into the next measurement.
 */
export function delNetns(name: string): void {
  const empty =
    "printf '*filter\\nCOMMIT\\n*nat\\nCOMMIT\\n' | iptables-restore; printf '*filter\\nCOMMIT\\n*nat\\nCOMMIT\\n' | ip6tables-restore";
  spawnSync('ip', ['netns', 'exec', name, 'sh', '-c', empty], { stdio: 'ignore' });
  spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  namespaces.delete(name);
}

/** Kills every child's process group, deletes every namespace and temp dir still there. */
export function cleanup(): void {
  for (const child of active) {
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  active.clear();
  for (const name of [...namespaces]) delNetns(name);
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/** Runs cleanup on exit and on SIGINT, SIGTERM and SIGHUP (then exits 130 or 143). */
export function installCleanup(): void {
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, cleaning up\n`);
      cleanup();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

/** A temp dir removed on every exit path. */
function makeTempRoot(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nfgit-bench-'));
  tempDirs.add(dir);
  return dir;
}

/** How one run of a command went. */
export interface RunResult {
  /** seconds from spawn to the marker line (when asked for) or to the process exit */
  seconds: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  markerSeen: boolean;
}

const OUTPUT_LIMIT = 256 * 1024;

/** Runs a command in a process group of its own (killed at the time limit or on exit), timing it. */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutSeconds: number; marker?: string },
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    let stdout = '';
    let stderr = '';
    let tMarker: number | undefined;
    let tExit: number | undefined;
    let timedOut = false;
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    active.add(child);
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }, opts.timeoutSeconds * 1000);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (opts.marker !== undefined && tMarker === undefined && (stdout.slice(-opts.marker.length) + chunk).includes(opts.marker)) {
        tMarker = performance.now();
      }
      if (stdout.length < OUTPUT_LIMIT) stdout += chunk;
    });
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < OUTPUT_LIMIT) stderr += chunk;
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      active.delete(child);
      reject(err);
    });
    child.on('exit', () => {
      tExit = performance.now();
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      active.delete(child);
      const end = tMarker ?? tExit ?? performance.now();
      resolvePromise({
        seconds: (end - t0) / 1000,
        code,
        signal,
        stdout,
        stderr,
        timedOut,
        markerSeen: tMarker !== undefined,
      });
    });
  });
}

/** Fraction of all CPUs busy over a short window, from /proc/stat. */
async function busyFraction(ms: number): Promise<number> {
  const sample = (): { idle: number; total: number } => {
    const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { idle: (f[3] ?? 0) + (f[4] ?? 0), total };
  };
  const a = sample();
  await new Promise((r) => setTimeout(r, ms));
  const b = sample();
  const dt = b.total - a.total;
  return dt > 0 ? 1 - (b.idle - a.idle) / dt : 0;
}

const SETTLE_BUSY = 0.15;
const SETTLE_MAX_SECONDS = 60;

/**
 * Waits (up to a minute) until the machine is quiet before a timed run: the kernel tears network
 * namespaces down asynchronously, and other work on a 2-core machine skews wall-clock times.
 * Returns how busy the machine was when the run started.
 */
async function settle(): Promise<number> {
  const deadline = performance.now() + SETTLE_MAX_SECONDS * 1000;
  let busy = await busyFraction(250);
  while (busy > SETTLE_BUSY && performance.now() < deadline) busy = await busyFraction(500);
  return busy;
}

/** settle(), noting a run that started on a busy machine (WHAT names it in the notes). */
export async function settleFor(bench: Bench, what: string): Promise<void> {
  const busy = await settle();
  if (busy > SETTLE_BUSY) bench.busyRuns.push(`${what}: ${(busy * 100).toFixed(0)}% CPU busy`);
}

// ---------------------------------------------------------------------------------------------
// The run's context

/** The repository holding this bench (package.json beside test/bench/seed.zsh). */
function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && existsSync(join(dir, 'test', 'bench', 'seed.zsh'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root (package.json + test/bench/seed.zsh)');
    dir = up;
  }
}

/**
 * Startup time of the bundled nfgit (what the Debian package ships, and what git hooks start on every
 * push): the median of 10 runs of `nfgit check --help`, beside the median of `node -e 0`.
 */
export function bundledStartup(root: string, tmp: string): string {
  const bundle = join(tmp, 'bundle', 'nfgit.mjs');
  const built = spawnSync('node', [join(root, 'packaging', 'bundle.mjs'), join(tmp, 'bundle')], { cwd: root, encoding: 'utf8' });
  if (built.status !== 0) return `bundled nfgit check --help: n/a (bundling failed: ${firstLines(built.stderr, 1)})`;
  const median = (args: string[]): number => {
    const samples: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      const r = spawnSync('node', args, { cwd: tmp, stdio: 'ignore', env: childEnv(tmp) });
      if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}`);
      samples.push((performance.now() - t0) / 1000);
    }
    samples.sort((a, b) => a - b);
    return ((samples[4] ?? 0) + (samples[5] ?? 0)) / 2;
  };
  return `bundled nfgit check --help: ${median([bundle, 'check', '--help']).toFixed(2)} s (node -e 0: ${median(['-e', '0']).toFixed(2)} s)`;
}

/**
 * Sequential iptables time estimate for n rules, from the NOTES measurements (nft backend, one rule
 * a call into an empty namespace: 2000 rules 5.1 s, 4000 rules 13.9 s; fitted as a*n + b*n^2) and
 * scaled by this run's own 1000-rule measurement when there is one.
 */
function estimateSequential(n: number, measured1k: number | undefined): number {
  const b = (13.9 - 2 * 5.1) / 8e6;
  const a = (5.1 - b * 4e6) / 2000;
  const f = (x: number): number => a * x + b * x * x;
  return measured1k !== undefined ? (measured1k * f(n)) / f(1000) : f(n);
}

/** Whether this build's `nfgit apply` knows `--full` (the incremental apply's way to force a full reload). */
function applyKnowsFull(cli: string): boolean {
  if (!existsSync(cli)) return false;
  const help = spawnSync(process.execPath, [cli, 'apply', '--help'], { encoding: 'utf8' });
  return /^\s*--full\b/m.test(help.stdout ?? '');
}

/** What every step shares: the options, where things are, the results so far and what went wrong. */
export interface Bench {
  readonly opts: Options;
  /** The repository root (holds dist/ and .bench/). */
  readonly root: string;
  /** test/bench: the zsh scripts the baselines run. */
  readonly benchDir: string;
  /** The built CLI, dist/src/cli/main.js. */
  readonly cli: string;
  /** This run's temp root, removed on every path. */
  readonly tmp: string;
  /** The children's environment. */
  readonly env: NodeJS.ProcessEnv;
  readonly startedAt: Date;
  readonly results: Results;
  /** The incremental apply rows (test/bench/incremental.ts), by size. */
  readonly incremental: IncrementalResults;
  /** Whether `nfgit apply --full` exists in this build (without it, every apply is a full reload). */
  readonly applyFull: boolean;
  readonly problems: string[];
  readonly notes: string[];
  /** Runs that started while the machine was still busy, for a note. */
  readonly busyRuns: string[];
  /** A progress line on stderr. */
  readonly log: (s: string) => void;
  /** Records a problem for the report and logs its first line. */
  readonly problem: (s: string) => void;
}

/**
 * The environment of every measured command. Without NODE_EXTRA_CA_CERTS: set on the build machines
 * (a proxy's CA bundle), it makes every Node process parse the whole bundle as it starts, 70-90 ms
 * that a firewall host does not pay and that no command here needs (nothing measured uses TLS). The
 * baselines run no Node: left in, it would count against nfgit alone.
 */
export function childEnv(tmp: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp, LC_ALL: 'C' };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/** Sets a run up: the repository, a temp root, the children's environment; logs what it will measure. */
export function startBench(opts: Options): Bench {
  const root = findRepoRoot();
  const tmp = makeTempRoot();
  const childTmp = join(tmp, 'tmp');
  mkdirSync(childTmp);
  const log = (s: string): void => {
    process.stderr.write(s + '\n');
  };
  const problems: string[] = [];
  const bench: Bench = {
    opts,
    root,
    benchDir: join(root, 'test', 'bench'),
    cli: join(root, 'dist', 'src', 'cli', 'main.js'),
    tmp,
    // Children's mktemp (the seed script's, nfgit's) lands under our temp root, removed on every path.
    env: childEnv(childTmp),
    startedAt: new Date(),
    results: new Map(),
    incremental: new Map(),
    applyFull: applyKnowsFull(join(root, 'dist', 'src', 'cli', 'main.js')),
    problems,
    notes: [],
    busyRuns: [],
    log,
    problem: (s) => {
      problems.push(s);
      log(`  PROBLEM: ${s.split('\n')[0] ?? ''}`);
    },
  };
  if (opts.fleet)
    log(`bench: the fleet: ${opts.fleetSizes.join(', ')} hosts; ${opts.agents.join(', ') || 'no'} concurrent agents; temp ${tmp}`);
  else
    log(
      `bench: ${opts.rules ? `sizes ${opts.sizes.join(', ')}` : 'agent only'}${opts.rules && opts.agent ? ' and the agent' : ''}; ${opts.runs} run(s) each; temp ${tmp}`,
    );
  return bench;
}

// ---------------------------------------------------------------------------------------------
// One measurement: K runs of a command

/** One size's measurements in progress. */
export interface Size {
  readonly bench: Bench;
  readonly n: number;
  readonly cells: Map<Key, Cell>;
  /** This size's scratch directory. */
  readonly dir: string;
  /** The generated rule directory. */
  readonly rules: string;
  /** Whether dist/src/cli/main.js exists: without it nfgit's rows are n/a. */
  readonly cliBuilt: boolean;
  /** The normalized iptables-save of what each loader loaded (first run). */
  readonly saves: Map<Key, string>;
}

/** How to run one measured command. */
interface RunSpec {
  cmd: string;
  args: string[];
  /** Run in a fresh `unshare --net` namespace, time to the load, then verify what it loaded. */
  nsLoad: boolean;
  timeoutSeconds?: number;
  /** The named namespace the command loads (made by the builder, deleted after the run); time to the command's exit, then verify what it holds. */
  netns?: string;
  /** Runs after every run, on every path. */
  after?: () => void;
}

/** Checks a successful run's output (false: the cell is an error). */
type AfterRun = (r: RunResult, k: number) => boolean;

/** Generates the size's rule directory and checks the generator with a zsh count of its calls. */
export async function prepareSize(bench: Bench, n: number): Promise<Size> {
  const cells = new Map<Key, Cell>();
  bench.results.set(n, cells);
  const dir = join(bench.tmp, String(n));
  const rules = join(dir, 'rules');
  const g = generateRules(n);
  bench.log(`\n== ${n} rules (${g.v4} IPv4, ${g.v6} IPv6) in ${rules}`);
  await writeCheckedRules(bench, rules, g);
  return { bench, n, cells, dir, rules, cliBuilt: existsSync(bench.cli), saves: new Map() };
}

/** Writes a generated rule directory and checks it with a zsh run of the files counting rule-adding calls (touches nothing). */
export async function writeCheckedRules(bench: Bench, dir: string, g: Generated): Promise<void> {
  writeRules(dir, g);
  const counted = await run('zsh', ['-f', join(bench.benchDir, 'count.zsh'), dir], {
    cwd: bench.root,
    env: bench.env,
    timeoutSeconds: bench.opts.timeoutSeconds,
  });
  const [c4, c6] = counted.stdout.trim().split(' ').map(Number);
  if (counted.code !== 0 || c4 !== g.v4 || c6 !== g.v6) {
    throw new Error(
      `generator: ${dir}: expected ${g.v4}+${g.v6} rule-adding calls, zsh counted "${counted.stdout.trim()}" (exit ${counted.code}): ${counted.stderr}`,
    );
  }
}

/**
 * A measurement's runs, made one at a time by `interleave`: the cells of one table take turns run by
 * run, so that the two cells of a ratio are measured as close together in time as one cell's own runs.
 * This machine's speed moves by a third over minutes; measured one cell after the other, that drift
 * went into the ratios (a floor measured at one speed, the compile beside it at another).
 */
export interface Measurement {
  /** Run k. The first failure ends the cell: its later runs do nothing. */
  readonly run: (k: number) => Promise<void>;
}

/** Runs K rounds of the measurements, each one run of every measurement in turn. */
export async function interleave(size: Size, measurements: ReadonlyArray<Measurement | undefined>): Promise<void> {
  for (let k = 0; k < size.bench.opts.runs; k++) for (const m of measurements) await m?.run(k);
}

/**
 * The runs of one measurement into the size's cell for KEY. The first failure makes the cell "error"
 * (or "timeout") and ends it; the first run's load is verified and kept for the comparison.
 */
function cellRuns(size: Size, key: Key, build: (k: number) => RunSpec, afterRun?: AfterRun): Measurement {
  const cell: Cell = { samples: [] };
  size.cells.set(key, cell);
  let over = false;
  return {
    run: async (k) => {
      if (over) return;
      let spec: RunSpec;
      try {
        spec = build(k);
      } catch (err) {
        cell.text = 'error';
        size.bench.problem(`${size.n} rules, ${LABELS[key]}: ${(err as Error).message}`);
        over = true;
        return;
      }
      try {
        if (!(await runOnce(size, key, k, spec, cell, afterRun))) over = true;
      } finally {
        if (spec.netns !== undefined) delNetns(spec.netns);
        spec.after?.();
      }
    },
  };
}

/** Run k of a measurement: waits for the machine to settle, runs, checks, records. False: the cell failed. */
async function runOnce(size: Size, key: Key, k: number, spec: RunSpec, cell: Cell, afterRun: AfterRun | undefined): Promise<boolean> {
  const { bench, n } = size;
  const [cmd, args] = commandLine(size, key, k, spec);
  const busy = await settle();
  if (busy > SETTLE_BUSY) bench.busyRuns.push(`${n} rules, ${LABELS[key]}, run ${k + 1}: ${(busy * 100).toFixed(0)}% CPU busy`);
  const timeoutSeconds = spec.timeoutSeconds ?? bench.opts.timeoutSeconds;
  const r = await run(cmd, args, { cwd: bench.root, env: bench.env, timeoutSeconds, ...(spec.nsLoad ? { marker: '@@loaded' } : {}) });
  const failure = runFailure(r, spec.nsLoad);
  if (failure !== undefined) {
    cell.text = r.timedOut ? `timeout (>${timeoutSeconds} s)` : 'error';
    bench.problem(
      `${n} rules, ${LABELS[key]}: ${failure}\n` +
        `    command: ${[cmd, ...args].join(' ')}\n` +
        `    stderr:\n${firstLines(r.stderr, 20).replace(/^/gm, '      ')}`,
    );
    return false;
  }
  if (afterRun !== undefined && !afterRun(r, k)) {
    cell.text = 'error';
    return false;
  }
  cell.samples.push(r.seconds);
  const loaded = loadedSaves(size, key, k, spec);
  if (loaded !== undefined && k === 0) recordLoad(size, key, loaded);
  bench.log(`  ${LABELS[key]}: run ${k + 1}/${bench.opts.runs}: ${r.seconds.toFixed(3)} s`);
  return true;
}

/** The command line of run k: an `nsLoad` command is wrapped in a fresh namespace of its own. */
function commandLine(size: Size, key: Key, k: number, spec: RunSpec): [cmd: string, args: string[]] {
  if (!spec.nsLoad) return [spec.cmd, spec.args];
  // Time stops at the marker, printed as soon as the loader returns; the save for the
  // verification happens after, in the same namespace.
  // Emptying the tables before leaving keeps the kernel's asynchronous teardown of a
  // namespace holding 50k rules from running into the next measurement.
  const script =
    '"$@"; rc=$?; echo "@@loaded $rc"; iptables-save > "$0.save4"; ip6tables-save > "$0.save6"; ' +
    "printf '*filter\\nCOMMIT\\n*nat\\nCOMMIT\\n' | iptables-restore; printf '*filter\\nCOMMIT\\n*nat\\nCOMMIT\\n' | ip6tables-restore; exit 0";
  return ['unshare', ['--net', '--', 'sh', '-c', script, join(size.dir, `${key}-${k}`), spec.cmd, ...spec.args]];
}

/** Why a run failed (timed out, the loader's exit status, no load marker), or undefined when it succeeded. */
function runFailure(r: RunResult, nsLoad: boolean): string | undefined {
  const marked = /@@loaded (\d+)/.exec(r.stdout)?.[1];
  const loadRc = nsLoad ? (marked === undefined ? null : Number(marked)) : r.code;
  if (!r.timedOut && loadRc === 0 && !(nsLoad && r.code !== 0)) return undefined;
  return r.timedOut ? 'timed out' : loadRc !== null ? `exit ${loadRc}` : `no load marker (exit ${r.code ?? r.signal})`;
}

/** iptables-save and ip6tables-save of what run k loaded: the wrapper's files, or the named namespace. */
function loadedSaves(size: Size, key: Key, k: number, spec: RunSpec): [string, string] | undefined {
  if (spec.nsLoad) {
    const save4 = join(size.dir, `${key}-${k}.save4`);
    const save6 = join(size.dir, `${key}-${k}.save6`);
    const saves: [string, string] = [readFileSync(save4, 'utf8'), readFileSync(save6, 'utf8')];
    rmSync(save4, { force: true });
    rmSync(save6, { force: true });
    return saves;
  }
  const netns = spec.netns;
  if (netns === undefined) return undefined;
  const save = (tool: string): string => {
    const s = spawnSync('ip', ['netns', 'exec', netns, tool], { encoding: 'utf8', maxBuffer: 1 << 30 });
    if (s.status !== 0) size.bench.problem(`${size.n} rules, ${LABELS[key]}: ${tool} in ${netns} failed: ${(s.stderr ?? '').trim()}`);
    return s.stdout ?? '';
  };
  return [save('iptables-save'), save('ip6tables-save')];
}

/** Checks the rule count of a loader's first load and keeps it (normalized) for the comparison. */
function recordLoad(size: Size, key: Key, [s4, s6]: [string, string]): void {
  const { n } = size;
  const loaded = countRules(s4) + countRules(s6);
  if (loaded !== n) size.bench.problem(`${n} rules, ${LABELS[key]}: loaded ${loaded} rules, expected ${n}`);
  size.saves.set(key, normalizeSave(s4) + normalizeSave(s6));
  if (key === 'seed') {
    writeFileSync(join(size.dir, 'seed.v4'), s4);
    writeFileSync(join(size.dir, 'seed.v6'), s6);
  }
}

// ---------------------------------------------------------------------------------------------
// The baselines

/**
 * 1. zsh no-op floor. In `unshare --net` like the loaders (and like nfgit, whose compiler runs the
 *    rule files in an empty namespace); unshare itself costs about a millisecond.
 */
export function floorRuns(size: Size, key: Key = 'floor', rules: string = size.rules): Measurement {
  const script = join(size.bench.benchDir, 'floor.zsh');
  return cellRuns(size, key, () => ({ cmd: 'unshare', args: ['--net', '--', 'zsh', '-f', script, rules], nsLoad: false }));
}

/** 2. The seed article's interception script: builds and loads. */
export function seedRuns(size: Size, key: Key = 'seed'): Measurement {
  const script = join(size.bench.benchDir, 'seed.zsh');
  return cellRuns(size, key, () => ({ cmd: 'zsh', args: ['-f', script, size.rules], nsLoad: true }));
}

/** 3. Sequential iptables: quadratic, so only at 1000 rules unless --sequential-all (else undefined: skipped). */
export function sequentialRuns(size: Size): Measurement | undefined {
  const { bench, n } = size;
  const seq1k = cellValue(bench.results.get(1000)?.get('sequential'));
  const est = estimateSequential(n, seq1k);
  if (n === 1000 || bench.opts.sequentialAll) {
    return cellRuns(size, 'sequential', () => ({
      cmd: 'zsh',
      args: ['-f', join(bench.benchDir, 'sequential.zsh'), size.rules],
      nsLoad: true,
      timeoutSeconds: Math.max(bench.opts.timeoutSeconds, Math.ceil(est * 4)),
    }));
  }
  const estText = `skipped (est. ~${est >= 10 ? est.toFixed(0) : est.toFixed(1)} s)`;
  size.cells.set('sequential', { samples: [], text: estText });
  bench.log(`  ${LABELS.sequential}: ${estText}; --sequential-all runs it`);
  return undefined;
}

/**
 * 5. Bare iptables-restore of the compiled ruleset (or, without nfgit, of the seed's ruleset), which
 *    `compiledOut` gives once the compile of the same round has run.
 */
export function restoreRuns(size: Size, compiledOut: () => string | undefined): Measurement {
  let files: [v4: string, v6: string] | undefined;
  const runs = cellRuns(size, 'restore', () => {
    const [v4, v6] = files as [string, string];
    return { cmd: 'sh', args: ['-c', 'iptables-restore < "$1" && ip6tables-restore < "$2"', 'sh', v4, v6], nsLoad: true };
  });
  return {
    run: async (k) => {
      if (k === 0) {
        const out = compiledOut();
        if (out !== undefined) {
          files = [join(out, 'rules.v4'), join(out, 'rules.v6')];
        } else if (existsSync(join(size.dir, 'seed.v4'))) {
          files = [join(size.dir, 'seed.v4'), join(size.dir, 'seed.v6')];
          size.bench.notes.push(
            `${size.n} rules: bare iptables-restore loaded the seed script's ruleset (iptables-save of it), nfgit's output being unavailable.`,
          );
        } else {
          size.cells.set('restore', { samples: [], text: 'n/a' });
        }
      }
      if (files !== undefined) await runs.run(k);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// nfgit

/**
 * 4. nfgit compile (of RULES, into KEY's row); `out()` is the output directory of its latest successful
 *    run (for the restore baseline), undefined while there is none or once the cell failed.
 */
export function compileRuns(
  size: Size,
  key: Key = 'compile',
  rules: string = size.rules,
): { measurement: Measurement | undefined; out: () => string | undefined } {
  const { bench } = size;
  if (!size.cliBuilt) {
    size.cells.set(key, { samples: [], text: 'n/a' });
    if (key === 'compile') size.cells.set('check', { samples: [], text: 'n/a' });
    bench.log(`  nfgit: ${bench.cli} does not exist (not built yet): ${LABELS[key]} is n/a`);
    return { measurement: undefined, out: () => undefined };
  }
  const outs: string[] = [];
  let compiledOut: string | undefined;
  const measurement = cellRuns(
    size,
    key,
    (k) => {
      const out = join(size.dir, `${key}-out-${k}`);
      mkdirSync(out, { recursive: true });
      outs[k] = out;
      return { cmd: process.execPath, args: [bench.cli, 'compile', '--rules', rules, '--out', out], nsLoad: false };
    },
    (r, k) => {
      const out = outs[k] ?? '';
      if (!compileOutputOk(size, key, out, r, k)) return false;
      compiledOut = out;
      return true;
    },
  );
  return { measurement, out: () => (size.cells.get(key)?.text === undefined ? compiledOut : undefined) };
}

/** Whether a compile run wrote its three files (a problem if not); the first run's rule count is checked. */
function compileOutputOk(size: Size, key: Key, out: string, r: RunResult, k: number): boolean {
  const { n } = size;
  const missing = ['rules.v4', 'rules.v6', 'plan.json'].filter((f) => !existsSync(join(out, f)));
  if (missing.length > 0) {
    size.bench.problem(
      `${n} rules, ${LABELS[key]} exited 0 but did not write ${missing.join(', ')} in --out\n    stderr:\n${firstLines(r.stderr, 20).replace(/^/gm, '      ')}`,
    );
    return false;
  }
  if (k === 0) {
    const v4 = readFileSync(join(out, 'rules.v4'), 'utf8');
    const v6 = readFileSync(join(out, 'rules.v6'), 'utf8');
    const c = countRules(v4) + countRules(v6);
    if (c !== n) size.bench.problem(`${n} rules, ${LABELS[key]}: rules.v4 + rules.v6 hold ${c} -A lines, expected ${n}`);
  }
  return true;
}

/** The calls rows' keys: each variant's floor and compile. */
const CALLS_KEYS: Record<Exclude<Calls, 'mixed'>, [floor: Key, compile: Key]> = {
  literal: ['floorLiteral', 'compileLiteral'],
  variables: ['floorVariables', 'compileVariables'],
};

/**
 * 4b. The calls rows: the same rules written with literal calls only, then with calls through
 *     variables only (generate.ts), each compiled and measured against its own zsh no-op floor, the
 *     four cells interleaved. The compiled rulesets must equal the mixed one's (REFERENCE, the output
 *     of the compile row) or each other's.
 */
export async function measureCalls(size: Size, reference: string | undefined): Promise<void> {
  const variants = [];
  for (const calls of ['literal', 'variables'] as const) {
    const [floorKey, compileKey] = CALLS_KEYS[calls];
    const rules = join(size.dir, `rules-${calls}`);
    await writeCheckedRules(size.bench, rules, generateRules(size.n, { calls }));
    variants.push({ compileKey, floor: floorRuns(size, floorKey, rules), compile: compileRuns(size, compileKey, rules) });
  }
  await interleave(
    size,
    variants.flatMap((v) => [v.floor, v.compile.measurement]),
  );
  let ref = reference;
  for (const { compileKey, compile } of variants) {
    const out = compile.out();
    if (out === undefined) continue;
    if (ref === undefined) {
      ref = out;
      continue;
    }
    for (const f of ['rules.v4', 'rules.v6']) {
      const a = readFileSync(join(ref, f), 'utf8');
      const b = readFileSync(join(out, f), 'utf8');
      if (a !== b)
        size.bench.problem(
          `${size.n} rules, ${LABELS[compileKey]}: its ${f} differs from ${join(ref, f)}, first difference at ${firstDifference(a, b)}`,
        );
    }
  }
}

/** 6. nfgit check (undefined when the CLI is not built: compileRuns made it n/a). */
export function checkRuns(size: Size): Measurement | undefined {
  if (!size.cliBuilt) return undefined;
  return cellRuns(size, 'check', () => ({
    cmd: process.execPath,
    args: [size.bench.cli, 'check', '--rules', size.rules],
    nsLoad: false,
  }));
}

/**
 * 7. nfgit apply: compile, stage, lock, snapshot, journal, restore IPv4 and IPv6, record, host
 *    commands; into a fresh named namespace with a fresh state directory for every run.
 */
export function applyRuns(size: Size): Measurement | undefined {
  if (!size.cliBuilt) {
    size.cells.set('apply', { samples: [], text: 'n/a' });
    return undefined;
  }
  return cellRuns(size, 'apply', (k) => {
    const state = join(size.dir, `state-${k}`);
    const netns = addNetns();
    return {
      cmd: process.execPath,
      // --full: a fresh namespace and state directory take the full path anyway; the flag says it.
      args: [
        size.bench.cli,
        'apply',
        '--rules',
        size.rules,
        '--netns',
        netns,
        '--state-dir',
        state,
        ...(size.bench.applyFull ? ['--full'] : []),
      ],
      nsLoad: false,
      netns,
      after: () => rmSync(state, { recursive: true, force: true }),
    };
  });
}

/** Fidelity cross-checks (not timed): what each loader put in the kernel must agree. */
export function compareLoads(size: Size, compiledOut: string | undefined): void {
  const { bench, n, saves } = size;
  const ref = saves.get('sequential') !== undefined ? 'sequential' : 'seed';
  const refSave = saves.get(ref);
  for (const key of ['seed', 'restore', 'apply'] as const) {
    const s = saves.get(key);
    if (key === ref || s === undefined || refSave === undefined) continue;
    if (s !== refSave) {
      const dump = join(bench.root, '.bench', `${n}`);
      mkdirSync(dump, { recursive: true });
      writeFileSync(join(dump, `${ref}.normalized`), refSave);
      writeFileSync(join(dump, `${key}.normalized`), s);
      bench.problem(
        `${n} rules: the ruleset loaded by "${LABELS[key]}"${key === 'restore' && compiledOut !== undefined ? ' (nfgit compile output)' : ''} ` +
          `differs from the one loaded by "${LABELS[ref]}" (normalized iptables-save in ${dump}), first difference at ${firstDifference(refSave, s)}`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The agent (test/bench/agent-bench.ts) and the closing notes

/** The agent section, lent this file's cleanup sets, settling, run() and generator. */
export async function measureAgent(bench: Bench): Promise<AgentBenchResult | undefined> {
  if (!existsSync(bench.cli)) {
    bench.notes.push(`nfgit CLI not built (${bench.cli} missing): the agent section is skipped.`);
    return undefined;
  }
  const agentDir = join(bench.tmp, 'agent');
  mkdirSync(agentDir);
  return benchAgent({
    root: bench.root,
    cli: bench.cli,
    dir: agentDir,
    env: bench.env,
    runs: bench.opts.runs,
    children: active,
    addNetns,
    delNetns,
    settle: async (what) => {
      const busy = await settle();
      if (busy > SETTLE_BUSY) bench.busyRuns.push(`agent, ${what}: ${(busy * 100).toFixed(0)}% CPU busy`);
      return busy;
    },
    run,
    rules: (n) => generateRules(n).files,
    log: bench.log,
    problem: bench.problem,
  });
}

/** The fleet section (test/bench/fleet-bench.ts), lent this file's cleanup sets, settling and run(). */
export async function measureFleet(bench: Bench): Promise<FleetBenchResult | undefined> {
  if (!existsSync(bench.cli)) {
    bench.problem(`nfgit CLI not built (${bench.cli} missing): the fleet section is skipped.`);
    return undefined;
  }
  const dir = join(bench.tmp, 'fleet');
  mkdirSync(dir);
  return benchFleet({
    root: bench.root,
    cli: bench.cli,
    dir,
    env: bench.env,
    sizes: bench.opts.fleetSizes,
    agents: bench.opts.agents,
    timeoutSeconds: bench.opts.timeoutSeconds,
    children: active,
    addNetns,
    delNetns,
    settle: async (what) => {
      const busy = await settle();
      if (busy > SETTLE_BUSY) bench.busyRuns.push(`${what}: ${(busy * 100).toFixed(0)}% CPU busy`);
      return busy;
    },
    run,
    log: bench.log,
    problem: bench.problem,
  });
}

/** The notes only known at the end: runs on a busy machine, an unbuilt CLI. */
export function finishNotes(bench: Bench): void {
  const { busyRuns, notes, opts, cli } = bench;
  if (busyRuns.length > 0) {
    notes.push(
      `${busyRuns.length} run(s) started while other processes kept the machine more than ${SETTLE_BUSY * 100}% busy ` +
        `after waiting ${SETTLE_MAX_SECONDS} s for it to settle; their times are noisy: ${busyRuns.join('; ')}.`,
    );
  }
  if (opts.rules && !existsSync(cli)) notes.push(`nfgit CLI not built (${cli} missing): nfgit compile, check and apply are n/a.`);
}
