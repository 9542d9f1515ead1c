import test from 'ava';
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { CLI } from '../helpers/paths.js';
import { withRulesDir } from '../helpers/rules-dir.js';
import { withNamedNetns } from '../helpers/named-netns.js';
import { withToolDir } from '../helpers/tool-dir.js';

/** Stand-ins whose iptables* names point at the legacy tools, to put first on PATH. */
const LEGACY: Record<string, { link: string }> = {};
for (const fam of ['iptables', 'ip6tables']) {
  for (const suffix of ['', '-save', '-restore']) LEGACY[`${fam}${suffix}`] = { link: `/usr/sbin/${fam}-legacy${suffix}` };
}
const legacyPath = <T>(fn: (dir: string) => Promise<T>): Promise<T> => withToolDir(LEGACY, fn);
const withNetns = <T>(fn: (ns: string) => Promise<T>): Promise<T> => withNamedNetns(1, ([ns]) => fn(ns as string));

const RULES = { '10-a': 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT\nip6tables -A INPUT -p tcp --dport 22 -j ACCEPT\n' };

test('an iptables-legacy host: apply uses the legacy tools', (t) =>
  legacyPath((bin) =>
    withNetns((ns) =>
      withRulesDir(RULES, async (dir) => {
        const state = path.join(dir, '.state');
        const env = { PATH: `${bin}:${process.env['PATH']}` };
        const r = await execa('node', [CLI, 'apply', '--rules', dir, '--netns', ns, '--state-dir', state], { env, reject: false });
        t.is(r.exitCode, 0, r.stderr);
        const legacy = await execa('ip', ['netns', 'exec', ns, 'iptables-legacy-save']);
        t.regex(legacy.stdout, /-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT/);
        const nft = await execa('ip', ['netns', 'exec', ns, 'iptables-nft-save']);
        t.notRegex(nft.stdout, /-A INPUT/);
        // The legacy tables commit nothing to nf_tables: no generation can vouch for the live ruleset.
        t.false('generation' in JSON.parse(readFileSync(path.join(state, 'last-good.json'), 'utf8')));
      }),
    ),
  ));

test('rules loaded in both backends are refused, and nothing changes', (t) =>
  legacyPath((bin) =>
    withNetns((ns) =>
      withRulesDir(RULES, async (dir) => {
        await execa('ip', ['netns', 'exec', ns, 'iptables-nft', '-A', 'OUTPUT', '-j', 'ACCEPT']);
        const env = { PATH: `${bin}:${process.env['PATH']}` };
        const r = await execa('node', [CLI, 'apply', '--rules', dir, '--netns', ns, '--state-dir', path.join(dir, '.state')], {
          env,
          reject: false,
        });
        t.is(r.exitCode, 3);
        t.regex(r.stderr, /both iptables backends have rules loaded \(legacy is the one in use, but iptables-nft-save shows rules too\)/);
        const legacy = await execa('ip', ['netns', 'exec', ns, 'iptables-legacy-save']);
        t.notRegex(legacy.stdout, /-A INPUT/);
      }),
    ),
  ));

test('save and restore tools of another backend than iptables are refused', (t) =>
  legacyPath((bin) =>
    withNetns((ns) =>
      withRulesDir(RULES, async (dir) => {
        // iptables itself stays nft; only the save/restore names point at legacy.
        await rm(path.join(bin, 'iptables'));
        const env = { PATH: `${bin}:${process.env['PATH']}` };
        const r = await execa('node', [CLI, 'apply', '--rules', dir, '--netns', ns, '--state-dir', path.join(dir, '.state')], {
          env,
          reject: false,
        });
        t.not(r.exitCode, 0);
        t.regex(r.stderr, /is the legacy backend but iptables is nf_tables/);
      }),
    ),
  ));

test('a save or restore tool that does not run is named, and nothing changes', (t) =>
  withToolDir({ 'ip6tables-save': { link: '/bin/false' } }, (bin) =>
    withNetns((ns) =>
      withRulesDir(RULES, async (dir) => {
        const env = { PATH: `${bin}:${process.env['PATH']}` };
        const r = await execa('node', [CLI, 'apply', '--rules', dir, '--netns', ns, '--state-dir', path.join(dir, '.state')], {
          env,
          reject: false,
        });
        t.is(r.exitCode, 3, r.stderr);
        t.regex(r.stderr, /ip6tables-save is missing or does not run; on a host without IPv6, use --ipv4-only/);
        const save = await execa('ip', ['netns', 'exec', ns, 'iptables-save']);
        t.notRegex(save.stdout, /-A INPUT/);
      }),
    ),
  ));
