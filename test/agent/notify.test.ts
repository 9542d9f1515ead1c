import test from 'ava';
import path from 'node:path';
import { heartbeatIntervalMs, passBoundMs, passStatus, systemdNotifier, withinBound } from '../../src/agent/notify.js';
import { memoryLogger } from '../../src/agent/log.js';
import { parseConfig } from '../../src/agent/config.js';
import { SYNC_DEFAULTS } from '../../src/agent/sync.js';
import { withTempDir } from '../git/signing/tools.js';
import { openNotifySocket } from '../helpers/notify-socket.js';

test('the heartbeat comes every half of WATCHDOG_USEC, only with a socket, and only for the process WATCHDOG_PID names', (t) => {
  t.is(heartbeatIntervalMs({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '300000000' }, 42), 150_000);
  t.is(heartbeatIntervalMs({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '300000000', WATCHDOG_PID: '42' }, 42), 150_000);
  t.is(heartbeatIntervalMs({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '300000000', WATCHDOG_PID: '7' }, 42), null);
  t.is(heartbeatIntervalMs({ WATCHDOG_USEC: '300000000' }, 42), null);
  t.is(heartbeatIntervalMs({ NOTIFY_SOCKET: '/run/systemd/notify' }, 42), null);
  t.is(heartbeatIntervalMs({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: 'x' }, 42), null);
});

test('a pass in flight longer than the sum of its time limits stops the heartbeat; idle or within the bound does not', (t) => {
  const config = parseConfig('repository: { url: /srv/fw.git }\ntrust: { allowedSigners: /etc/nfgit/allowed_signers }\n', 'c.yaml', {
    hostname: 'fw1',
  });
  const bound = passBoundMs(config, SYNC_DEFAULTS);
  // The agent lock (10 min), the git requests, the rule files, host commands and a margin.
  t.true(bound > SYNC_DEFAULTS.lockWaitMs + config.repository.fetchTimeoutMs + SYNC_DEFAULTS.compileTimeoutMs);
  t.true(withinBound(null, 1e12, bound));
  t.true(withinBound(1000, 1000 + bound, bound));
  t.false(withinBound(1000, 1001 + bound, bound));
});

test('STATUS after a pass: what runs, and the failure of the last pass', (t) => {
  const a = 'a'.repeat(40);
  const b = 'b'.repeat(40);
  t.is(passStatus({ kind: 'current', commit: a, applied: a, drift: 'not-checked' }), `running ${a.slice(0, 12)} (the branch head)`);
  t.is(
    passStatus({ kind: 'current', commit: b, applied: a, drift: 'repaired' }),
    `running ${a.slice(0, 12)}, branch head ${b.slice(0, 12)}; drift repaired`,
  );
  t.is(passStatus({ kind: 'decided', commit: b, result: 'refused', errors: [], tag: null }), `refused ${b.slice(0, 12)}`);
  t.is(passStatus(new Error('nfgit: the server is down\nmore')), 'last pass failed: nfgit: the server is down');
  t.is(
    passStatus({ kind: 'current', commit: b, applied: a, drift: 'none', held: 'waiting for canary fw1 (healthy in 4m)' }),
    `running ${a.slice(0, 12)}, holding ${b.slice(0, 12)}: waiting for canary fw1 (healthy in 4m)`,
  );
});

test('without NOTIFY_SOCKET nothing is sent; with one, messages reach the socket in order', async (t) => {
  await withTempDir('notify', async (dir) => {
    const log = memoryLogger();
    const off = systemdNotifier(log, {});
    t.false(off.enabled);
    await off.ready('x');
    const socket = await openNotifySocket(dir);
    try {
      const on = systemdNotifier(log, { NOTIFY_SOCKET: socket.path });
      void on.ready('following main\nof x');
      await on.status('applied abc');
      await socket.waitFor('STATUS=applied abc');
      const mine = socket.messages.filter((m) => !m.startsWith('BARRIER='));
      t.deepEqual(mine, ['READY=1\nSTATUS=following main; of x', 'STATUS=applied abc']);
      t.deepEqual(log.entries, []);
    } finally {
      socket.close();
    }
  });
});

test('a socket nobody listens on: one warning, no exception', async (t) => {
  await withTempDir('notify', async (dir) => {
    const log = memoryLogger();
    const on = systemdNotifier(log, { NOTIFY_SOCKET: path.join(dir, 'nobody.sock') });
    await on.ready('x');
    await on.status('y');
    t.deepEqual(
      log.entries.map((e) => [e.level, e.event]),
      [['warn', 'notify-failed']],
    );
  });
});

test('the watchdog: no heartbeat while the daemon is not healthy (logged once), heartbeats again once it is', async (t) => {
  await withTempDir('notify', async (dir) => {
    const socket = await openNotifySocket(dir);
    try {
      const log = memoryLogger();
      const notifier = systemdNotifier(log, { NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '100000' });
      let calls = 0;
      let sentWhileHung = 0;
      const stop = notifier.watchdog(() => {
        calls++;
        if (calls <= 3) {
          sentWhileHung = socket.messages.filter((m) => m === 'WATCHDOG=1').length;
          return false;
        }
        return true;
      });
      try {
        await socket.waitFor('WATCHDOG=1');
      } finally {
        stop();
      }
      t.true(calls > 3);
      t.is(sentWhileHung, 0);
      t.deepEqual(
        log.entries.map((e) => [e.level, e.event]),
        [['error', 'watchdog-stopped']],
      );
    } finally {
      socket.close();
    }
  });
});
