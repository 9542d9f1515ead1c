import test from 'ava';
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CLI } from '../helpers/paths.js';
import { withNamedNetns } from '../helpers/named-netns.js';
import { SYSTEM_PATH } from '../apply/helpers/netns-apply.js';
import { withTempDir } from '../git/signing/tools.js';
import { makeAgentWorld } from './helpers/agent-env.js';

/** `nfgit sync` with its stdout on a file that JOURNAL_STREAM names, as systemd does for journald's stream. */
async function syncToJournal(dir: string, config: string, name: string, ...args: string[]): Promise<{ code: number | null; out: string }> {
  const file = path.join(dir, name);
  const fd = openSync(file, 'w');
  try {
    const st = fstatSync(fd, { bigint: true });
    const child = spawn(process.execPath, [CLI, 'sync', '--config', config, ...args], {
      env: { PATH: SYSTEM_PATH, LC_ALL: 'C', JOURNAL_STREAM: `${st.dev}:${st.ino}` },
      stdio: ['ignore', fd, 'inherit'],
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    return { code, out: readFileSync(file, 'utf8') };
  } finally {
    closeSync(fd);
  }
}

test('under journald: <N> priorities journalctl -p filters on, no time; at the default level (info) an idle pass writes nothing', async (t) => {
  await withTempDir('sync-journal', async (dir) => {
    const world = await makeAgentWorld(dir);
    try {
      await withNamedNetns(1, async ([ns]) => {
        const fw = await world.addHost('fw1', ns as string);
        const first = await world.repo.commit({ '10-base': 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n' });
        const applied = await syncToJournal(dir, fw.config, 'applied.log');
        t.is(applied.code, 0, applied.out);
        const lines = applied.out.trim().split('\n');
        t.true(
          lines.every((l) => /^<[3467]>/.test(l)),
          applied.out,
        );
        t.true(lines.includes(`<6>applied ${first.slice(0, 12)} to network namespace ${ns}  (event=applied commit=${first})`), applied.out);
        t.notRegex(applied.out, /\d{4}-\d\d-\d\dT\d\d:/, 'journald stamps the time');

        // What a poll that finds nothing new writes: nothing at info; the debug line with --log-level debug.
        const idle = await syncToJournal(dir, fw.config, 'idle.log', '--no-reconcile');
        t.is(idle.code, 0);
        t.is(idle.out, '');
        const debug = await syncToJournal(dir, fw.config, 'debug.log', '--no-reconcile', '--log-level', 'debug');
        t.is(debug.out, `<7>main is at ${first.slice(0, 12)}, already applied  (event=current commit=${first})\n`);

        // A refused commit is an error (priority 3), each line of its details too.
        const bad = await world.repo.commit({ '10-base': 'iptables -A INPUT -p tcp --dporrt 22 -j ACCEPT\n' });
        const refused = await syncToJournal(dir, fw.config, 'refused.log');
        t.is(refused.code, 1, refused.out);
        const errors = refused.out.split('\n').filter((l) => l.startsWith('<3>'));
        t.regex(errors[0] ?? '', new RegExp(`^<3>refused ${bad.slice(0, 12)}; still running ${first.slice(0, 12)}  \\(event=refused `));
        t.regex(errors[1] ?? '', /^<3> {4}rules\/10-base:1: .*--dporrt/);
        t.regex(refused.out, /^<6>.*\(event=new-commit /m);

        // --log-level (over log.level of the configuration) leaves out what is below it.
        const warnOnly = await syncToJournal(dir, fw.config, 'warn.log', '--log-level', 'warn', '--retry');
        t.true(
          warnOnly.out
            .trim()
            .split('\n')
            .every((l) => /^<[34]>/.test(l)),
          warnOnly.out,
        );
      });
    } finally {
      await world.server.stop();
    }
  });
});
