import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { onExit } from './exit-hooks.js';
import { bytesOf } from './text-bytes.js';

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
  /** The child's stdin: a text, or pieces of bytes written in order. */
  readonly input?: string | readonly Uint8Array[];
  readonly timeoutMs?: number;
  /** The whole environment of the child (nothing is inherited when given). */
  readonly env?: Record<string, string>;
  readonly cwd?: string;
  /**
   * Done when the process itself exits, not when its output pipes close: its process group is killed
   * then, and a process that left the group (`setsid cmd &`) and still holds the pipes is left to run
   * but no longer holds nfgit (its output after a short grace is dropped).
   */
  readonly untilExit?: boolean;
}

/** How long output is still read after the process exited, when a process it left behind holds the pipes. */
const EXIT_GRACE_MS = 500;

/**
 * Runs a command to completion in its own process group, killing the whole group on timeout or when
 * nfgit exits (a grandchild holding a pipe would otherwise keep it pending). node:child_process
 * rather than execa: importing execa costs ~170 ms, a third of a small `nfgit check`.
 */
export function runProcess(file: string, args: readonly string[], options: RunOptions = {}): Promise<ProcessResult> {
  const child = spawn(file, args, {
    detached: true,
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  return runSpawned(child, options);
}

/**
 * runProcess for a child already spawned in its own process group with its output piped (a shell
 * started ahead, waiting-shells.ts, once given its line): its stdin gets the input, or is closed.
 */
export function runSpawned(child: ChildProcess, options: Omit<RunOptions, 'env' | 'cwd'> = {}): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    if (child.stdin !== null) {
      child.stdin.on('error', () => {}); // the child may exit without reading everything
      if (options.input === undefined) child.stdin.end();
      else writeInput(child.stdin, options.input);
    }
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            killGroup(child.pid);
          }, options.timeoutMs);
    const kill = (): void => killGroup(child.pid);
    const dropExit = onExit(kill);
    const done = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      dropExit();
    };
    child.on('error', (e) => {
      done();
      reject(e);
    });
    let finished = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (finished) return;
      finished = true;
      done();
      resolve({
        code,
        signal: signal ?? undefined,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    };
    child.on('close', finish);
    if (options.untilExit === true) {
      child.on('exit', (code, signal) => {
        killGroup(child.pid);
        setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
          finish(code, signal);
        }, EXIT_GRACE_MS).unref();
      });
    }
  });
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

/** Writes a child's whole stdin and ends it: a text (its bytes encoded once, text-bytes.ts), or pieces of bytes in order. */
export function writeInput(stdin: Writable, input: string | readonly Uint8Array[]): void {
  if (typeof input === 'string') {
    stdin.end(bytesOf(input));
    return;
  }
  for (const piece of input) stdin.write(piece);
  stdin.end();
}
