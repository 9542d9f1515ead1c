import test from 'ava';
import { execa } from 'execa';
import path from 'node:path';
import { CLI } from '../helpers/paths.js';
import { withRulesDir } from '../helpers/rules-dir.js';
import { withNamedNetns } from '../helpers/named-netns.js';
import { withToolDir } from '../helpers/tool-dir.js';

// A host with IPv6 disabled: ip6tables cannot work there. Stand-ins fail the way they do on such hosts.
const NO_IPV6: Record<string, string> = {};
for (const tool of ['ip6tables', 'ip6tables-save', 'ip6tables-restore']) {
  NO_IPV6[tool] =
    `echo "${tool} v1.8.9 (nf_tables): Could not fetch rule set generation id: Address family not supported by protocol" >&2\nexit 1\n`;
}
const noIpv6Path = <T>(fn: (dir: string) => Promise<T>): Promise<T> => withToolDir(NO_IPV6, fn);
const withNetns = <T>(fn: (ns: string) => Promise<T>): Promise<T> => withNamedNetns(1, ([ns]) => fn(ns as string));

const RULES = { '10-a': 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT\nip6tables -A INPUT -p tcp --dport 22 -j ACCEPT\n' };

test('where ip6tables cannot work, apply says so and suggests --ipv4-only; nothing changes', (t) =>
  noIpv6Path((bin) =>
    withNetns((ns) =>
      withRulesDir(RULES, async (dir) => {
        const env = { PATH: `${bin}:${process.env['PATH']}` };
        const r = await execa('node', [CLI, 'apply', '--rules', dir, '--netns', ns, '--state-dir', path.join(dir, '.state')], {
          env,
          reject: false,
        });
        t.not(r.exitCode, 0);
        t.regex(r.stderr, /--ipv4-only/);
        const v4 = await execa('ip', ['netns', 'exec', ns, 'iptables-save']);
        t.notRegex(v4.stdout, /-A INPUT/);
      }),
    ),
  ));

test('--ipv4-only applies and records IPv4 alone', (t) =>
  noIpv6Path((bin) =>
    withNetns((ns) =>
      withRulesDir(RULES, async (dir) => {
        const env = { PATH: `${bin}:${process.env['PATH']}` };
        const state = path.join(dir, '.state');
        const r = await execa('node', [CLI, 'apply', '--ipv4-only', '--rules', dir, '--netns', ns, '--state-dir', state], {
          env,
          reject: false,
        });
        t.is(r.exitCode, 0, r.stderr);
        t.regex(r.stdout, /IPv4: 1 rule/);
        t.notRegex(r.stdout, /IPv6/);
        const v4 = await execa('ip', ['netns', 'exec', ns, 'iptables-save']);
        t.regex(v4.stdout, /-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT/);
        const v6 = await execa('ip', ['netns', 'exec', ns, 'ip6tables-save']);
        t.notRegex(v6.stdout, /-A INPUT/);
        const again = await execa('node', [CLI, 'restore-last', '--ipv4-only', '--netns', ns, '--state-dir', state], {
          env,
          reject: false,
        });
        t.is(again.exitCode, 0, again.stderr);
      }),
    ),
  ));
