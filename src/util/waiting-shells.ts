// Shells started ahead of need: each waits for one line of input, a script, and runs it with the rest
// of its input. An apply starts them while the rule files run, when nfgit's process is small: after
// the compile, a spawn forks a process of several hundred megabytes (8-10 ms of the main thread each
// on our VMs), and `ip netns exec` takes another 10-20 ms before the tool starts. A shell taken then
// only needs its line written.

import { spawn, type ChildProcess } from 'node:child_process';
import { onExit } from './exit-hooks.js';
import { killGroup } from './run-process.js';

/** What a waiting shell runs: the script on its first line of input, with the rest as its input. */
const WAITING = 'IFS= read -r nfgit_script || exit 0; eval "$nfgit_script"';

/** Shells started ahead and not taken yet, by what they were started for (a namespace's name). */
const waiting = new Map<string, ChildProcess[]>();

/** Shells that could not be spawned: their error was emitted before anyone could listen. */
const unspawned = new WeakSet<ChildProcess>();

/**
 * Spawns `command` (whose last words are a shell's `-c`) with SCRIPT and then `args` after it, its
 * stdio piped, in its own process group, killed when nfgit exits.
 */
export function spawnShellScript(
  command: readonly string[],
  script: string,
  args: readonly string[],
  env: Record<string, string>,
): ChildProcess {
  const [file, ...rest] = command;
  const child = spawn(file as string, [...rest, script, ...args], { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env });
  const dropExit = onExit(() => killGroup(child.pid));
  child.on('close', dropExit);
  child.stdin?.on('error', () => {});
  return child;
}

/** A waiting shell (spawnShellScript of WAITING). */
function spawnWaiting(command: readonly string[], args: readonly string[], env: Record<string, string>): ChildProcess {
  const child = spawnShellScript(command, WAITING, args, env);
  // A shell that fails to spawn is not used: the script it would have run is spawned on its own, whose
  // failure its caller hears of.
  child.on('error', () => unspawned.add(child));
  return child;
}

/**
 * Starts `count` shells for `key`, each by `command` (ending in a shell and `-c`) with `args` after
 * the script. `release` ends those not taken (they exit without doing anything).
 */
export function startWaitingShells(
  key: string,
  count: number,
  command: readonly string[],
  env: Record<string, string>,
  args: readonly string[] = [],
): { readonly shells: readonly ChildProcess[]; release(): void } {
  const started: ChildProcess[] = [];
  const pool = waiting.get(key) ?? [];
  waiting.set(key, pool);
  for (let i = 0; i < count; i++) {
    const shell = spawnWaiting(command, args, env);
    started.push(shell);
    pool.push(shell);
  }
  return {
    shells: started,
    release: () => {
      for (const shell of started) {
        const at = pool.indexOf(shell);
        if (at === -1) continue;
        pool.splice(at, 1);
        shell.stdin?.end();
      }
      if (pool.length === 0 && waiting.get(key) === pool) waiting.delete(key);
    },
  };
}

/**
 * A shell started for `key` that is still waiting (not one that ended or never started: its end would
 * not be seen), given SCRIPT (one line) to run; undefined when there is none.
 */
export function takeWaitingShell(key: string, script: string): ChildProcess | undefined {
  if (script.includes('\n')) return undefined;
  const pool = waiting.get(key);
  for (;;) {
    const shell = pool?.shift();
    if (shell === undefined) return undefined;
    if (shell.exitCode !== null || shell.signalCode !== null || unspawned.has(shell)) continue;
    shell.stdin?.write(`${script}\n`);
    return shell;
  }
}

/** A word as the shell reads it back unchanged: in single quotes, each quote written as '\''. */
export function shellWord(word: string): string {
  return `'${word.replaceAll("'", "'\\''")}'`;
}

/** The line that makes a waiting shell become the command ARGV (it keeps its process and its group). */
export function execLine(argv: readonly string[]): string {
  return `exec ${argv.map(shellWord).join(' ')}`;
}
