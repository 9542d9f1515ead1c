// The agent section of `npm run bench`: what `nfgit run` costs while it waits (one poll of the branch,
// the daemon's resident memory and CPU time) and how quickly it applies a pushed commit when the
// trigger file is touched. Real components throughout: git's own http-backend behind the token-protected
// test server on loopback, stock git commits signed with SSH, the built CLI as root into a scratch
// named network namespace. Numbers are reported, never asserted.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { makeAgentWorld, type AgentWorld } from '../agent/helpers/agent-env.js';
import type { PollReport } from './agent-poll.js';
import { followJsonLog, type LogLine } from '../agent/helpers/json-log.js';

/** What the bench (measure.ts) lends the agent section: its cleanup sets, CPU settling and the rule generator. */
export interface AgentBenchContext {
  /** The repository root (holds dist/). */
  readonly root: string;
  /** The built CLI, dist/src/cli/main.js. */
  readonly cli: string;
  /** A scratch directory the caller removes on every path. */
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  /** Pushes measured per ruleset size; the cell is the median. */
  readonly runs: number;
  /** Children the caller kills (their whole process group) on every exit path. */
  readonly children: Set<ChildProcess>;
  /** Makes a scratch named network namespace the caller deletes on every exit path. */
  readonly addNetns: () => string;
  readonly delNetns: (name: string) => void;
  /** Waits for the machine to be quiet before the named measurement; returns how busy it still was. */
  readonly settle: (what: string) => Promise<number>;
  /** Runs a command to its end (tracked in children, killed at the time limit). */
  readonly run: (
    cmd: string,
    args: string[],
    opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutSeconds: number },
  ) => Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }>;
  /** Rule files (name → text) holding exactly n rule-adding calls (n >= 200). */
  readonly rules: (n: number) => Array<[name: string, text: string]>;
  readonly log: (s: string) => void;
  readonly problem: (s: string) => void;
}

/** The section's rows (label, value), for the printed block and results.md. */
export interface AgentBenchResult {
  readonly title: string;
  readonly rows: Array<[label: string, value: string]>;
  /** Raw samples, one line per measurement. */
  readonly samples: string[];
  /** What the rows are. */
  readonly notes: string[];
}

const POLLS = 50;
const WARMUP_POLLS = 5;
const IDLE_POLLS = 100;
const SMALL = 20;
const LARGE = 1000;
/** The ruleset the idle daemon is measured with a second time: the bench's largest (its last-good.json holds 6 MB). */
const IDLE_LARGE = 50000;
const WAIT_MS = 180_000;
/** The decisions a pass logs about a new commit (sync.ts conclude). */
const DECISIONS = new Set(['applied', 'refused', 'rolled-back', 'untrusted']);

/** Measures the agent; every failure becomes a problem and an "error" row, and the rest still runs. */
export async function benchAgent(ctx: AgentBenchContext): Promise<AgentBenchResult> {
  const result: AgentBenchResult = { title: 'agent (loopback HTTP server, token auth)', rows: [], samples: [], notes: [] };
  ctx.log(`\n== agent: rules repository, git server and host keys in ${join(ctx.dir, 'agent')}`);
  const world = await makeAgentWorld(join(ctx.dir, 'agent'));
  try {
    const base = await world.repo.commit(smallRules(0), { message: `bench: ${SMALL} rules` });
    const section: Section = { ctx, world, base, result };
    await pollRow(section, 'idle poll (ls-refs over HTTP)', world.url, world.tokenFile);
    await pollRow(section, 'idle poll (local bare repository)', world.repo.bare, '-');
    await idleDaemon(section);
    await pushToApplied(section);
    await idleDaemonLarge(section);
  } finally {
    await world.server.stop();
  }
  result.notes.push(...sectionNotes());
  return result;
}

/** What the measurements share: the bench's context, the git world, its first commit and the rows so far. */
interface Section {
  readonly ctx: AgentBenchContext;
  readonly world: AgentWorld;
  /** The first commit (SMALL rules), which every daemon applies first. */
  readonly base: string;
  readonly result: AgentBenchResult;
}

/** Runs one measurement; a failure becomes a problem and an "error" row for each label it did not fill. */
async function attempt({ ctx, result }: Section, labels: string[], fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    ctx.problem(`agent, ${labels.join(' / ')}: ${err instanceof Error ? err.message : String(err)}`);
    for (const l of labels) if (!result.rows.some(([have]) => have === l)) result.rows.push([l, 'error']);
  }
}

/** 1. One poll, as the daemon does it, in a child process of its own (see agent-poll.ts). */
async function pollRow(section: Section, label: string, url: string, tokenFile: string): Promise<void> {
  const { ctx, world, base, result } = section;
  await attempt(section, [label], async () => {
    const state = join(world.dir, `poll-${result.rows.length}`);
    await ctx.settle(label);
    const script = join(ctx.root, 'dist', 'test', 'bench', 'agent-poll.js');
    const r = await ctx.run(process.execPath, [script, url, tokenFile, state, String(POLLS), String(WARMUP_POLLS)], {
      cwd: ctx.root,
      env: ctx.env,
      timeoutSeconds: 300,
    });
    if (r.timedOut || r.code !== 0) throw new Error(`agent-poll.js ${r.timedOut ? 'timed out' : `exit ${r.code}`}: ${r.stderr.trim()}`);
    const report = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as PollReport;
    if (report.head !== base) throw new Error(`the polls saw ${report.head}, the branch is at ${base}`);
    const cpuMs = report.cpuUs / 1000 / POLLS;
    result.rows.push([label, `${fmtMs(median(report.wallMs))} wall, ${fmtMs(cpuMs)} CPU per poll`]);
    result.samples.push(
      `${label}, wall ms per poll: ${report.wallMs.map((x) => x.toFixed(2)).join(', ')}; CPU ${report.cpuUs} µs over ${POLLS} polls`,
    );
    ctx.log(`  ${label}: median ${fmtMs(median(report.wallMs))}, CPU ${fmtMs(cpuMs)} per poll`);
  });
}

/** 2. The idle daemon: 1 s polls; memory and CPU time read from /proc after IDLE_POLLS polls, SMALL rules applied. */
async function idleDaemon(section: Section): Promise<void> {
  const { ctx, world, base } = section;
  const labels: [string, string] = ['idle daemon resident memory', 'idle daemon CPU (1 s poll interval)'];
  await attempt(section, labels, () =>
    withDaemon(ctx, world, 'bench-idle', { poll: { interval: '1s' } }, async (daemon) => {
      await passDone(daemon, base);
      await idleRows(section, daemon, ...labels);
    }),
  );
}

/**
 * 4. The idle daemon again, with IDLE_LARGE rules applied (an idle poll checks last-good.json, then 6 MB).
 * Last: tearing down a namespace that holds that many rules keeps the kernel busy for a while, which
 * the push times must not see.
 */
async function idleDaemonLarge(section: Section): Promise<void> {
  const { ctx, world } = section;
  const labels: [string, string] = [
    `idle daemon resident memory, ${IDLE_LARGE} rules applied`,
    `idle daemon CPU (1 s poll interval), ${IDLE_LARGE} rules applied`,
  ];
  await attempt(section, labels, async () => {
    const large = await world.repo.commit(largeRules(ctx, 0, IDLE_LARGE), { message: `bench: ${IDLE_LARGE} rules (idle daemon)` });
    await withDaemon(ctx, world, 'bench-idle-large', { poll: { interval: '1s' } }, async (daemon) => {
      await passDone(daemon, large);
      await idleRows(section, daemon, ...labels);
    });
  });
}

/** The idle daemon's memory and CPU per poll over IDLE_POLLS polls from now, as rows and samples. */
async function idleRows({ ctx, world, result }: Section, daemon: RunningDaemon, memLabel: string, cpuLabel: string): Promise<void> {
  const ticks = await idlePollTicks(world, daemon);
  const status = readFileSync(`/proc/${daemon.pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  const rss = kb('VmRSS');
  const hwm = kb('VmHWM');
  const cpuMs = (ticks * 1000) / clockTicks() / IDLE_POLLS;
  result.rows.push([memLabel, `${fmtMiB(rss)} RSS (peak ${fmtMiB(hwm)}) after ${IDLE_POLLS} polls`]);
  result.rows.push([cpuLabel, `${fmtMs(cpuMs)} CPU per poll`]);
  result.samples.push(
    `${memLabel}: VmRSS ${rss} kB, VmHWM ${hwm} kB; CPU ${ticks} clock ticks (${clockTicks()}/s) over ${IDLE_POLLS} polls`,
  );
  ctx.log(`  ${memLabel}: VmRSS ${fmtMiB(rss)}, VmHWM ${fmtMiB(hwm)}; CPU ${fmtMs(cpuMs)} per poll`);
}

/** The daemon's CPU time (clock ticks) while IDLE_POLLS more polls reached the server (at its own pace: one a second). */
async function idlePollTicks(world: AgentWorld, daemon: RunningDaemon): Promise<number> {
  const polls0 = pollsServed(world);
  const ticks0 = cpuTicks(daemon.pid);
  const t0 = performance.now();
  while (pollsServed(world) - polls0 < IDLE_POLLS) {
    if (performance.now() - t0 > IDLE_POLLS * 1000 + 60_000)
      throw new Error(`only ${pollsServed(world) - polls0} polls reached the server in ${Math.round((performance.now() - t0) / 1000)} s`);
    if (daemon.exited()) throw new Error(`nfgit run exited: ${daemon.stderr().trim()}`);
    await sleep(20);
  }
  return cpuTicks(daemon.pid) - ticks0;
}

/** 3. Push to applied: the poll interval is an hour, so only the trigger file starts a pass. */
async function pushToApplied(section: Section): Promise<void> {
  const { ctx, world, base, result } = section;
  const pushLabel = (n: number): string => `push to applied (trigger, ${n} rules)`;
  await attempt(section, [pushLabel(SMALL), pushLabel(LARGE)], () =>
    withDaemon(ctx, world, 'bench-push', {}, async (daemon) => {
      await passDone(daemon, base);
      for (const n of [SMALL, LARGE]) {
        const label = pushLabel(n);
        const files = (k: number): Record<string, string | null> => (n === SMALL ? smallRules(k) : largeRules(ctx, k));
        // Every timed push changes one rule of a ruleset of the same size; the step from the small
        // ruleset to the large one is not timed.
        if (n === LARGE) await timedPush(section, daemon, files(0), `bench: ${n} rules (untimed)`);
        const samples: number[] = [];
        for (let k = 1; k <= ctx.runs; k++) {
          const s = await timedPush(section, daemon, files(k), `bench: ${n} rules, run ${k}`);
          samples.push(s);
          ctx.log(`  ${label}: run ${k}/${ctx.runs}: ${s.toFixed(3)} s`);
        }
        result.rows.push([label, `${fmtSeconds(median(samples))} s median of ${samples.length}`]);
        result.samples.push(`${label}, seconds: ${samples.map((s) => s.toFixed(3)).join(', ')}`);
      }
    }),
  );
}

/** Commits and pushes files, then times from touching the trigger file to the daemon's applied line. */
async function timedPush(
  { ctx, world }: Section,
  daemon: RunningDaemon,
  files: Record<string, string | null>,
  message: string,
): Promise<number> {
  const oid = await world.repo.commit(files, { message });
  await ctx.settle(message);
  const t0 = performance.now();
  writeFileSync(daemon.trigger, '');
  const decided = await daemon.waitFor((l) => DECISIONS.has(l.event) && l['commit'] === oid);
  const seconds = (performance.now() - t0) / 1000;
  if (decided.event !== 'applied') throw new Error(`${message}: the agent logged ${decided.event}: ${decided.message}`);
  // The status tag is pushed after the applied line: let it go before the next push.
  await tagDone(daemon, oid);
  return seconds;
}

/** Waits for the daemon to apply a commit and push its status tag (or fail to). */
async function passDone(daemon: RunningDaemon, commit: string): Promise<void> {
  await daemon.waitFor((l) => l.event === 'applied' && l['commit'] === commit);
  await tagDone(daemon, commit);
}

/** Waits for the status tag of a commit (or its failure). */
async function tagDone(daemon: RunningDaemon, commit: string): Promise<void> {
  await daemon.waitFor((l) => (l.event === 'tagged' || l.event === 'tag-failed') && l['commit'] === commit);
}

/** What the section's rows are. */
function sectionNotes(): string[] {
  return [
    `idle poll: what \`nfgit run\` does every poll interval when nothing changed (src/git/follower.ts branchHead): over HTTP an isomorphic-git listServerRefs (protocol v2 ls-refs, prefix refs/heads/main, token by basic authentication, idle time limit) against git http-backend behind the test server on 127.0.0.1; for a local bare repository a resolveRef read in place. ${POLLS} polls after ${WARMUP_POLLS} untimed ones, in a node process of its own (test/bench/agent-poll.ts); wall is the median poll, CPU is that process's user + system time (process.cpuUsage) over the ${POLLS} polls divided by ${POLLS}: the client side only, the server's http-backend processes are not counted.`,
    `idle daemon: \`node dist/src/cli/main.js run --config … --log-format json\` with poll.interval 1s into a scratch named namespace, after its first pass applied and tagged the ${SMALL}-rule commit; VmRSS and VmHWM from /proc/PID/status once ${IDLE_POLLS} more polls reached the server, and its CPU time (utime + stime from /proc/PID/stat, resolution 1/${clockTicks()} s) over those polls divided by ${IDLE_POLLS}; last (after the push rows), the same for a daemon whose first pass applied the bench generator's ${IDLE_LARGE}-rule ruleset (last-good.json then holds about 6 MB, which an idle poll checks). MiB = 1024 kB.`,
    `push to applied: the same daemon with poll.interval 1h; each run commits a signed change of one rule with stock git and pushes it to the server, waits for the machine to settle, then times from touching the agent's trigger file (what a post-receive hook does after the push) to the daemon's \`{"event":"applied","commit":…}\` log line: fetch over HTTP, signature verification, compile, stage, apply into the namespace. The ${LARGE}-rule ruleset is the bench generator's; the step from ${SMALL} to ${LARGE} rules is not timed.`,
  ];
}

/** A running `nfgit run`. */
interface RunningDaemon {
  readonly pid: number;
  readonly stateDir: string;
  /** Its trigger file (the config's `trigger`). */
  readonly trigger: string;
  /** Resolves with the first log line (seen already or to come) matching pred; rejects after WAIT_MS or when the daemon exits. */
  waitFor(pred: (l: LogLine) => boolean): Promise<LogLine>;
  exited(): boolean;
  stderr(): string;
}

/**
 * Adds a host (its own key, state directory and a fresh scratch namespace), runs `nfgit run` for it
 * while fn runs, then stops it with SIGTERM (SIGKILL to its process group if it does not stop within
 * 30 s) and deletes the namespace, on every path.
 */
async function withDaemon(
  ctx: AgentBenchContext,
  world: AgentWorld,
  host: string,
  extra: Record<string, unknown>,
  fn: (daemon: RunningDaemon) => Promise<void>,
): Promise<void> {
  const netns = ctx.addNetns();
  let child: ChildProcess | undefined;
  try {
    const h = await world.addHost(host, netns, extra);
    const c = spawn(process.execPath, [ctx.cli, 'run', '--config', h.config, '--log-format', 'json'], {
      cwd: ctx.root,
      env: ctx.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    child = c;
    ctx.children.add(c);
    const log = followJsonLog(c);
    if (c.pid === undefined) throw new Error('cannot start nfgit run');
    await fn({
      pid: c.pid,
      stateDir: h.stateDir,
      trigger: h.trigger,
      exited: log.exited,
      stderr: log.stderr,
      waitFor: (pred) => log.waitFor(pred, WAIT_MS),
    });
  } finally {
    if (child !== undefined) await stopChild(ctx, child);
    ctx.delNetns(netns);
  }
}

/** SIGTERM (the daemon finishes a pass in flight), then SIGKILL to the process group after 30 s; untracked once gone. */
export async function stopChild(ctx: { readonly children: Set<ChildProcess> }, child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => killGroup(child), 30_000);
    await exited;
    clearTimeout(timer);
  }
  // Anything the daemon left in its group (it should leave nothing) goes too.
  killGroup(child);
  ctx.children.delete(child);
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/** Polls that reached the server: each is one protocol v2 ls-refs POST (nfgit's wire client sends no discovery GET). */
function pollsServed(world: AgentWorld): number {
  return world.server.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/git-upload-pack') && r.command === 'ls-refs').length;
}

/** utime + stime of a process, in clock ticks (proc(5): fields 14 and 15 of /proc/PID/stat). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
  const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(after[11]) + Number(after[12]);
}

let clkTck: number | undefined;
/** Clock ticks per second (getconf CLK_TCK; 100 on Linux in practice). */
function clockTicks(): number {
  if (clkTck === undefined) {
    const n = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim());
    clkTck = Number.isInteger(n) && n > 0 ? n : 100;
  }
  return clkTck;
}

/** SMALL rules accepting a block of ports that moves with k (so every k is a different ruleset). */
function smallRules(k: number): Record<string, string | null> {
  const first = 20000 + k * SMALL;
  return {
    '10-bench': `# ${SMALL} rules (nfgit bench, run ${k})\nfor port in {${first}..${first + SMALL - 1}}; do\n  iptables -A INPUT -p tcp --dport $port -j ACCEPT\ndone\n`,
  };
}

/** The bench generator's n - 1 rules plus one whose port moves with k; the small file removed. */
function largeRules(ctx: AgentBenchContext, k: number, n = LARGE): Record<string, string | null> {
  const files: Record<string, string | null> = { '10-bench': null };
  for (const [name, text] of ctx.rules(n - 1)) files[name] = text;
  files['95-bench'] =
    `# one rule that changes every run (nfgit bench, run ${k})\niptables -A INPUT -p tcp --dport ${30000 + k} -j ACCEPT\n`;
  return files;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
};

const fmtMs = (ms: number): string => `${ms >= 10 ? ms.toFixed(1) : ms.toFixed(2)} ms`;
const fmtMiB = (kb: number): string => `${(kb / 1024).toFixed(0)} MiB`;
const fmtSeconds = (s: number): string => (s >= 10 ? s.toFixed(1) : s.toFixed(2));
