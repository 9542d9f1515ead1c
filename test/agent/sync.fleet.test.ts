import test from 'ava';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { withNamedNetns, inNetns, savesOf } from '../helpers/named-netns.js';
import { mustRun, withTempDir } from '../git/signing/tools.js';
import { logEntries, makeAgentWorld, nfgit } from './helpers/agent-env.js';

interface JsonHost {
  host: string;
  running: { commit: string; signature: string } | null;
  last: { result: string; firstError: string | null } | null;
  headApplied: boolean | null;
}

const RULES = {
  '10-base': 'iptables -P INPUT DROP\niptables -A INPUT -i lo -j ACCEPT\n',
  '20-role':
    'if [[ $NFGIT_HOST == fw1 ]]; then\n  iptables -A INPUT -p tcp --dport 80 -j ACCEPT\nelse\n  iptables -A INPUT -p tcp --dport 25 -j ACCEPT\nfi\n',
};

test('two agents on one repository (HTTP): per-host rules and tags, no collisions, nfgit status shows both with good signatures', async (t) => {
  await withTempDir('agent-fleet', async (dir) => {
    const world = await makeAgentWorld(dir);
    try {
      await withNamedNetns(2, async ([ns1, ns2]) => {
        const fw1 = await world.addHost('fw1', ns1 as string);
        const fw2 = await world.addHost('fw2', ns2 as string);
        const c1 = await world.repo.commit(RULES);
        const [r1, r2] = await Promise.all([fw1.sync(), fw2.sync()]);
        t.is(r1.exitCode, 0, r1.stdout);
        t.is(r2.exitCode, 0, r2.stdout);
        t.regex((await savesOf(ns1 as string)).ipv4, /--dport 80 -j ACCEPT/);
        t.regex((await savesOf(ns2 as string)).ipv4, /--dport 25 -j ACCEPT/);

        // fw2 only gets a rule that its kernel refuses (a typo in its branch): refused there, applied on fw1.
        const c2 = await world.repo.commit({ '20-role': RULES['20-role'].replace('--dport 25', '--dport 25 --tcp-flagz SYN SYN') });
        const [s1, s2] = await Promise.all([fw1.sync(), fw2.sync()]);
        t.is(s1.exitCode, 0, s1.stdout);
        t.is(s2.exitCode, 1, s2.stdout);

        const st = await nfgit([
          'status',
          '--json',
          '--repo',
          world.url,
          '--token-file',
          world.tokenFile,
          '--allowed-signers',
          world.tagSigners,
        ]);
        t.is(st.exitCode, 0, st.stderr + st.stdout);
        const fleet = JSON.parse(st.stdout) as { head: string; hosts: JsonHost[] };
        t.is(fleet.head, c2);
        t.deepEqual(
          fleet.hosts.map((h) => [h.host, h.running?.commit, h.running?.signature, h.last?.result, h.headApplied]),
          [
            ['fw1', c2, 'good', 'applied', true],
            ['fw2', c1, 'good', 'refused', false],
          ],
        );
        t.regex(fleet.hosts[1]?.last?.firstError ?? '', /^rules\/20-role:4: /);
        const names = (await mustRun('git', ['--git-dir', world.repo.bare, 'tag', '-l', 'nfgit/*'])).trim().split('\n').sort();
        t.deepEqual(
          names,
          [
            `nfgit/fw1/${c1.slice(0, 12)}`,
            `nfgit/fw1/${c2.slice(0, 12)}`,
            `nfgit/fw2/${c1.slice(0, 12)}`,
            `nfgit/fw2/${c2.slice(0, 12)}`,
          ].sort(),
        );
        const table = await nfgit(['status', '--repo', world.repo.bare, '--allowed-signers', world.tagSigners]);
        t.is(table.exitCode, 0, table.stderr);
        t.regex(table.stdout, /fw1/);
        t.regex(table.stdout, /fw2/);
      });
    } finally {
      await world.server.stop();
    }
  });
});

test('a local bare repository read in place: tags written into it; sync --retry decides a commit again after the trust list changed', async (t) => {
  await withTempDir('agent-local', async (dir) => {
    const world = await makeAgentWorld(dir, { local: true });
    try {
      await withNamedNetns(1, async ([ns]) => {
        const fw = await world.addHost('edge', ns as string);
        // Signed by a key the host does not trust yet.
        const other = `${dir}/other_signers`;
        writeFileSync(
          other,
          'nobody@example.net namespaces="git" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGqbF0P3cVMvfvsb7/VZqNc3cAeZNHVPCyhGQ9Tz5Y2u\n',
        );
        const config = JSON.parse(readFileSync(fw.config, 'utf8')) as { trust: { allowedSigners: string }; reconcile: { mode: string } };
        config.trust.allowedSigners = other;
        writeFileSync(fw.config, JSON.stringify(config));
        const c1 = await world.repo.commit(RULES);
        let r = await fw.sync();
        t.is(r.exitCode, 1, r.stdout);
        t.true(logEntries(r.stdout).some((e) => e.event === 'untrusted'));
        t.notRegex((await savesOf(ns as string)).ipv4, /INPUT DROP/);
        r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout);
        t.true(logEntries(r.stdout).some((e) => e.event === 'held'));

        // The admin fixes the trust list; --retry decides the same commit again.
        config.trust.allowedSigners = world.repo.allowedSigners;
        writeFileSync(fw.config, JSON.stringify(config));
        r = await fw.sync('--retry');
        t.is(r.exitCode, 0, r.stdout);
        t.regex((await savesOf(ns as string)).ipv4, /:INPUT DROP/);
        const names = (await mustRun('git', ['--git-dir', world.repo.bare, 'tag', '-l', 'nfgit/*'])).trim().split('\n').sort();
        t.deepEqual(names, [`nfgit/edge/${c1.slice(0, 12)}`, `nfgit/edge/${c1.slice(0, 12)}.2`]);
        const st = await nfgit(['status', '--json', '--repo', world.repo.bare, '--allowed-signers', world.tagSigners]);
        t.is(st.exitCode, 0, st.stderr);
        const fleet = JSON.parse(st.stdout) as { hosts: JsonHost[] };
        t.like(fleet.hosts[0], { host: 'edge', headApplied: true, last: { result: 'applied' } });

        // reconcile.mode report: drift is logged, not repaired.
        config.reconcile.mode = 'report';
        writeFileSync(fw.config, JSON.stringify(config));
        await inNetns(ns as string, ['iptables', '-P', 'INPUT', 'ACCEPT']);
        r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout);
        const drift = logEntries(r.stdout).find((e) => e.event === 'drift');
        t.deepEqual(drift?.['details'], ['IPv4 table filter: 1 line(s) missing, 1 extra', '  - :INPUT DROP', '  + :INPUT ACCEPT']);
        t.regex((await savesOf(ns as string)).ipv4, /:INPUT ACCEPT/);

        // nfgit diff --config: what the branch head would change here, before any sync applies it.
        config.reconcile.mode = 'repair';
        writeFileSync(fw.config, JSON.stringify(config));
        r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout);
        let d = await nfgit(['diff', '--config', fw.config]);
        t.is(d.exitCode, 0, d.stdout + d.stderr);
        const c2 = await world.repo.commit({ '30-web': 'iptables -A INPUT -p tcp --dport 8443 -j ACCEPT\n' });
        d = await nfgit(['diff', '--config', fw.config]);
        t.is(d.exitCode, 1, d.stdout + d.stderr);
        t.true(d.stdout.startsWith(`commit ${c2} of main:`), d.stdout);
        t.regex(d.stdout, /\+ -A INPUT -p tcp -m tcp --dport 8443 -j ACCEPT/);
        d = await nfgit(['diff', '--config', fw.config, '--commit', c1]);
        t.is(d.exitCode, 0, d.stdout + d.stderr);
        t.notRegex((await savesOf(ns as string)).ipv4, /8443/);

        // An admin applies other rules by hand: the next sync says so and puts the branch head back.
        r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout);
        const byHand = `${dir}/by-hand`;
        mkdirSync(byHand);
        writeFileSync(`${byHand}/10-x`, 'iptables -A INPUT -p tcp --dport 9 -j ACCEPT\n');
        const manual = await nfgit(['apply', '--rules', byHand, '--netns', ns as string, '--state-dir', fw.stateDir]);
        t.is(manual.exitCode, 0, manual.stderr);
        r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout);
        t.true(
          logEntries(r.stdout).some((e) => e.event === 'not-from-git'),
          r.stdout,
        );
        const back = (await savesOf(ns as string)).ipv4;
        t.regex(back, /--dport 8443/);
        t.notRegex(back, /--dport 9 /);
      });
    } finally {
      await world.server.stop();
    }
  });
});
