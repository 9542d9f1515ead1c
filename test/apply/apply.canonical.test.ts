import test from 'ava';
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CLI, ROOT } from '../helpers/paths.js';
import { withNamedNetns, inNetns } from '../helpers/named-netns.js';
import { normalizeSave } from '../helpers/netns.js';
import { withRulesDir } from '../helpers/rules-dir.js';
import { StateDir, type Journal } from '../../src/apply/state-files.js';
import { recoverJournal } from '../../src/apply/transaction.js';
import { detectBackend } from '../../src/netfilter/backend.js';
import { findDrift } from '../../src/netfilter/compare-saves.js';

// Drift detection (the agent) compares the live ruleset with the canonical form kept in the state
// directory: it must be what the target really runs, up to empty tables.
test('the state directory keeps the canonical form of what the target runs', (t) =>
  withNamedNetns(1, ([ns]) =>
    withRulesDir(
      {
        '10-a':
          'iptables -N WEB\niptables -A INPUT -p tcp --dport 80 -j WEB\niptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE\nip6tables -P INPUT DROP\n',
      },
      async (dir) => {
        const state = path.join(dir, '.state');
        const r = await execa('node', [CLI, 'apply', '--rules', dir, '--netns', ns as string, '--state-dir', state], {
          reject: false,
          cwd: ROOT,
        });
        t.is(r.exitCode, 0, r.stderr);
        for (const [family, tool] of [
          ['v4', 'iptables-save'],
          ['v6', 'ip6tables-save'],
        ] as const) {
          const kept = await readFile(path.join(state, `canonical.${family}`), 'utf8');
          const live = await inNetns(ns as string, [tool]);
          t.is(normalizeSave(kept), normalizeSave(live), family);
        }
        t.regex(await readFile(path.join(state, 'canonical.v4'), 'utf8'), /-A INPUT -p tcp -m tcp --dport 80 -j WEB/);
      },
    ),
  ));

test('finishing an interrupted apply (journal marked applied) writes the canonical form from the target', (t) =>
  withNamedNetns(1, ([ns]) =>
    withRulesDir({ '10-a': 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n' }, async (dir) => {
      const state = path.join(dir, '.state');
      const r = await execa('node', [CLI, 'apply', '--rules', dir, '--netns', ns as string, '--state-dir', state], {
        reject: false,
        cwd: ROOT,
      });
      t.is(r.exitCode, 0, r.stderr);
      // As if an apply of other rules was killed after both restores and the journal's applied marker:
      // the kernel runs the new rules, the canonical forms still describe the old ones.
      await inNetns(ns as string, ['iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', '443', '-j', 'ACCEPT']);
      const dirState = new StateDir(state);
      const last = dirState.readLastGood();
      if (last === undefined) throw new Error('no last good ruleset');
      const journal: Journal = {
        nfgitJournal: 1,
        id: 'test-journal',
        command: 'nfgit apply (killed)',
        started: new Date().toISOString(),
        target: { netns: ns as string },
        families: ['ipv4', 'ipv6'],
        snapshot: {},
        step: 'journaled',
        record: { ...last, source: 'killed apply' },
      };
      dirState.writeJournal(journal);
      dirState.markJournalApplied(journal);
      const backend = await detectBackend({ netns: ns as string }, ['ipv4', 'ipv6']);
      const recovery = await recoverJournal({ backend, state: dirState, command: 'test' });
      t.like(recovery, { found: true, action: 'finished' });
      t.is(dirState.readJournal(), undefined);
      // The canonical form now describes what the target runs (the 443 rule included), not the older apply.
      const kept = await readFile(path.join(state, 'canonical.v4'), 'utf8');
      t.deepEqual(findDrift(kept, await inNetns(ns as string, ['iptables-save'])), []);
      t.regex(kept, /--dport 443 -j ACCEPT/);
    }),
  ));
