import test from 'ava';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { CLI } from '../helpers/paths.js';
import { inNetns, savesOf, withNamedNetns } from '../helpers/named-netns.js';
import { SYSTEM_PATH } from '../apply/helpers/netns-apply.js';
import { withTempDir } from '../git/signing/tools.js';
import { makeAgentWorld } from './helpers/agent-env.js';
import { followJsonLog } from './helpers/json-log.js';

test('systemctl reload (SIGHUP) and the trigger file are a full pass: drift made by hand (iptables -F) is repaired at once', async (t) => {
  await withTempDir('agent-reload', async (dir) => {
    const world = await makeAgentWorld(dir);
    try {
      await withNamedNetns(1, async ([ns]) => {
        const netns = ns as string;
        const fw = await world.addHost('fw1', netns);
        const first = await world.repo.commit({ '10-base': 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n' });
        // The poll interval is an hour and the reconcile schedule once a year: only the reload can check drift here.
        const child = spawn(process.execPath, [CLI, 'run', '--config', fw.config, '--log-format', 'json'], {
          env: { PATH: SYSTEM_PATH, LC_ALL: 'C' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const log = followJsonLog(child);
        try {
          await log.waitFor((l) => l.event === 'applied' && l['commit'] === first, 60_000);
          const applied = await savesOf(netns);

          await inNetns(netns, ['iptables', '-F', 'INPUT']);
          t.notRegex((await savesOf(netns)).ipv4, /--dport 22/);
          child.kill('SIGHUP');
          const drift = await log.waitFor((l) => l.event === 'drift', 60_000);
          t.regex(JSON.stringify(drift['details']), /dport 22/);
          await log.waitFor((l) => l.event === 'repaired', 60_000);
          t.deepEqual(await savesOf(netns), applied);

          // The same for the trigger file (a push's post-receive hook).
          await inNetns(netns, ['iptables', '-F', 'INPUT']);
          const repairs = log.lines.filter((l) => l.event === 'repaired').length;
          writeFileSync(fw.trigger, '');
          await log.waitFor((l) => l.event === 'repaired' && log.lines.filter((x) => x.event === 'repaired').length > repairs, 60_000);
          t.deepEqual(await savesOf(netns), applied);
          child.kill('SIGTERM');
          await log.waitFor((l) => l.event === 'stopped', 60_000);
        } finally {
          if (child.exitCode === null) child.kill('SIGKILL');
        }
      });
    } finally {
      await world.server.stop();
    }
  });
});
