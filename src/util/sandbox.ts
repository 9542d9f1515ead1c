import { NfgitError, SandboxError, TimeoutError } from '../errors/errors.js';
import type { ChildProcess } from 'node:child_process';
import { runProcess, writeInput, type ProcessResult } from './run-process.js';
import { spawnShellScript, startWaitingShells, takeWaitingShell } from './waiting-shells.js';

/** A fixed PATH for everything nfgit runs, so the host's PATH cannot swap tools under it. */
export const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The environment of the netfilter tools nfgit runs (staging, apply): the caller's PATH, so staging
 * validates with the same tools and backend as apply uses, and a host's (or a test's) own tools win.
 */
export function toolEnv(): Record<string, string> {
  return { PATH: process.env['PATH'] ?? SAFE_PATH, LC_ALL: 'C' };
}

/** Whether this process is root (then a plain network namespace), or needs a user namespace too. */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * The `unshare` arguments for a fresh, empty network namespace that disappears with its last process.
 * A non-root user gets a user namespace mapping them to root inside, which is enough for
 * iptables-restore there (see NOTES: works on Debian 12 kernels).
 */
export function unshareArgs(options: { mount?: boolean } = {}): string[] {
  const args = isRoot() ? [] : ['--user', '--map-root-user'];
  args.push('--net');
  if (options.mount === true) args.push('--mount');
  return args;
}

/** Turns a failure to create the namespace into a message saying what to do. */
export function sandboxFailure(stderr: string): NfgitError | undefined {
  if (!/unshare failed|unshare: /.test(stderr)) return undefined;
  const why = stderr.trim().split('\n')[0] ?? '';
  const hint = isRoot()
    ? 'nfgit needs to create network namespaces (unshare --net); check that the kernel has CONFIG_NET_NS'
    : 'as a non-root user nfgit needs unprivileged user namespaces (unshare --user --map-root-user --net); this kernel forbids them (see sysctl kernel.unprivileged_userns_clone or user.max_user_namespaces): run nfgit as root, or enable them';
  return new SandboxError(`cannot create a scratch network namespace (${why}): ${hint}`);
}

/** Runs a shell script inside a fresh network namespace, with a time limit; the namespace ends with it. */
export async function runInScratchNetns(
  script: string,
  args: readonly string[],
  options: { input?: string | readonly Uint8Array[]; timeoutMs?: number } = {},
): Promise<ProcessResult> {
  const r = await runProcess('unshare', [...unshareArgs(), '--', '/bin/sh', '-c', script, 'nfgit-sandbox', ...args], {
    ...options,
    timeoutMs: options.timeoutMs ?? 120_000,
    env: toolEnv(),
  });
  const failure = r.code !== 0 ? sandboxFailure(r.stderr) : undefined;
  if (failure !== undefined) throw failure;
  if (r.timedOut)
    throw new TimeoutError(`a command in the scratch network namespace did not finish within ${(options.timeoutMs ?? 120_000) / 1000} s`);
  return r;
}

/**
 * Starts a shell script in a fresh network namespace without waiting for it (for output that is read
 * as it comes); the process group is killed when nfgit exits. A shell started ahead
 * (startScratchShells) runs it when there is one.
 */
export function spawnInScratchNetns(script: string, input: string | readonly Uint8Array[]): ChildProcess {
  const child = takeWaitingShell(SCRATCH, script) ?? spawnShell(script);
  if (child.stdin === null) return child;
  writeInput(child.stdin, input);
  return child;
}

/** The key of the shells started ahead in fresh network namespaces (waiting-shells.ts). */
const SCRATCH = 'scratch';

/** The command that runs a shell script (added after it) in a fresh network namespace. */
const scratchShell = (): string[] => ['unshare', ...unshareArgs(), '--', '/bin/sh', '-c'];

/**
 * Starts `count` shells in fresh network namespaces, each waiting for a script (spawnInScratchNetns),
 * so that the namespaces and processes exist before they are needed: at 50k rules staging's processes
 * would otherwise start one after another on a busy main thread, each spawn of a large process taking
 * 15-25 ms. Started while the rule files run (the process is small then). `release` ends those not
 * taken (they exit without doing anything).
 */
export function startScratchShells(count: number): { readonly shells: readonly ChildProcess[]; release(): void } {
  return startWaitingShells(SCRATCH, count, scratchShell(), toolEnv(), ['nfgit-sandbox']);
}

function spawnShell(script: string): ChildProcess {
  return spawnShellScript(scratchShell(), script, ['nfgit-sandbox'], toolEnv());
}
