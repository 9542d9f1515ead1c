import test from 'ava';
import { spawn } from 'node:child_process';
import { CLI } from '../helpers/paths.js';
import { withNamedNetns } from '../helpers/named-netns.js';
import { SYSTEM_PATH } from '../apply/helpers/netns-apply.js';
import { withTempDir } from '../git/signing/tools.js';
import { openNotifySocket } from '../helpers/notify-socket.js';
import { makeAgentWorld } from './helpers/agent-env.js';
import { followJsonLog } from './helpers/json-log.js';

test('nfgit run under Type=notify: READY=1 with a STATUS once running, WATCHDOG=1 heartbeats from the poll loop, STOPPING=1 on SIGTERM', async (t) => {
  await withTempDir('agent-notify', async (dir) => {
    const world = await makeAgentWorld(dir);
    const socket = await openNotifySocket(dir);
    try {
      await withNamedNetns(1, async ([ns]) => {
        const fw = await world.addHost('fw1', ns as string);
        const first = await world.repo.commit({ '10-base': 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n' });
        // What systemd sets for WatchdogSec=1s: a heartbeat every half second.
        const child = spawn(process.execPath, [CLI, 'run', '--config', fw.config, '--log-format', 'json'], {
          env: { PATH: SYSTEM_PATH, LC_ALL: 'C', NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '1000000' },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const log = followJsonLog(child);
        const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
        try {
          const ready = await socket.waitFor('READY=1');
          t.regex(socket.messages[ready] ?? '', /^STATUS=following main of .*fw\.git; first pass running$/m);
          // In the name of the main process (systemd-notify sends its parent's pid), so NotifyAccess=main holds.
          t.is(socket.senders[ready], child.pid);
          await log.waitFor((l) => l.event === 'applied' && l['commit'] === first, 60_000);
          await socket.waitFor(`STATUS=applied ${first.slice(0, 12)}`);
          // Heartbeats keep coming while the daemon idles between polls (the poll interval is an hour).
          const beat = await socket.waitFor('WATCHDOG=1', 60_000, ready);
          await socket.waitFor('WATCHDOG=1', 60_000, beat + 1);
          child.kill('SIGTERM');
          t.is(await exited, 0, log.stderr());
          const stopping = await socket.waitFor('STOPPING=1', 60_000, ready);
          t.is(socket.senders[beat], child.pid);
          t.is(socket.senders[stopping], child.pid);
          t.is(log.stderr(), '');
          t.false(
            log.lines.some((l) => l.event === 'notify-failed'),
            JSON.stringify(log.lines),
          );
        } finally {
          if (child.exitCode === null) child.kill('SIGKILL');
        }
      });
    } finally {
      socket.close();
      await world.server.stop();
    }
  });
});
