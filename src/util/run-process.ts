import { execa } from 'execa';

/** What a finished process left: exit code (null when killed), captured output, and whether it timed out. */
export interface ProcessResult {
  readonly code: number | null;
  readonly signal: string | undefined;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

/** Options for runProcess. */
export interface RunOptions {
  readonly input?: string;
  readonly timeoutMs?: number;
  readonly env?: Record<string, string>;
  readonly cwd?: string;
}

/**
 * Runs a command to completion in its own process group, killing the whole group on timeout
 * (execa's own timeout kills only the direct child, and a grandchild holding a pipe keeps it pending).
 */
export async function runProcess(file: string, args: readonly string[], options: RunOptions = {}): Promise<ProcessResult> {
  const child = execa(file, args, {
    detached: true,
    reject: false,
    stripFinalNewline: false,
    ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
    ...(options.env === undefined ? {} : { env: options.env, extendEnv: false }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    maxBuffer: 256 * 1024 * 1024,
  });
  let timedOut = false;
  const timer =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          killGroup(child.pid);
        }, options.timeoutMs);
  const kill = (): void => killGroup(child.pid);
  process.once('exit', kill);
  try {
    const r = await child;
    return {
      code: r.exitCode ?? null,
      signal: r.signal ?? undefined,
      stdout: String(r.stdout ?? ''),
      stderr: String(r.stderr ?? ''),
      timedOut,
    };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    process.removeListener('exit', kill);
  }
}

/** Sends SIGKILL to a process group, ignoring one that is already gone. */
export function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already exited
  }
}
