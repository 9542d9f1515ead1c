import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { inNetns, withNamedNetns } from '../helpers/named-netns.js';
import { withTempDir } from '../git/signing/tools.js';
import { logEntries, makeAgentWorld } from './helpers/agent-env.js';

const RULES = {
  '10-sets': [
    'ipset create web hash:ip',
    'ipset add web 192.0.2.1',
    'ipset add web 192.0.2.2',
    'ipset create admin hash:net',
    'ipset add admin 10.0.0.0/8',
    'iptables -A INPUT -m set --match-set web src -p tcp --dport 80 -j ACCEPT',
    'iptables -A INPUT -m set --match-set admin src -p tcp --dport 22 -j ACCEPT',
    '',
  ].join('\n'),
};

/** Members of one set in the namespace, sorted. */
async function membersOf(ns: string, set: string): Promise<string[]> {
  const out = await inNetns(ns, ['ipset', 'list', set, '-o', 'save']);
  return out
    .split('\n')
    .flatMap((l) => (l.startsWith(`add ${set} `) ? [l.slice(`add ${set} `.length)] : []))
    .sort();
}

test('the agent finds drift in the sets it owns (flushed, a member deleted or added) and repairs it; sets it does not own are ignored', async (t) => {
  await withTempDir('agent-set-drift', async (dir) => {
    const world = await makeAgentWorld(dir, { local: true });
    try {
      await withNamedNetns(1, async ([name]) => {
        const ns = name as string;
        const fw = await world.addHost('fw1', ns);
        await world.repo.commit(RULES);
        let r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout);
        t.is(
          logEntries(r.stdout).find((e) => e.event === 'sets-applied')?.message,
          'ipsets: 2 set(s), +3 -0 members; sets added: web, admin',
        );
        t.is(
          readFileSync(path.join(fw.stateDir, 'canonical.ipsets'), 'utf8'),
          'create admin hash:net family inet maxelem 65536 bucketsize 12\nadd admin 10.0.0.0/8\ncreate web hash:ip family inet maxelem 65536 bucketsize 12\nadd web 192.0.2.1\nadd web 192.0.2.2\n',
        );

        // A set nfgit does not own, made by hand: not drift, and left alone.
        await inNetns(ns, ['ipset', 'create', 'mine', 'hash:ip']);
        await inNetns(ns, ['ipset', 'add', 'mine', '198.51.100.7']);
        r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout);
        t.false(
          logEntries(r.stdout).some((e) => e.event === 'drift'),
          r.stdout,
        );

        // Flushed by hand: drift, repaired at the same pass.
        await inNetns(ns, ['ipset', 'flush', 'web']);
        r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout);
        t.deepEqual(logEntries(r.stdout).find((e) => e.event === 'drift')?.['details'], [
          'ipset web: 2 member(s) missing, 0 extra',
          '  - 192.0.2.1',
          '  - 192.0.2.2',
        ]);
        t.true(
          logEntries(r.stdout).some((e) => e.event === 'repaired'),
          r.stdout,
        );
        t.deepEqual(await membersOf(ns, 'web'), ['192.0.2.1', '192.0.2.2']);

        // One member deleted, one added.
        await inNetns(ns, ['ipset', 'del', 'web', '192.0.2.2']);
        await inNetns(ns, ['ipset', 'add', 'admin', '172.16.0.0/12']);
        r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout);
        t.deepEqual(logEntries(r.stdout).find((e) => e.event === 'drift')?.['details'], [
          'ipset web: 1 member(s) missing, 0 extra',
          '  - 192.0.2.2',
          'ipset admin: 0 member(s) missing, 1 extra',
          '  + 172.16.0.0/12',
        ]);
        t.deepEqual(await membersOf(ns, 'web'), ['192.0.2.1', '192.0.2.2']);
        t.deepEqual(await membersOf(ns, 'admin'), ['10.0.0.0/8']);

        // Repaired: the next pass finds nothing, and the hand-made set is still there as it was.
        r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout);
        t.false(
          logEntries(r.stdout).some((e) => e.event === 'drift'),
          r.stdout,
        );
        t.deepEqual(await membersOf(ns, 'mine'), ['198.51.100.7']);
      });
    } finally {
      await world.server.stop();
    }
  });
});
