// The fleet section of `npm run bench -- --fleet` (issue 14): a rules repository holding the status
// of 100, 1,000 and 5,000 hosts (test/bench/fleet-generate.ts), served by git's http-backend behind the
// token-protected test server on loopback, and, per size, what the commands cost against it:
// `nfgit status --json` (wall time, peak RSS, bytes), one agent pass with a new commit (time, bytes,
// of which the status tag push), an idle pass (bytes); then K agents (`nfgit run`, each its own host,
// key, state directory and scratch namespace) converging on one new commit against the 1,000-host
// repository: time, failed passes, failed pushes, and the server's CPU time per poll. Measures
// whatever the commands of the checkout do; numbers are reported, never asserted.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { makeAgentWorld, type AgentWorld } from '../agent/helpers/agent-env.js';
import { followJsonLog, type FollowedLog, type LogLine } from '../agent/helpers/json-log.js';
import type { ServedRequest } from '../helpers/git-server.js';
import { stopChild } from './agent-bench.js';

/** What the bench (measure.ts) lends the fleet section: its cleanup sets, run() and settling. */
export interface FleetBenchContext {
  readonly root: string;
  readonly cli: string;
  /** A scratch directory the caller removes on every path. */
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly sizes: readonly number[];
  readonly agents: readonly number[];
  readonly timeoutSeconds: number;
  /** Children the caller kills (their whole process group) on every exit path. */
  readonly children: Set<ChildProcess>;
  readonly addNetns: () => string;
  readonly delNetns: (name: string) => void;
  readonly settle: (what: string) => Promise<number>;
  readonly run: (
    cmd: string,
    args: string[],
    opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutSeconds: number },
  ) => Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean; seconds: number }>;
  readonly log: (s: string) => void;
  readonly problem: (s: string) => void;
}

/** One fleet size's row. */
export interface FleetSizeRow {
  readonly hosts: number;
  readonly tags: number;
  readonly generateSeconds: number;
  readonly status: string;
  readonly statusRss: string;
  readonly statusBytes: string;
  readonly pass: string;
  /** Bytes of the agent pass with a new commit (NaN: not measured). */
  readonly passBytes: number;
  readonly tagPushBytes: string;
  readonly idleBytes: string;
}

/** One concurrency row. */
export interface FleetAgentsRow {
  readonly agents: number;
  readonly hosts: number;
  readonly converge: string;
  readonly tagged: string;
  readonly failedPasses: string;
  readonly failedPushes: string;
  readonly cpuPerPoll: string;
  /** Bytes both ways per idle poll, over the idle window. */
  readonly bytesPerPoll: string;
  readonly cpuPerAgentPass: string;
}

/** The section's result: rows, raw samples, notes. */
export interface FleetBenchResult {
  readonly sizes: FleetSizeRow[];
  readonly agents: FleetAgentsRow[];
  readonly samples: string[];
  readonly notes: string[];
}

/** Commits on the branch before the fleet's status: each host decided on the last five (tags.keep 5). */
const COMMITS = 5;
/** The repository the concurrent agents share. */
const AGENTS_HOSTS = 1000;
/** The concurrent agents' poll interval (jitter: the default tenth). */
const AGENTS_POLL = '2s';
const IDLE_WINDOW_MS = 20_000;
const WAIT_MS = 600_000;
const DECISIONS = new Set(['applied', 'refused', 'rolled-back', 'untrusted']);

/** Runs the section; a failed measurement becomes a problem and an "error" cell, and the rest still runs. */
export async function benchFleet(ctx: FleetBenchContext): Promise<FleetBenchResult> {
  const result: FleetBenchResult = { sizes: [], agents: [], samples: [], notes: [] };
  for (const n of ctx.sizes) {
    try {
      result.sizes.push(await measureSize(ctx, n, result.samples));
    } catch (err) {
      ctx.problem(`fleet, ${n} hosts: ${message(err)}`);
    }
  }
  for (const k of ctx.agents) {
    try {
      result.agents.push(await measureAgents(ctx, k, result.samples));
    } catch (err) {
      ctx.problem(`fleet, ${k} concurrent agents: ${message(err)}`);
    }
  }
  result.notes.push(...sectionNotes());
  return result;
}

/** What the generator wrote (fleet-generate-cli.ts's JSON line). */
interface Generated {
  readonly tags: number;
  readonly seconds: number;
}

const GENERATE_SECONDS = 300;

/** A world (rules repository, server, token) with COMMITS signed commits and the status of n hosts. */
async function fleetWorld(ctx: FleetBenchContext, name: string, n: number): Promise<{ world: AgentWorld; generated: Generated }> {
  const world = await makeAgentWorld(join(ctx.dir, name));
  try {
    const commits: string[] = [];
    for (let k = 0; k < COMMITS; k++) commits.push(await world.repo.commit(rules(k), { message: `fleet bench: rules ${k}` }));
    const generated = await generate(ctx, world, n, commits);
    ctx.log(`  ${name}: ${generated.tags} status tags of ${n} hosts written in ${generated.seconds.toFixed(1)} s`);
    return { world, generated };
  } catch (err) {
    await world.server.stop();
    throw err;
  }
}

/**
 * Runs the generator in a child under a time limit, once more if it timed out (see fleet-generate-cli.ts:
 * it once stopped for good); a second attempt writes into the same repository only if the first wrote
 * nothing (the pack and packed-refs come last, the allowed_signers lines after them).
 */
async function generate(ctx: FleetBenchContext, world: AgentWorld, n: number, commits: readonly string[]): Promise<Generated> {
  const script = join(ctx.root, 'dist', 'test', 'bench', 'fleet-generate-cli.js');
  for (let attempt = 1; ; attempt++) {
    const r = await ctx.run(process.execPath, [script, world.repo.bare, String(n), world.tagSigners, ...commits], {
      cwd: world.dir,
      env: ctx.env,
      timeoutSeconds: GENERATE_SECONDS,
    });
    if (r.code === 0) return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as Generated;
    const why = r.timedOut ? `timed out after ${GENERATE_SECONDS} s` : `exit ${r.code}: ${firstLine(r.stderr)}`;
    if (!r.timedOut || attempt === 2 || existsSync(join(world.repo.bare, 'packed-refs'))) throw new Error(`generating ${n} hosts: ${why}`);
    ctx.problem(`fleet: generating ${n} hosts ${why}; trying once more`);
  }
}

/** One size: status, an agent pass with a new commit, an idle pass. */
async function measureSize(ctx: FleetBenchContext, n: number, samples: string[]): Promise<FleetSizeRow> {
  ctx.log(`\n== fleet: ${n} hosts`);
  const { world, generated } = await fleetWorld(ctx, `fleet-${n}`, n);
  const row = {
    hosts: n,
    tags: generated.tags,
    generateSeconds: generated.seconds,
    status: 'error',
    statusRss: 'error',
    statusBytes: 'error',
    pass: 'error',
    passBytes: NaN,
    tagPushBytes: 'error',
    idleBytes: 'error',
  };
  try {
    await attempt(ctx, `${n} hosts, nfgit status`, async () => {
      const s = await statusRun(ctx, world, n, samples);
      row.status = s.status;
      row.statusRss = s.rss;
      row.statusBytes = s.bytes;
    });
    await attempt(ctx, `${n} hosts, agent pass`, async () => {
      const p = await agentPasses(ctx, world, n, samples);
      row.pass = p.pass;
      row.passBytes = p.passBytes;
      row.tagPushBytes = p.tagPush;
      row.idleBytes = p.idle;
    });
  } finally {
    await world.server.stop();
  }
  return row;
}

/** `nfgit status --json` under /usr/bin/time: wall, peak RSS, bytes served, hosts it reported. */
async function statusRun(
  ctx: FleetBenchContext,
  world: AgentWorld,
  n: number,
  samples: string[],
): Promise<{ status: string; rss: string; bytes: string }> {
  const timeFile = join(world.dir, 'status.time');
  const jsonFile = join(world.dir, 'status.json');
  const before = world.server.requests.length;
  await ctx.settle(`fleet ${n}: nfgit status`);
  const t0 = performance.now();
  const r = await ctx.run(
    '/usr/bin/time',
    [
      '-f',
      '%e %M',
      '-o',
      timeFile,
      // stdout to a file: run() keeps only the first 256 KiB, and the JSON of 1,000 hosts is larger.
      'sh',
      '-c',
      'exec "$@" > "$0"',
      jsonFile,
      process.execPath,
      ctx.cli,
      'status',
      '--repo',
      world.url,
      '--token-file',
      world.tokenFile,
      '--allowed-signers',
      world.tagSigners,
      '--json',
    ],
    { cwd: world.dir, env: ctx.env, timeoutSeconds: ctx.timeoutSeconds },
  );
  const wall = (performance.now() - t0) / 1000;
  const served = world.server.requests.slice(before);
  const bytes = fmtBytes(total(served));
  samples.push(
    `fleet ${n}, nfgit status: ${r.timedOut ? 'timed out' : `exit ${r.code}`}, ${wall.toFixed(2)} s; requests: ${describe(served)}`,
  );
  if (r.timedOut) {
    ctx.log(`  nfgit status --json: timed out after ${ctx.timeoutSeconds} s (${bytes} served by then)`);
    return { status: `timed out after ${ctx.timeoutSeconds} s`, rss: 'n/a', bytes };
  }
  const [, kb] = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1)?.split(' ') ?? [];
  const rss = fmtMiB(Number(kb));
  let seen = 'no JSON';
  try {
    const json = JSON.parse(readFileSync(jsonFile, 'utf8')) as { hosts?: unknown[] };
    seen = `${json.hosts?.length ?? '?'} hosts`;
  } catch {
    /* reported below */
  }
  const detail = r.code === 0 ? seen : `exit ${r.code}, ${seen}: ${firstLine(r.stderr)}`;
  ctx.log(`  nfgit status --json: ${wall.toFixed(2)} s, peak ${rss}, ${bytes}; ${detail}`);
  // Every generated tag is good: any exit but 0 (1: a bad signature) is a problem to look at.
  if (r.code !== 0) ctx.problem(`fleet ${n}: nfgit status: ${detail}`);
  return {
    status: `${fmtSeconds(wall)} s${r.code === 0 ? '' : ` (exit ${r.code})`}${seen === `${n} hosts` ? '' : `, ${seen}`}`,
    rss,
    bytes,
  };
}

/**
 * One host's agent into a scratch namespace: a first `nfgit sync` (applies the head, writes its tag),
 * then a new commit and a timed `nfgit sync` (the pass: fetch, verify, compile, apply, tag push), then
 * an idle `nfgit sync` (nothing new); bytes from the server's request log.
 */
async function agentPasses(
  ctx: FleetBenchContext,
  world: AgentWorld,
  n: number,
  samples: string[],
): Promise<{ pass: string; passBytes: number; tagPush: string; idle: string }> {
  const netns = ctx.addNetns();
  try {
    const h = await world.addHost('bench-agent', netns, agentSettings(world));
    const sync = async (what: string): Promise<{ seconds: number; served: ServedRequest[]; lines: LogLine[] }> => {
      const before = world.server.requests.length;
      const r = await ctx.run(process.execPath, [ctx.cli, 'sync', '--config', h.config, '--log-format', 'json'], {
        cwd: world.dir,
        env: ctx.env,
        timeoutSeconds: ctx.timeoutSeconds,
      });
      const served = world.server.requests.slice(before);
      const lines = r.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as LogLine);
      samples.push(`fleet ${n}, ${what}: exit ${r.code}, ${r.seconds.toFixed(2)} s; requests: ${describe(served)}`);
      if (r.timedOut || r.code !== 0)
        throw new Error(`nfgit sync (${what}) ${r.timedOut ? 'timed out' : `exit ${r.code}`}: ${firstLine(r.stderr)}`);
      const failed = lines.find((l) => l.event === 'tag-failed');
      if (failed !== undefined) ctx.problem(`fleet ${n}, ${what}: ${failed.message}`);
      return { seconds: r.seconds, served, lines };
    };
    await sync('first agent pass (untimed)');
    const oid = await world.repo.commit(rules(COMMITS), { message: 'fleet bench: the new commit' });
    await ctx.settle(`fleet ${n}: agent pass`);
    const pass = await sync('agent pass with a new commit');
    const decided = pass.lines.find((l) => DECISIONS.has(l.event) && l['commit'] === oid);
    if (decided?.event !== 'applied') throw new Error(`the pass did not apply the new commit: ${decided?.event ?? 'no decision logged'}`);
    const idle = await sync('idle pass');
    const passBytes = total(pass.served);
    const push = tagPush(pass.served);
    ctx.log(
      `  agent pass: ${pass.seconds.toFixed(2)} s, ${fmtBytes(passBytes)} (status tag push ${push === null ? 'n/a' : fmtBytes(push)}); idle pass ${fmtBytes(total(idle.served))}`,
    );
    return {
      pass: `${fmtSeconds(pass.seconds)} s`,
      passBytes,
      tagPush: push === null ? 'n/a' : fmtBytes(push),
      idle: fmtBytes(total(idle.served)),
    };
  } finally {
    ctx.delNetns(netns);
  }
}

/** An agent's settings beyond agent-env's: the default repository.timeout (agent-env's 2 s is for tests of failures). */
function agentSettings(world: AgentWorld, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { repository: { url: world.url, branch: 'main', path: 'rules', tokenFile: world.tokenFile }, ...extra };
}

/** A running `nfgit run` of the concurrency phase. */
interface Daemon {
  readonly host: string;
  readonly netns: string;
  readonly child: ChildProcess;
  readonly log: FollowedLog;
}

/** K agents on one server with the AGENTS_HOSTS repository: idle polls, then one new commit to converge on. */
async function measureAgents(ctx: FleetBenchContext, k: number, samples: string[]): Promise<FleetAgentsRow> {
  ctx.log(`\n== fleet: ${k} concurrent agents, ${AGENTS_HOSTS} hosts in the repository`);
  const { world } = await fleetWorld(ctx, `agents-${k}`, AGENTS_HOSTS);
  const daemons: Daemon[] = [];
  const netnses: string[] = [];
  try {
    const base = (await world.repo.git(['rev-parse', 'HEAD'])).trim();
    for (let i = 1; i <= k; i++) {
      const netns = ctx.addNetns();
      netnses.push(netns);
      const host = `k${k}-agent-${String(i).padStart(2, '0')}`;
      const h = await world.addHost(host, netns, agentSettings(world, { poll: { interval: AGENTS_POLL } }));
      const child = spawn(process.execPath, [ctx.cli, 'run', '--config', h.config, '--log-format', 'json'], {
        cwd: world.dir,
        env: ctx.env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      ctx.children.add(child);
      daemons.push({ host, netns, child, log: followJsonLog(child) });
    }
    ctx.log(`  ${k} agents started; waiting for each to apply and tag ${base.slice(0, 12)}`);
    await Promise.all(daemons.map((d) => decidedAndTagged(d, base)));
    const initial = failures(daemons, 0);
    samples.push(`fleet, ${k} agents: first passes: ${initial.passes} failed passes, ${initial.pushes} failed pushes`);

    const idle = await idleWindow(world, daemons, base, k, samples);

    const marks = daemons.map((d) => d.log.lines.length);
    const requests0 = world.server.requests.length;
    const oid = await world.repo.commit(rules(COMMITS), { message: `fleet bench: ${k} agents converge` });
    const cpu1 = childrenCpuMs();
    const t0 = performance.now();
    const appliedAt: number[] = [];
    const taggedAt: number[] = [];
    await Promise.all(
      daemons.map(async (d) => {
        const decided = await d.log.waitFor((l) => DECISIONS.has(l.event) && l['commit'] === oid, WAIT_MS);
        appliedAt.push(performance.now() - t0);
        if (decided.event !== 'applied') ctx.problem(`fleet, ${k} agents: ${d.host} logged ${decided.event}: ${decided.message}`);
        await d.log.waitFor((l) => (l.event === 'tagged' || l.event === 'tag-failed') && l['commit'] === oid, WAIT_MS);
        taggedAt.push(performance.now() - t0);
      }),
    );
    const convergeCpu = childrenCpuMs() - cpu1;
    const failed = failures(daemons, marks);
    const served = world.server.requests.slice(requests0);
    samples.push(
      `fleet, ${k} agents: converge: applied after ${appliedAt.map((ms) => (ms / 1000).toFixed(1)).join(', ')} s; ` +
        `${served.length} requests (${kinds(served)}), ${fmtBytes(total(served))}, server children CPU ${convergeCpu.toFixed(0)} ms; ` +
        `failed passes ${failed.passes}, failed pushes ${failed.pushes}${failed.reasons.length > 0 ? `: ${failed.reasons.join(' | ')}` : ''}`,
    );
    const row: FleetAgentsRow = {
      agents: k,
      hosts: AGENTS_HOSTS,
      converge: `${fmtSeconds(Math.max(...appliedAt) / 1000)} s`,
      tagged: `${fmtSeconds(Math.max(...taggedAt) / 1000)} s`,
      failedPasses: `${failed.passes}${initial.passes > 0 ? ` (first passes: ${initial.passes})` : ''}`,
      failedPushes: `${failed.pushes}${initial.pushes > 0 ? ` (first passes: ${initial.pushes})` : ''}`,
      cpuPerPoll: idle.cpuPerPoll,
      bytesPerPoll: idle.bytesPerPoll,
      cpuPerAgentPass: `${(convergeCpu / k).toFixed(0)} ms`,
    };
    ctx.log(
      `  ${k} agents: all applied after ${row.converge}, tagged after ${row.tagged}; failed passes ${row.failedPasses}, failed pushes ${row.failedPushes}; server CPU ${row.cpuPerPoll} per idle poll, ${row.cpuPerAgentPass} per agent pass`,
    );
    return row;
  } finally {
    await Promise.all(daemons.map((d) => stopChild(ctx, d.child)));
    for (const netns of netnses) ctx.delNetns(netns);
    await world.server.stop();
  }
}

/**
 * The idle window: once every agent's tag of base is out (a push that failed in a first pass is
 * retried at the agent's next pass), IDLE_WINDOW_MS of polls every AGENTS_POLL; the server's CPU is
 * its reaped children's (http-backend and what it runs).
 */
async function idleWindow(
  world: AgentWorld,
  daemons: readonly Daemon[],
  base: string,
  k: number,
  samples: string[],
): Promise<{ cpuPerPoll: string; bytesPerPoll: string }> {
  await Promise.all(daemons.map((d) => d.log.waitFor((l) => l.event === 'tagged' && l['commit'] === base, WAIT_MS)));
  const idle0 = world.server.requests.length;
  const cpu0 = childrenCpuMs();
  await sleep(IDLE_WINDOW_MS);
  const idleCpu = childrenCpuMs() - cpu0;
  const idleServed = world.server.requests.slice(idle0);
  const idlePolls = idleServed.filter((r) => r.command === 'ls-refs').length;
  samples.push(
    `fleet, ${k} agents: idle ${IDLE_WINDOW_MS / 1000} s: ${idlePolls} polls, ${idleServed.length} requests (${kinds(idleServed)}), ${fmtBytes(total(idleServed))}, server children CPU ${idleCpu.toFixed(0)} ms`,
  );
  if (idlePolls === 0) return { cpuPerPoll: 'n/a', bytesPerPoll: 'n/a' };
  return { cpuPerPoll: `${(idleCpu / idlePolls).toFixed(1)} ms`, bytesPerPoll: fmtBytes(Math.round(total(idleServed) / idlePolls)) };
}

/** Waits for a daemon's decision on commit and its tag line (or tag failure). */
async function decidedAndTagged(d: Daemon, commit: string): Promise<void> {
  await d.log.waitFor((l) => DECISIONS.has(l.event) && l['commit'] === commit, WAIT_MS);
  await d.log.waitFor((l) => (l.event === 'tagged' || l.event === 'tag-failed') && l['commit'] === commit, WAIT_MS);
}

/** Failed passes (`pass-failed`) and failed status tag pushes (`tag-failed`) logged since marks (line counts; 0: all). */
function failures(daemons: readonly Daemon[], marks: readonly number[] | 0): { passes: number; pushes: number; reasons: string[] } {
  let passes = 0;
  let pushes = 0;
  const reasons: string[] = [];
  daemons.forEach((d, i) => {
    for (const l of d.log.lines.slice(marks === 0 ? 0 : (marks[i] ?? 0))) {
      if (l.event === 'pass-failed') passes++;
      else if (l.event === 'tag-failed') pushes++;
      else continue;
      if (reasons.length < 5) reasons.push(`${d.host}: ${l.message}`);
    }
  });
  return { passes, pushes, reasons };
}

/**
 * CPU time (ms) of this process's children that have exited and been reaped (cutime + cstime of
 * /proc/self/stat): the test server's http-backend processes and what they ran; the agents are
 * children too but are still running while this is read.
 */
function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(after[13]) + Number(after[14])) * 1000) / clockTicks();
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

/** Body bytes both ways of some requests. */
function total(served: readonly ServedRequest[]): number {
  return served.reduce((sum, r) => sum + r.bytesIn + r.bytesOut, 0);
}

/**
 * The status tag push of a pass: every request after the pass's last fetch (upload-pack POST with
 * wants): the tag writer's listing, if any, and receive-pack; null when the pass fetched nothing.
 */
function tagPush(served: readonly ServedRequest[]): number | null {
  let last = -1;
  served.forEach((r, i) => {
    if (r.method === 'POST' && r.path.endsWith('/git-upload-pack') && r.command !== 'ls-refs') last = i;
  });
  if (last < 0) return null;
  return total(served.slice(last + 1));
}

/** Requests counted by kind: `12× GET info/refs?service=git-upload-pack 200, 12× POST git-upload-pack ls-refs 200`. */
function kinds(served: readonly ServedRequest[]): string {
  const counts = new Map<string, number>();
  for (const r of served) {
    const v1 = r.method === 'POST' && r.path.endsWith('/git-upload-pack') ? ' fetch (protocol v1)' : '';
    const key = `${r.method} ${r.path.replace(/^\/[^/]+\.git\//, '')}${r.command === undefined ? v1 : ` ${r.command}`} ${r.status}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([key, n]) => `${n}× ${key}`).join(', ');
}

/** The requests, one short entry each: `GET info/refs?service=… 0 B in, 1.2 kB out`. */
function describe(served: readonly ServedRequest[]): string {
  if (served.length === 0) return 'none';
  return served
    .map((r) => {
      const path = r.path.replace(/^\/[^/]+\.git\//, '');
      const v1 = r.method === 'POST' && r.path.endsWith('/git-upload-pack') ? ' fetch (protocol v1)' : '';
      const what = r.command === undefined ? v1 : ` ${r.command}${r.refPrefixes === undefined ? '' : ` ${r.refPrefixes.join(',')}`}`;
      return `${r.method} ${path}${what} ${r.status}: ${fmtBytes(r.bytesIn)} in, ${fmtBytes(r.bytesOut)} out`;
    })
    .join('; ');
}

/** What the section's cells are. */
function sectionNotes(): string[] {
  return [
    `Repositories: a bare rules repository with ${COMMITS} signed commits, plus per host (fw-00001 …) 5 SSH-signed decision tags refs/tags/nfgit/HOST/COMMIT12 (tags.keep 5; each message's Previous-Tag names the one before; every 25th host refused the newest commit) and refs/nfgit/hosts/HOST at its newest tag object, each host with its own ed25519 key in the allowed_signers file (test/bench/fleet-generate.ts; "generate" is the time to sign and write them). Served by git http-backend behind the token-protected test server on 127.0.0.1 (test/helpers/git-server.ts).`,
    `nfgit status: \`nfgit status --repo URL --token-file F --allowed-signers F --json\`, wall time and peak RSS (maximum resident set size from /usr/bin/time; MiB = 1024 kB).`,
    `Bytes: request and answer body bytes as the test server's handler saw them (after chunked decoding, HTTP headers not counted), summed over the requests of the step; kB = 1000 B. Raw per-request samples below.`,
    `agent pass: \`nfgit sync\` of a host (its own key, default repository.timeout and tags.keep) into a scratch named namespace, after a first untimed pass applied the head and tagged it, with one new signed commit pushed: fetch, verification, compile, apply and the status tag push; time from spawn to exit. status tag push: the requests after the pass's last fetch (the tag writer's listing, if any, and receive-pack). idle pass: \`nfgit sync\` again with nothing new.`,
    `concurrent agents: K \`nfgit run\` daemons (poll.interval ${AGENTS_POLL}, default jitter), each its own host, key, state directory and scratch namespace, against the ${AGENTS_HOSTS}-host repository; after each applied and tagged the head, ${IDLE_WINDOW_MS / 1000} s of idle polls, then one new commit is pushed. converge: from the push to the last agent's applied line (it includes up to one poll interval); tagged: to the last tagged or tag-failed line. failed passes: pass-failed lines, failed pushes: tag-failed lines, during convergence (first passes in parentheses when any). server CPU: user + system time of the test server's exited children (git http-backend and the git it runs), from /proc/self/stat cutime + cstime, per idle poll (an ls-refs request: polls are the only requests of an idle agent) and per agent during convergence; bytes per idle poll: every request of the idle window over the polls.`,
    `Targets (issue 14), reported, not asserted: nfgit status at 5,000 hosts under 5 s and 200 MiB; bytes per agent pass within 2x between 100 and 5,000 hosts; 0 failed pushes with 10 and 30 concurrent agents.`,
  ];
}

/** 20 rules accepting a block of ports that moves with k: every k a different ruleset. */
function rules(k: number): Record<string, string | null> {
  const first = 20000 + k * 20;
  return {
    '10-bench': `# 20 rules (nfgit fleet bench, commit ${k})\nfor port in {${first}..${first + 19}}; do\n  iptables -A INPUT -p tcp --dport $port -j ACCEPT\ndone\n`,
  };
}

async function attempt(ctx: FleetBenchContext, what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    ctx.problem(`fleet, ${what}: ${message(err)}`);
  }
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const firstLine = (s: string): string => s.trim().split('\n')[0] ?? '';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const fmtSeconds = (s: number): string => (s >= 10 ? s.toFixed(1) : s.toFixed(2));
const fmtMiB = (kb: number): string => (Number.isFinite(kb) ? `${(kb / 1024).toFixed(0)} MiB` : 'n/a');

/** Bytes as B, kB or MB (powers of 1000). */
export function fmtBytes(b: number): string {
  if (!Number.isFinite(b)) return 'n/a';
  if (b < 1000) return `${b} B`;
  if (b < 1e6) return `${(b / 1e3).toFixed(1)} kB`;
  return `${(b / 1e6).toFixed(2)} MB`;
}
