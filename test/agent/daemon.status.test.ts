import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, watch } from 'node:fs';
import path from 'node:path';
import { CLI } from '../helpers/paths.js';
import { withNamedNetns } from '../helpers/named-netns.js';
import { SYSTEM_PATH } from '../apply/helpers/netns-apply.js';
import { withTempDir } from '../git/signing/tools.js';
import { makeAgentWorld, nfgit } from './helpers/agent-env.js';
import { followJsonLog } from './helpers/json-log.js';

// What `nfgit run` records between passes for status --local and the metrics: when its next poll is
// due (the interval plus at most poll.jitter, or a backoff after a failure), and a failed pass.

interface Record {
  lastPass: { at: string; durationMs: number; result: string } | null;
  nextPass: { at: string; backoff: boolean } | null;
  failures: number;
  lastError: { message: string } | null;
}

/** Resolves with agent-status.json once pred holds for it (checked at each change of the state directory). */
function waitForRecord(stateDir: string, pred: (r: Record) => boolean, ms = 60_000): Promise<Record> {
  const file = path.join(stateDir, 'agent-status.json');
  const read = (): Record | undefined => {
    try {
      const r = JSON.parse(readFileSync(file, 'utf8')) as Record;
      return pred(r) ? r : undefined;
    } catch {
      return undefined;
    }
  };
  return new Promise((resolve, reject) => {
    const watcher = watch(stateDir, () => {
      const r = read();
      if (r !== undefined) done(() => resolve(r));
    });
    const timer = setTimeout(() => done(() => reject(new Error(`agent-status.json never matched: ${readFileSync(file, 'utf8')}`))), ms);
    const done = (then: () => void): void => {
      clearTimeout(timer);
      watcher.close();
      then();
    };
    const now = read();
    if (now !== undefined) done(() => resolve(now));
  });
}

test('nfgit run records its next poll (interval plus jitter, or backoff after a failure), and a failed pass in status --local and the metrics', async (t) => {
  await withTempDir('agent-run-status', async (dir) => {
    const world = await makeAgentWorld(dir);
    try {
      await withNamedNetns(1, async ([ns]) => {
        const prom = path.join(dir, 'prom', 'nfgit.prom');
        mkdirSync(path.dirname(prom));
        const fw = await world.addHost('fw1', ns as string, { poll: { interval: '1h', jitter: '10m' }, metrics: { textfile: prom } });
        await world.repo.commit({ '10-base': 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n' });
        const child = spawn(process.execPath, [CLI, 'run', '--config', fw.config, '--log-format', 'json'], {
          env: { PATH: SYSTEM_PATH, LC_ALL: 'C' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const log = followJsonLog(child);
        const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
        try {
          await log.waitFor((l) => l.event === 'applied', 60_000);
          let r = await waitForRecord(fw.stateDir, (x) => x.nextPass !== null && x.lastPass !== null);
          const after = (x: Record): number => new Date(x.nextPass?.at ?? 0).getTime() - new Date(x.lastPass?.at ?? 0).getTime();
          // Due an hour after the pass ended, plus up to ten minutes of jitter.
          const lastPassEnd = (x: Record): number => new Date(x.lastPass?.at ?? 0).getTime() + (x.lastPass?.durationMs ?? 0);
          t.false(r.nextPass?.backoff);
          t.true(new Date(r.nextPass?.at ?? 0).getTime() >= lastPassEnd(r) + 3_600_000, JSON.stringify(r));
          t.true(after(r) <= 3_600_000 + 600_000 + (r.lastPass?.durationMs ?? 0) + 60_000, JSON.stringify(r));

          // The server down, a pass now: failed, backoff, recorded; the metrics say so.
          await world.server.stop();
          child.kill('SIGHUP');
          r = await waitForRecord(fw.stateDir, (x) => x.failures === 1 && x.nextPass?.backoff === true);
          t.is(r.lastPass?.result, 'failed');
          t.regex(r.lastError?.message ?? '', /ECONNREFUSED/);
          const metrics = readFileSync(prom, 'utf8');
          t.regex(metrics, /^nfgit_last_pass_success 0$/m);
          t.regex(metrics, /^nfgit_consecutive_failures 1$/m);
          const local = await nfgit(['status', '--local', '--state-dir', fw.stateDir]);
          t.regex(local.stdout, /^failures +1 in a row$/m);
          t.regex(local.stdout, /^next pass +.*\(backing off after failures\)$/m);
          t.regex(local.stdout, /^last error +.*ECONNREFUSED/m);
          await world.server.start();
          child.kill('SIGTERM');
          t.is(await exited, 0, log.stderr());
          // Stopped: no poll is due.
          const stopped = await nfgit(['status', '--local', '--json', '--state-dir', fw.stateDir]);
          t.is((JSON.parse(stopped.stdout) as Record).nextPass, null);
        } finally {
          if (child.exitCode === null) child.kill('SIGKILL');
        }
      });
    } finally {
      await world.server.stop();
    }
  });
});
