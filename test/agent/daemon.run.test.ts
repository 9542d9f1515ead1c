import test from 'ava';
import { spawn } from 'node:child_process';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI } from '../helpers/paths.js';
import { withNamedNetns, savesOf } from '../helpers/named-netns.js';
import { SYSTEM_PATH } from '../apply/helpers/netns-apply.js';
import { mustRun, withTempDir } from '../git/signing/tools.js';
import { makeAgentWorld } from './helpers/agent-env.js';
import { followJsonLog, type LogLine } from './helpers/json-log.js';

/** `nfgit run` as a child, and its JSON log as it comes. */
function startRun(config: string) {
  const child = spawn(process.execPath, [CLI, 'run', '--config', config, '--log-format', 'json'], {
    env: { PATH: SYSTEM_PATH, LC_ALL: 'C' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = followJsonLog(child);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    lines: log.lines,
    stderr: log.stderr,
    exited,
    waitFor: (pred: (l: LogLine) => boolean, ms = 60_000) => log.waitFor(pred, ms),
  };
}

test('nfgit run: first pass at start, the trigger file (by hand and from a push through the post-receive hook) and SIGHUP sync at once, SIGTERM stops cleanly', async (t) => {
  await withTempDir('agent-run', async (dir) => {
    const world = await makeAgentWorld(dir);
    try {
      await withNamedNetns(1, async ([ns]) => {
        const fw = await world.addHost('fw1', ns as string);
        const first = await world.repo.commit({ '10-base': 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n' });
        const run = startRun(fw.config);
        try {
          await run.waitFor((l) => l.event === 'started');
          await run.waitFor((l) => l.event === 'applied' && l['commit'] === first);
          // The trigger's directory did not exist: the daemon made it, writable by its group.
          t.is(statSync(path.dirname(fw.trigger)).mode & 0o7777, 0o770);
          t.regex((await savesOf(ns as string)).ipv4, /--dport 22 -j ACCEPT/);

          // The poll interval is an hour: only the trigger can make this one quick.
          const second = await world.repo.commit({ '10-base': 'iptables -A INPUT -p tcp --dport 2022 -j ACCEPT\n' });
          const pushed = Date.now();
          writeFileSync(fw.trigger, '');
          await run.waitFor((l) => l.event === 'applied' && l['commit'] === second, 30_000);
          t.log(`push to applied with the trigger file: ${Date.now() - pushed} ms`);
          t.regex((await savesOf(ns as string)).ipv4, /--dport 2022 -j ACCEPT/);

          const third = await world.repo.commit({ '10-base': 'iptables -A INPUT -p tcp --dport 3022 -j ACCEPT\n' });
          run.child.kill('SIGHUP');
          await run.waitFor((l) => l.event === 'applied' && l['commit'] === third, 30_000);

          // A push through the server hooks: post-receive creates the trigger file (nfgit.trigger),
          // and the daemon applies the commit without waiting for its poll.
          await mustRun('node', [CLI, 'hooks', 'install', world.repo.bare]);
          await mustRun('git', ['--git-dir', world.repo.bare, 'config', 'nfgit.trigger', fw.trigger]);
          await mustRun('git', ['--git-dir', world.repo.bare, 'config', 'nfgit.allowedSigners', world.repo.allowedSigners]);
          const triggered = run.lines.filter((l) => l.event === 'triggered').length;
          const hooked = await world.repo.commit({ '10-base': 'iptables -A INPUT -p tcp --dport 2222 -j ACCEPT\n' });
          await run.waitFor((l) => l.event === 'applied' && l['commit'] === hooked, 30_000);
          t.is(run.lines.filter((l) => l.event === 'triggered').length, triggered + 1, 'the hook triggered the pass');
          for (const hook of ['pre-receive', 'post-receive']) rmSync(path.join(world.repo.bare, 'hooks', hook));

          // SIGTERM while a commit is being applied: the pass finishes, then the daemon stops.
          const fourth = await world.repo.commit({ '10-base': 'iptables -A INPUT -p tcp --dport 4022 -j ACCEPT\n' });
          run.child.kill('SIGHUP');
          await run.waitFor((l) => l.event === 'new-commit' && l['commit'] === fourth, 30_000);
          run.child.kill('SIGTERM');
          t.is(await run.exited, 0, run.stderr());
          const events = run.lines.map((l) => l.event);
          t.true(events.lastIndexOf('applied') > events.indexOf('stopping'), events.join(','));
          t.is(events.at(-1), 'stopped');
          t.regex((await savesOf(ns as string)).ipv4, /--dport 4022 -j ACCEPT/);
        } finally {
          if (run.child.exitCode === null) run.child.kill('SIGKILL');
        }
      });
    } finally {
      await world.server.stop();
    }
  });
});
