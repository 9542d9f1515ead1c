import test from 'ava';
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CLI, ROOT } from '../helpers/paths.js';
import { withNamedNetns, inNetns } from '../helpers/named-netns.js';
import { normalizeSave } from '../helpers/netns.js';
import { withRulesDir } from '../helpers/rules-dir.js';

// Drift detection (the agent) compares the live ruleset with the canonical form kept in the state
// directory: it must be what the target really runs, up to empty tables.
test('the state directory keeps the canonical form of what the target runs', (t) =>
  withNamedNetns(1, ([ns]) =>
    withRulesDir({ '10-a': 'iptables -N WEB\niptables -A INPUT -p tcp --dport 80 -j WEB\niptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE\nip6tables -P INPUT DROP\n' }, async (dir) => {
      const state = path.join(dir, '.state');
      const r = await execa('node', [CLI, 'apply', '--rules', dir, '--netns', ns as string, '--state-dir', state], { reject: false, cwd: ROOT });
      t.is(r.exitCode, 0, r.stderr);
      for (const [family, tool] of [['v4', 'iptables-save'], ['v6', 'ip6tables-save']] as const) {
        const kept = await readFile(path.join(state, `canonical.${family}`), 'utf8');
        const live = await inNetns(ns as string, [tool]);
        t.is(normalizeSave(kept), normalizeSave(live), family);
      }
      t.regex(await readFile(path.join(state, 'canonical.v4'), 'utf8'), /-A INPUT -p tcp -m tcp --dport 80 -j WEB/);
    }),
  ));
