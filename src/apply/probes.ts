// Health probes run after an apply: can the host still reach what it must reach? A TCP connection, a
// command that must exit 0, or the agent's git repository. Each is retried until a shared deadline,
// since a probe may need a moment after the apply (neighbour discovery, a reconnecting peer).

import net from 'node:net';
import { runInTarget, type Target } from '../netfilter/target.js';

/** One check: a TCP connect to host:port, a command (exit 0 = healthy), or the agent's git repository. */
export type ProbeCheck =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'command'; readonly argv: readonly string[] }
  | { readonly kind: 'git' };

/** The probes of an apply: every check must pass before the deadline. */
export interface ProbeSet {
  readonly deadlineMs: number;
  readonly checks: readonly ProbeCheck[];
}

/** Where and how probes run. */
export interface ProbeEnv {
  readonly target: Target;
  /** Lists the agent's repository refs; throws when it is unreachable. Only the agent has one. */
  readonly git?: () => Promise<unknown>;
}

/** The default deadline of `--probe-deadline` and `probes.deadline`. */
export const DEFAULT_PROBE_DEADLINE_MS = 30_000;

/** One attempt of a TCP probe gives up after this long (a DROP never answers), then the next is made. */
const TCP_ATTEMPT_MS = 3000;
/** Pause between the attempts of a check. */
const RETRY_PAUSE_MS = 300;

/** Parses `HOST:PORT` or `[IPv6]:PORT`; a string saying what is wrong otherwise. */
export function parseTcpProbe(text: string): { host: string; port: number } | string {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d+)$/.exec(text) ?? /^([^\s:[\]]+):(\d+)$/.exec(text);
  const port = Number(m?.[2]);
  if (m === null || !Number.isInteger(port) || port < 1 || port > 65535) {
    return `must be HOST:PORT (an IPv6 address in brackets: [fd00::1]:22) with a port from 1 to 65535, not ${JSON.stringify(text)}`;
  }
  return { host: m[1] as string, port };
}

/** How a check is named in messages: `tcp 10.0.0.1:22`, `command ping -c1 10.0.0.1`, `git`. */
export function describeProbe(check: ProbeCheck): string {
  if (check.kind === 'tcp') return `tcp ${check.host.includes(':') ? `[${check.host}]` : check.host}:${check.port}`;
  if (check.kind === 'command') return `command ${check.argv.join(' ')}`;
  return 'git';
}

/**
 * Runs every check at once, each retried until the deadline; resolves with undefined when all passed,
 * else with `probe KIND … failed (why)` for the first check that never passed.
 */
export async function runProbes(probes: ProbeSet, env: ProbeEnv): Promise<string | undefined> {
  const deadline = Date.now() + probes.deadlineMs;
  const failures = await Promise.all(probes.checks.map((c) => untilDeadline(c, env, deadline, probes.deadlineMs)));
  return failures.find((f) => f !== undefined);
}

async function untilDeadline(check: ProbeCheck, env: ProbeEnv, deadline: number, deadlineMs: number): Promise<string | undefined> {
  let last = 'not tried';
  let tries = 0;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    tries++;
    const problem = await attempt(check, env, left).catch((err: unknown) => (err as Error).message);
    if (problem === undefined) return undefined;
    // The last try gets only what is left of the deadline: one cut short by it ("still running after
    // 0.1 s") says less than an earlier try's answer ("exit status 1"), which is kept.
    if (!(isTimeout(problem) && last !== 'not tried' && !isTimeout(last))) last = problem;
    if (deadline - Date.now() <= RETRY_PAUSE_MS) break;
    await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS));
  }
  return `probe ${describeProbe(check)} failed (${last}; ${tries} ${tries === 1 ? 'try' : 'tries'} within ${deadlineMs / 1000} s)`;
}

function isTimeout(problem: string): boolean {
  return problem.startsWith('still running after') || problem.startsWith('no answer within');
}

/** One try of a check within `leftMs`; undefined when healthy, else what went wrong. */
function attempt(check: ProbeCheck, env: ProbeEnv, leftMs: number): Promise<string | undefined> {
  if (check.kind === 'tcp') return tcpAttempt(env.target, check.host, check.port, Math.min(leftMs, TCP_ATTEMPT_MS));
  if (check.kind === 'command') return commandAttempt(env.target, check.argv, leftMs);
  return gitAttempt(env, leftMs);
}

const ERRNO_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  EPERM: 'operation not permitted (a REJECT or DROP in OUTPUT?)',
};

// Node cannot enter another network namespace, so from a named one the connect runs in a second
// node (this same binary: nothing to install, no netcat flavour to depend on) under `ip netns exec`.
// It prints what went wrong and exits non-zero.
const CONNECT_SCRIPT = `
const net = require('net');
const [host, port, ms] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port) });
const timer = setTimeout(() => { process.stdout.write('no answer within ' + Number(ms) / 1000 + ' s'); process.exit(2); }, Number(ms));
s.on('connect', () => { clearTimeout(timer); s.destroy(); process.exit(0); });
s.on('error', (e) => { process.stdout.write(e.code || e.message); process.exit(1); });`;

async function tcpAttempt(target: Target, host: string, port: number, ms: number): Promise<string | undefined> {
  if (target.netns === undefined) return connectHere(host, port, ms);
  const r = await runInTarget(target, [process.execPath, '-e', CONNECT_SCRIPT, host, String(port), String(ms)], { timeoutMs: ms + 5000 });
  if (r.code === 0) return undefined;
  const why = r.stdout.trim();
  return ERRNO_WORDS[why] ?? (why !== '' ? why : (r.stderr.trim().split('\n')[0] ?? `exit status ${r.code}`));
}

function connectHere(host: string, port: number, ms: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (problem: string | undefined): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(problem);
    };
    const timer = setTimeout(() => done(`no answer within ${ms / 1000} s`), ms);
    s.on('connect', () => done(undefined));
    s.on('error', (e: NodeJS.ErrnoException) => done(ERRNO_WORDS[e.code ?? ''] ?? e.code ?? e.message));
  });
}

async function commandAttempt(target: Target, argv: readonly string[], ms: number): Promise<string | undefined> {
  let r;
  try {
    r = await runInTarget(target, argv, { timeoutMs: ms });
  } catch (err) {
    return `cannot run ${argv[0] ?? ''}: ${(err as Error).message}`;
  }
  if (r.code === 0) return undefined;
  if (r.timedOut) return `still running after ${Math.round(ms / 100) / 10} s`;
  const said = (r.stderr.trim() || r.stdout.trim()).split('\n')[0];
  return `exit status ${r.code ?? r.signal ?? '?'}${said === undefined || said === '' ? '' : `: ${said}`}`;
}

async function gitAttempt(env: ProbeEnv, ms: number): Promise<string | undefined> {
  if (env.git === undefined) return 'no git repository to reach here (git probes run in the agent only)';
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`no answer within ${ms / 1000} s`), ms)));
  try {
    return await Promise.race([env.git().then(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
