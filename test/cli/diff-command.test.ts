/**
 * `nfgit diff` end to end: the built CLI as root against scratch named namespaces. What it shows for an
 * empty namespace, nothing after an apply of the same rules, one changed rule, a table the rules do
 * not use, rules errors, and JSON counts equal to what `apply` then reports. It never changes the
 * namespace.
 */
import test from 'ava';
import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inNetns, savesOf, withNamedNetns } from '../helpers/named-netns.js';
import { CLI, ROOT } from '../helpers/paths.js';
import { withRulesDir } from '../helpers/rules-dir.js';
import { withToolDir } from '../helpers/tool-dir.js';

const nfgit = (args: string[]) => execa('node', [CLI, ...args], { reject: false, cwd: ROOT });

const RULES = `iptables -P INPUT DROP
iptables -N SSH_LIMIT
iptables -A SSH_LIMIT -p tcp --dport 22 -j ACCEPT
iptables -A INPUT -i lo -j ACCEPT
iptables -A INPUT -p tcp -j SSH_LIMIT
iptables -A INPUT -p tcp --dport 80 -j ACCEPT
ip6tables -A INPUT -p ipv6-icmp -j ACCEPT
`;

async function withStateDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'nfgit-state-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('an empty namespace: every rule, chain and policy is new (exit 1), and the namespace is left as it was', (t) =>
  withNamedNetns(1, ([ns]) =>
    withRulesDir({ '10-base': RULES }, async (dir) => {
      const before = await savesOf(ns as string);
      const r = await nfgit(['diff', '--rules', dir, '--netns', ns as string]);
      t.is(r.exitCode, 1, r.stderr);
      t.is(
        r.stdout,
        [
          'IPv4: +4 -0 rules; chains added: filter/SSH_LIMIT',
          'IPv4 table filter (new)',
          '  chain INPUT (policy DROP)',
          '  + -A INPUT -i lo -j ACCEPT',
          '  + -A INPUT -p tcp -j SSH_LIMIT',
          '  + -A INPUT -p tcp -m tcp --dport 80 -j ACCEPT',
          '  + chain SSH_LIMIT (new)',
          '  + -A SSH_LIMIT -p tcp -m tcp --dport 22 -j ACCEPT',
          'IPv6: +1 -0 rules',
          'IPv6 table filter (new)',
          '  chain INPUT (policy ACCEPT)',
          '  + -A INPUT -p ipv6-icmp -j ACCEPT',
        ].join('\n'),
      );
      t.deepEqual(await savesOf(ns as string), before);
    }),
  ));

test('after apply of the same rules: no change (exit 0); one rule changed: one - and one + line', (t) =>
  withNamedNetns(1, ([ns]) =>
    withStateDir((state) =>
      withRulesDir({ '10-base': RULES }, async (dir) => {
        const applied = await nfgit(['apply', '--rules', dir, '--netns', ns as string, '--state-dir', state]);
        t.is(applied.exitCode, 0, applied.stderr);
        const same = await nfgit(['diff', '--rules', dir, '--netns', ns as string]);
        t.is(same.exitCode, 0, same.stderr);
        t.is(same.stdout, 'IPv4: no change\nIPv6: no change');

        await writeFile(path.join(dir, '10-base'), RULES.replace('--dport 80', '--dport 443'));
        const one = await nfgit(['diff', '--rules', dir, '--netns', ns as string]);
        t.is(one.exitCode, 1, one.stderr);
        t.is(
          one.stdout,
          [
            'IPv4: +1 -1 rules',
            'IPv4 table filter',
            '  chain INPUT (policy DROP)',
            '    -A INPUT -p tcp -j SSH_LIMIT',
            '  - -A INPUT -p tcp -m tcp --dport 80 -j ACCEPT',
            '  + -A INPUT -p tcp -m tcp --dport 443 -j ACCEPT',
            'IPv6: no change',
          ].join('\n'),
        );
      }),
    ),
  ));

test('a table the rules do not use, with rules in the namespace, is shown emptied (apply flushes it)', (t) =>
  withNamedNetns(1, ([ns]) =>
    withStateDir((state) =>
      withRulesDir({ '10-base': RULES }, async (dir) => {
        const applied = await nfgit(['apply', '--rules', dir, '--netns', ns as string, '--state-dir', state]);
        t.is(applied.exitCode, 0, applied.stderr);
        await inNetns(ns as string, ['iptables', '-t', 'raw', '-A', 'PREROUTING', '-p', 'udp', '--dport', '53', '-j', 'CT', '--notrack']);
        await inNetns(ns as string, ['iptables', '-t', 'raw', '-N', 'HANDMADE']);
        const r = await nfgit(['diff', '--rules', dir, '--netns', ns as string]);
        t.is(r.exitCode, 1, r.stderr);
        t.is(
          r.stdout,
          [
            'IPv4: +0 -1 rules; chains removed: raw/HANDMADE',
            'IPv4 table raw',
            '  chain PREROUTING (policy ACCEPT)',
            '  - -A PREROUTING -p udp -m udp --dport 53 -j CT --notrack',
            '  - chain HANDMADE (removed)',
            'IPv6: no change',
          ].join('\n'),
        );
        // And apply does what diff said: afterwards nothing is left to change.
        const again = await nfgit(['apply', '--rules', dir, '--netns', ns as string, '--state-dir', state]);
        t.is(again.exitCode, 0, again.stderr);
        t.is((await nfgit(['diff', '--rules', dir, '--netns', ns as string])).exitCode, 0);
      }),
    ),
  ));

test('--json: the counts are those apply then reports as its change', (t) =>
  withNamedNetns(1, ([ns]) =>
    withStateDir((state) =>
      withRulesDir({ '10-base': RULES }, async (dir) => {
        t.is((await nfgit(['apply', '--rules', dir, '--netns', ns as string, '--state-dir', state])).exitCode, 0);
        await writeFile(
          path.join(dir, '10-base'),
          RULES.replace('iptables -A SSH_LIMIT', 'iptables -A INPUT -s 192.0.2.1 -j DROP\niptables -A SSH_LIMIT').replace(
            '-P INPUT DROP',
            '-P INPUT ACCEPT',
          ) + 'ip6tables -N WEB6\nip6tables -A WEB6 -p tcp --dport 443 -j ACCEPT\n',
        );
        const r = await nfgit(['diff', '--rules', dir, '--netns', ns as string, '--json']);
        t.is(r.exitCode, 1, r.stderr);
        const diff = JSON.parse(r.stdout);
        t.true(diff.changed);
        t.deepEqual(diff.counts, {
          rulesAdded: 2,
          rulesRemoved: 0,
          chainsAdded: 1,
          chainsRemoved: 0,
          policiesChanged: 1,
          setsAdded: 0,
          setsRemoved: 0,
          setMembersAdded: 0,
          setMembersRemoved: 0,
        });
        t.deepEqual(diff.sets, []);
        t.deepEqual(diff.families.ipv4.tables[0].chains[0].policy, { before: 'DROP', after: 'ACCEPT' });

        const applied = await nfgit(['apply', '--rules', dir, '--netns', ns as string, '--state-dir', state, '--json']);
        t.is(applied.exitCode, 0, applied.stderr);
        const report = JSON.parse(applied.stdout) as { families: Array<{ family: 'ipv4' | 'ipv6'; change: unknown }> };
        for (const f of report.families) t.deepEqual(diff.families[f.family].change, f.change, f.family);
      }),
    ),
  ));

test('rules errors exit 2 with FILE:LINE; a missing namespace exits 2; --ipv4-only leaves IPv6 out', (t) =>
  withNamedNetns(1, ([ns]) =>
    withRulesDir({ '10-base': 'iptables -A INPUT -j ACCEPT\niptables -A INPUT -p tcp --dporrt 22 -j ACCEPT\n' }, async (dir) => {
      const bad = await nfgit(['diff', '--rules', dir, '--netns', ns as string]);
      t.is(bad.exitCode, 2);
      t.is(bad.stderr, `${dir}/10-base:2: iptables: unknown option "--dporrt"`);
      t.is(bad.stdout, '');
      const badJson = await nfgit(['diff', '--rules', dir, '--netns', ns as string, '--json']);
      t.is(badJson.exitCode, 2);
      t.is(JSON.parse(badJson.stdout).errors[0].at, `${dir}/10-base:2`);

      await writeFile(path.join(dir, '10-base'), 'iptables -A INPUT -j ACCEPT\n');
      const missing = await nfgit(['diff', '--rules', dir, '--netns', 'nfgit-t-no-such-ns']);
      t.is(missing.exitCode, 2);
      t.regex(missing.stderr, /network namespace "nfgit-t-no-such-ns" does not exist/);
      t.is((await nfgit(['diff', '--netns', ns as string])).exitCode, 2);

      const v4 = await nfgit(['diff', '--rules', dir, '--netns', ns as string, '--ipv4-only']);
      t.is(v4.exitCode, 1, v4.stderr);
      t.false(v4.stdout.includes('IPv6'));
    }),
  ));

test('the environment failing (ip6tables-save broken) exits 3', (t) =>
  withToolDir(
    {
      'ip6tables-save':
        'echo "ip6tables-save: Could not fetch rule set generation id: Address family not supported by protocol" >&2\nexit 1\n',
    },
    (bin) =>
      withNamedNetns(1, ([ns]) =>
        withRulesDir({ '10-base': RULES }, async (dir) => {
          const r = await execa('node', [CLI, 'diff', '--rules', dir, '--netns', ns as string], {
            reject: false,
            cwd: ROOT,
            env: { PATH: `${bin}:${process.env['PATH']}` },
          });
          t.is(r.exitCode, 3, r.stderr);
          t.regex(r.stderr, /ip6tables-save/);
          t.is(r.stdout, '');
        }),
      ),
  ));

const SETS_V1 = `ipset create web hash:ip
ipset add web 192.0.2.1
ipset add web 192.0.2.2
ipset create old hash:net
ipset add old 10.0.0.0/8
iptables -A INPUT -m set --match-set web src -j ACCEPT
`;
const SETS_V2 = `ipset create web hash:ip
ipset add web 192.0.2.2
ipset add web 192.0.2.3
ipset create fresh hash:ip
ipset add fresh 198.51.100.1
iptables -A INPUT -m set --match-set web src -j ACCEPT
`;

test('sets: apply reports them; after it no change (exit 0); members, a new and a dropped set (exit 1), in text and --json', (t) =>
  withNamedNetns(1, ([ns]) =>
    withStateDir((state) =>
      withRulesDir({ '10-sets': SETS_V1 }, async (dir) => {
        const applied = await nfgit(['apply', '--rules', dir, '--netns', ns as string, '--state-dir', state]);
        t.is(applied.exitCode, 0, applied.stderr);
        t.true(applied.stdout.split('\n').includes('  ipsets: 2 set(s), +3 -0 members; sets added: web, old'), applied.stdout);
        const same = await nfgit(['diff', '--rules', dir, '--netns', ns as string, '--state-dir', state]);
        t.is(same.exitCode, 0, same.stderr);
        t.is(same.stdout, 'IPv4: no change\nIPv6: no change\nipsets: no change');

        await writeFile(path.join(dir, '10-sets'), SETS_V2);
        const before = await savesOf(ns as string);
        const setsBefore = await inNetns(ns as string, ['ipset', 'save']);
        const changed = await nfgit(['diff', '--rules', dir, '--netns', ns as string, '--state-dir', state]);
        t.is(changed.exitCode, 1, changed.stderr);
        t.is(
          changed.stdout,
          [
            'IPv4: no change',
            'IPv6: no change',
            'ipsets: +2 -2 members; sets added: fresh; sets removed: old',
            'ipset web: +1 -1 members',
            '  - 192.0.2.1',
            '  + 192.0.2.3',
            'ipset fresh (new: hash:ip family inet maxelem 65536 bucketsize 12): +1 -0 members',
            '  + 198.51.100.1',
            'ipset old (removed): +0 -1 members',
            '  - 10.0.0.0/8',
          ].join('\n'),
        );
        // Without the state directory, nfgit does not know it owns "old": only the rules' sets are compared.
        const unowned = await nfgit(['diff', '--rules', dir, '--netns', ns as string, '--state-dir', path.join(state, 'none'), '--json']);
        t.is(unowned.exitCode, 1, unowned.stderr);
        const json = JSON.parse(unowned.stdout) as {
          changed: boolean;
          sets: Array<{ set: string; added: string[]; removed: string[] }>;
          counts: Record<string, number>;
        };
        t.true(json.changed);
        t.deepEqual(
          json.sets.map((s) => [s.set, s.added, s.removed]),
          [
            ['web', ['192.0.2.3'], ['192.0.2.1']],
            ['fresh', ['198.51.100.1'], []],
          ],
        );
        t.like(json.counts, { rulesAdded: 0, rulesRemoved: 0, setsAdded: 1, setsRemoved: 0, setMembersAdded: 2, setMembersRemoved: 1 });
        t.deepEqual(await savesOf(ns as string), before);
        t.is(await inNetns(ns as string, ['ipset', 'save']), setsBefore);

        const reapplied = await nfgit(['apply', '--rules', dir, '--netns', ns as string, '--state-dir', state, '--json']);
        t.is(reapplied.exitCode, 0, reapplied.stderr);
        t.deepEqual((JSON.parse(reapplied.stdout) as { sets: unknown }).sets, {
          sets: 2,
          change: { setsAdded: ['fresh'], setsRemoved: ['old'], membersAdded: 2, membersRemoved: 2 },
        });
      }),
    ),
  ));
