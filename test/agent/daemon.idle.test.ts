import test from 'ava';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CLI } from '../helpers/paths.js';
import { withNamedNetns, savesOf } from '../helpers/named-netns.js';
import { SYSTEM_PATH } from '../apply/helpers/netns-apply.js';
import { withTempDir } from '../git/signing/tools.js';
import { makeAgentWorld } from './helpers/agent-env.js';
import { followJsonLog, type LogLine } from './helpers/json-log.js';
import { lockStateDir } from '../../src/apply/state-lock.js';
import { STATE_FILE } from '../../src/util/state-layout.js';

const WAIT_MS = 60_000;

/** Resolves once cond() holds (checked every 20 ms); rejects after ms with what() in the message. */
async function until(cond: () => boolean, what: () => string, ms = WAIT_MS): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting: ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The processes strace saw started (execve lines of `strace -f -o`), from the `from`-th on. */
function execs(traceFile: string, from = 0): string[] {
  let text = '';
  try {
    text = readFileSync(traceFile, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => /\bexecve\(/.test(l) && !l.includes('<unfinished') && !/= -1 E/.test(l))
    .slice(from);
}

/** The kernel function a process sleeps in (/proc/PID/wchan), or '' when it is gone. */
function wchan(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/wchan`, 'utf8');
  } catch {
    return '';
  }
}

/** The children of a process (from /proc). */
function children(parent: number): number[] {
  const text = (() => {
    try {
      return readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8');
    } catch {
      return '';
    }
  })();
  return text
    .trim()
    .split(/\s+/)
    .filter((s) => s !== '')
    .map(Number);
}

function named(pid: number, name: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name;
  } catch {
    return false;
  }
}

/** The children of a process named `name` (the daemon under strace). */
function childrenNamed(parent: number, name: string): number[] {
  return children(parent).filter((pid) => named(pid, name));
}

/** The descendants of a process named `name`: the daemon's flock, run by the pass's child process (agent/pass-process.ts). */
function descendantsNamed(parent: number, name: string): number[] {
  const below = children(parent);
  return [...below.filter((pid) => named(pid, name)), ...below.flatMap((pid) => descendantsNamed(pid, name))];
}

// Issue 15: every poll of an idle `nfgit run` spawned flock, sh and cat for agent.lock. A poll that
// finds nothing to do now answers without the lock (agent/idle-poll.ts); one that has something to do
// still takes it, and still waits while another nfgit holds it. strace -f sees every process the
// daemon (or anything it starts) executes.
test('nfgit run: an idle poll spawns no process; a poll with a new commit takes agent.lock and waits while another holds it', async (t) => {
  await withTempDir('agent-idle', async (dir) => {
    const world = await makeAgentWorld(dir);
    try {
      await withNamedNetns(1, async ([ns]) => {
        const fw = await world.addHost('fw1', ns as string, { poll: { interval: '1s', jitter: '0s' } });
        const first = await world.repo.commit({ '10-base': 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n' });
        const trace = path.join(dir, 'execve.trace');
        const child = spawn(
          'strace',
          [
            '-f',
            '-qq',
            '-e',
            'trace=execve',
            '-o',
            trace,
            process.execPath,
            CLI,
            'run',
            '--config',
            fw.config,
            '--log-format',
            'json',
            '--log-level',
            'debug',
          ],
          { env: { PATH: SYSTEM_PATH, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] },
        );
        const log = followJsonLog(child);
        const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
        const waitFor = (pred: (l: LogLine) => boolean) => log.waitFor(pred, WAIT_MS);
        let holder: { release(): void } | undefined;
        try {
          await waitFor((l) => l.event === 'applied' && l['commit'] === first);
          await waitFor((l) => (l.event === 'tagged' || l.event === 'tag-failed') && l['commit'] === first);
          // The first pass took the lock with flock: strace sees the tools, so it would see them again.
          t.true(
            execs(trace).some((l) => l.includes('"flock"') || l.includes('/flock"')),
            'the first pass ran flock',
          );

          // Idle polls: each logs `current` at debug; four after the mark.
          const mark = execs(trace).length;
          const seen = log.lines.length;
          const idle = (): number => log.lines.slice(seen).filter((l) => l.event === 'current').length;
          await until(
            () => idle() >= 4,
            () => `4 idle polls, saw ${idle()}`,
          );
          const during = execs(trace, mark);
          t.deepEqual(during, [], `idle polls executed: ${during.join('\n')}`);

          // Another nfgit holds agent.lock (lockStateDir, as `nfgit sync` takes it); a new commit is pushed.
          holder = await lockStateDir(fw.stateDir, 'test: another nfgit sync', 10_000, STATE_FILE.agentLock);
          const second = await world.repo.commit({ '10-base': 'iptables -A INPUT -p tcp --dport 2022 -j ACCEPT\n' });
          const daemon = (): number | undefined => childrenNamed(child.pid as number, 'node')[0];
          // The poll that sees it cannot answer alone: it runs flock, which sleeps in the kernel on the held lock.
          let flockPid: number | undefined;
          await until(
            () => {
              const node = daemon();
              flockPid = node === undefined ? undefined : descendantsNamed(node, 'flock')[0];
              return flockPid !== undefined && /lock/.test(wchan(flockPid));
            },
            () =>
              `the daemon's flock waiting on agent.lock (flock ${flockPid ?? 'none'}, wchan ${flockPid === undefined ? '' : wchan(flockPid)})`,
          );
          t.false(
            log.lines.some((l) => l.event === 'applied' && l['commit'] === second),
            'nothing applied while the lock is held',
          );
          t.notRegex((await savesOf(ns as string)).ipv4, /--dport 2022 -j ACCEPT/);
          const released = log.lines.length;
          holder.release();
          holder = undefined;
          await waitFor((l) => l.event === 'applied' && l['commit'] === second);
          t.true(log.lines.findIndex((l) => l.event === 'applied' && l['commit'] === second) >= released, 'applied after the release');
          t.regex((await savesOf(ns as string)).ipv4, /--dport 2022 -j ACCEPT/);
        } finally {
          holder?.release();
          // SIGTERM to strace would detach it and leave the daemon running: the daemon is stopped, strace follows.
          const node = childrenNamed(child.pid as number, 'node')[0];
          if (node !== undefined) process.kill(node, 'SIGTERM');
          else if (child.exitCode === null) child.kill('SIGKILL');
          await exited;
        }
      });
    } finally {
      await world.server.stop();
    }
  });
});
