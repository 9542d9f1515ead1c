/**
 * The agent's drift check (reconcile) knows the live ruleset from the target's generation when nothing
 * was committed there since its apply (netfilter/generation.ts): no save, no drift. A change by hand
 * moves the generation, and the drift is found and repaired as before.
 */
import test from 'ava';
import { inNetns, withNamedNetns } from '../helpers/named-netns.js';
import { withTempDir } from '../git/signing/tools.js';
import { logEntries, makeAgentWorld } from './helpers/agent-env.js';

test('a reconcile with nothing committed since the apply knows the live ruleset from its generation; a change by hand is still found', async (t) => {
  await withTempDir('agent-generation', async (dir) => {
    const world = await makeAgentWorld(dir, { local: true });
    try {
      await withNamedNetns(1, async ([name]) => {
        const ns = name as string;
        const fw = await world.addHost('fw1', ns);
        await world.repo.commit({
          '10-rules': 'iptables -P INPUT DROP\niptables -A INPUT -i lo -j ACCEPT\nip6tables -A INPUT -i lo -j ACCEPT\n',
        });
        let r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout);
        r = await fw.sync('--log-level', 'debug');
        t.is(r.exitCode, 0, r.stdout);
        t.like(
          logEntries(r.stdout).find((e) => e.event === 'no-drift'),
          { generation: true },
          r.stdout,
        );

        await inNetns(ns, ['iptables', '-P', 'INPUT', 'ACCEPT']);
        r = await fw.sync('--log-level', 'debug');
        t.is(r.exitCode, 0, r.stdout);
        t.deepEqual(logEntries(r.stdout).find((e) => e.event === 'drift')?.['details'], [
          'IPv4 table filter: 1 line(s) missing, 1 extra',
          '  - :INPUT DROP',
          '  + :INPUT ACCEPT',
        ]);
        t.true(logEntries(r.stdout).some((e) => e.event === 'repaired'));
        t.regex(await inNetns(ns, ['iptables-save']), /:INPUT DROP/);
        r = await fw.sync('--log-level', 'debug');
        t.true(
          logEntries(r.stdout).some((e) => e.event === 'no-drift'),
          r.stdout,
        );
      });
    } finally {
      await world.server.stop();
    }
  });
});
