import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { withNamedNetns, inNetns, savesOf } from '../helpers/named-netns.js';
import { withTempDir } from '../git/signing/tools.js';
import { FAIL2BAN, DOCKER_27, DOCKER_28 } from '../apply/helpers/foreign-rules.js';
import { logEntries, makeAgentWorld } from './helpers/agent-env.js';

const RULES = { '10-base': 'iptables -P INPUT DROP\niptables -A INPUT -i lo -j ACCEPT\niptables -A INPUT -p tcp --dport 22 -j ACCEPT\n' };

test('the agent leaves preserved chains alone: no drift for them, and a drift repair keeps them', async (t) => {
  await withTempDir('agent-preserve', async (dir) => {
    const world = await makeAgentWorld(dir, { local: true });
    try {
      await withNamedNetns(1, async ([ns]) => {
        const fw = await world.addHost('fw1', ns as string);
        const config = JSON.parse(readFileSync(fw.config, 'utf8')) as Record<string, unknown>;
        writeFileSync(fw.config, JSON.stringify({ ...config, preserve: ['@fail2ban'] }));
        await world.repo.commit(RULES);
        let r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout);
        for (const argv of [...FAIL2BAN, ...DOCKER_28]) await inNetns(ns as string, argv);
        const withForeign = await savesOf(ns as string);

        // fail2ban from the configuration, Docker from the command line: neither is drift.
        r = await fw.sync('--preserve', '@docker');
        t.is(r.exitCode, 0, r.stdout);
        t.false(
          logEntries(r.stdout).some((e) => e.event === 'drift'),
          r.stdout,
        );
        t.deepEqual(await savesOf(ns as string), withForeign);

        // Someone deletes one of nfgit's rules: repaired, and the foreign chains are still there, in place.
        await inNetns(ns as string, ['iptables', '-D', 'INPUT', '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT']);
        r = await fw.sync('--preserve', '@docker');
        t.is(r.exitCode, 0, r.stdout);
        const drift = logEntries(r.stdout).find((e) => e.event === 'drift');
        t.deepEqual(drift?.['details'], [
          'IPv4 table filter: 1 line(s) missing, 0 extra',
          '  - -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT',
        ]);
        t.deepEqual(await savesOf(ns as string), withForeign);

        const bad = await fw.sync('--preserve', '@dokcer');
        t.is(bad.exitCode, 2, bad.stdout);
        t.regex(logEntries(bad.stdout).find((e) => e.event === 'failed')?.message ?? '', /unknown preset "@dokcer"/);
      });
    } finally {
      await world.server.stop();
    }
  });
});

test("the agent's drift check counts nfgit's part of DOCKER-USER: a deleted rule of it is repaired, Docker's own rules there are not drift", async (t) => {
  await withTempDir('agent-docker-user', async (dir) => {
    const world = await makeAgentWorld(dir, { local: true });
    try {
      await withNamedNetns(1, async ([ns]) => {
        const fw = await world.addHost('fw1', ns as string);
        const config = JSON.parse(readFileSync(fw.config, 'utf8')) as Record<string, unknown>;
        writeFileSync(fw.config, JSON.stringify({ ...config, preserve: ['@docker'] }));
        await world.repo.commit({
          ...RULES,
          '20-docker': 'iptables -I DOCKER-USER -i eth0 -p tcp --dport 25 -j DROP\niptables -A DOCKER-USER -s 10.0.0.0/8 -j ACCEPT\n',
        });
        for (const argv of DOCKER_27) await inNetns(ns as string, argv);
        let r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout);
        const part = ['-A DOCKER-USER -i eth0 -p tcp -m tcp --dport 25 -j DROP', '-A DOCKER-USER -s 10.0.0.0/8 -j ACCEPT'];
        const dockerUser = async (): Promise<string[]> =>
          (await savesOf(ns as string)).ipv4.split('\n').filter((l) => l.startsWith('-A DOCKER-USER '));
        t.deepEqual(await dockerUser(), [...part, '-A DOCKER-USER -j RETURN']);

        // Someone else adds a rule to DOCKER-USER: not nfgit's, not drift.
        await inNetns(ns as string, ['iptables', '-I', 'DOCKER-USER', '-s', '203.0.113.9', '-j', 'DROP']);
        r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout);
        t.false(
          logEntries(r.stdout).some((e) => e.event === 'drift'),
          r.stdout,
        );

        // One of nfgit's DOCKER-USER rules deleted by hand: drift, repaired; the other rules stay (after nfgit's part).
        await inNetns(ns as string, ['iptables', '-D', 'DOCKER-USER', '-s', '10.0.0.0/8', '-j', 'ACCEPT']);
        r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout);
        t.deepEqual(logEntries(r.stdout).find((e) => e.event === 'drift')?.['details'], [
          'IPv4 table filter: 1 line(s) missing, 0 extra',
          '  - -A DOCKER-USER -s 10.0.0.0/8 -j ACCEPT',
        ]);
        t.deepEqual(await dockerUser(), [...part, '-A DOCKER-USER -s 203.0.113.9/32 -j DROP', '-A DOCKER-USER -j RETURN']);

        // The repair recorded nfgit's part only: the other rule going away later is not drift either.
        await inNetns(ns as string, ['iptables', '-D', 'DOCKER-USER', '-s', '203.0.113.9', '-j', 'DROP']);
        r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout);
        t.false(
          logEntries(r.stdout).some((e) => e.event === 'drift'),
          r.stdout,
        );
        t.deepEqual(await dockerUser(), [...part, '-A DOCKER-USER -j RETURN']);
      });
    } finally {
      await world.server.stop();
    }
  });
});
