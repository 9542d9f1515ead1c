/**
 * Failure injection: restore tools on PATH that fail on cue, only in the test's own namespace and
 * only once armed (staging, in anonymous namespaces, always runs the real tools). After a failed
 * apply both families must be byte-for-byte what they were before (BRIEF invariants 3 and 4), or the
 * command must say loudly that it could not put them back and the next command must repair it.
 */
import test from 'ava';
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { withRulesDir } from '../helpers/rules-dir.js';
import { ROOT } from '../helpers/paths.js';
import {
  apply,
  BODY,
  bumpGeneration,
  inNs,
  nfgit,
  restoreLast,
  saveNs,
  SYSTEM_PATH,
  tableBlocks,
  withNetns,
  withStandIns,
  withTempDir,
  type Saves,
} from './helpers/netns-apply.js';
import { CHANGED_RULES, NEW_RULES, OLD_RULES } from './helpers/rulesets.js';

/** A namespace running OLD_RULES (applied by nfgit), its saves, and a directory holding NEW_RULES. */
async function withOldApplied(
  fn: (ctx: { ns: string; state: string; before: Saves; lastGood: string; newRules: string; oldRules: string }) => Promise<void>,
  next: string = NEW_RULES,
): Promise<void> {
  await withRulesDir({ '10-rules': OLD_RULES }, (oldRules) =>
    withRulesDir({ '10-rules': next }, (newRules) =>
      withNetns((ns) =>
        withTempDir('nfgit-state-', async (state) => {
          const r = await apply(oldRules, ns, state);
          if (r.exitCode !== 0) throw new Error(`the first apply failed: ${String(r.stderr)}`);
          const before = await saveNs(ns);
          // The "before" is not trivial: a user chain and a nat rule in IPv4, a policy and a chain in IPv6.
          if (!before.ipv4.includes(':WEB - [0:0]') || !before.ipv4.includes('-j REDIRECT') || !before.ipv6.includes(':INPUT DROP')) {
            throw new Error(`unexpected first ruleset:\n${before.ipv4}\n${before.ipv6}`);
          }
          const lastGood = readFileSync(path.join(state, 'last-good.json'), 'utf8');
          await fn({ ns, state, before, lastGood, newRules, oldRules });
        }),
      ),
    ),
  );
}

test.serial('a. ip6tables-restore fails after iptables-restore succeeded: both families are back byte for byte', (t) =>
  withOldApplied(({ ns, state, before, lastGood, newRules }) =>
    withStandIns(ns, { 'ip6tables-restore': BODY.failRestore('ip6tables-restore') }, async (s) => {
      await s.arm();
      const r = await apply(newRules, ns, state, { standIns: s.dir });
      t.true(s.has('fired'), 'the stand-in failed the IPv6 restore');
      t.not(r.exitCode, 0);
      t.regex(String(r.stderr), /IPv6 restore failed in table filter \(line \d+\): ip6tables-restore: injected failure/);
      t.regex(String(r.stderr), /both families are back on their previous ruleset/);
      const after = await saveNs(ns);
      t.is(after.ipv4, before.ipv4, 'IPv4 (which had been applied, including a new mangle table) is back');
      t.is(after.ipv6, before.ipv6);
      t.false(tableBlocks(after.ipv4).has('mangle'), 'the mangle table the failed apply created is gone');
      t.false(existsSync(path.join(state, 'journal.json')), 'the journal is removed after a complete rollback');
      t.is(readFileSync(path.join(state, 'last-good.json'), 'utf8'), lastGood, 'the last good ruleset is unchanged');
      t.true(
        (await execa('flock', ['--nonblock', path.join(state, 'lock'), 'true'], { reject: false })).exitCode === 0,
        'the lock is free',
      );
    }),
  ),
);

test.serial('a-incremental. ip6tables-restore --noflush fails after IPv4 took the difference: both families are back, counters too', (t) =>
  withOldApplied(
    ({ ns, state, lastGood, newRules }) =>
      withStandIns(ns, { 'ip6tables-restore': BODY.failRestore('ip6tables-restore') }, async (s) => {
        await inNs(ns, ['iptables', '-R', 'INPUT', '1', '-c', '7', '700', '-i', 'lo', '-j', 'ACCEPT']);
        const before = await saveNs(ns, true);
        await s.arm();
        const r = await apply(newRules, ns, state, { standIns: s.dir });
        t.true(s.has('fired'), 'the stand-in failed the IPv6 restore');
        t.regex(await s.read('calls'), /\|--noflush/, 'the apply took the incremental path');
        t.regex(
          String(r.stderr),
          /IPv6 restore failed \(applying the difference\) in table filter \(line \d+\): ip6tables-restore: injected failure/,
        );
        t.regex(String(r.stderr), /both families are back on their previous ruleset/);
        t.deepEqual(await saveNs(ns, true), before, 'both families, counters included, are what they were');
        t.false(existsSync(path.join(state, 'journal.json')));
        t.is(readFileSync(path.join(state, 'last-good.json'), 'utf8'), lastGood);
      }),
    CHANGED_RULES,
  ),
);

test.serial('h-incremental. ip6tables-restore --noflush hangs: killed after --restore-timeout, both families back, exit 3', (t) =>
  withOldApplied(
    ({ ns, state, before, lastGood, newRules }) =>
      withStandIns(ns, { 'ip6tables-restore': '  if [ "$*" = "--noflush" ]; then touch "$dir/fired"; exec sleep 600; fi' }, async (s) => {
        await s.arm();
        const r = await nfgit(['apply', '--rules', newRules, '--netns', ns, '--state-dir', state, '--restore-timeout', '2'], {
          standIns: s.dir,
        });
        t.true(s.has('fired'), 'the stand-in hung the IPv6 restore of the difference');
        t.is(r.exitCode, 3, String(r.stderr));
        t.regex(String(r.stderr), /ip6tables-restore hung: no answer within 2 s/);
        t.deepEqual(await saveNs(ns), before);
        t.false(existsSync(path.join(state, 'journal.json')));
        t.is(readFileSync(path.join(state, 'last-good.json'), 'utf8'), lastGood);
      }),
    CHANGED_RULES,
  ),
);

test.serial('a0. the very first apply (empty namespace) fails in IPv6: both families are empty again', (t) =>
  withRulesDir({ '10-rules': NEW_RULES }, (newRules) =>
    withNetns((ns) =>
      withTempDir('nfgit-state-', (state) =>
        withStandIns(ns, { 'ip6tables-restore': BODY.failRestore('ip6tables-restore') }, async (s) => {
          await s.arm();
          const r = await apply(newRules, ns, state, { standIns: s.dir });
          t.true(s.has('fired'));
          t.not(r.exitCode, 0);
          t.regex(String(r.stderr), /IPv6 restore failed in table filter .*both families are back on their previous ruleset/);
          t.deepEqual(await saveNs(ns), { ipv4: '', ipv6: '' });
          t.false(existsSync(path.join(state, 'journal.json')));
          t.false(existsSync(path.join(state, 'last-good.json')));
        }),
      ),
    ),
  ),
);

test.serial('b. iptables-restore fails in the second IPv4 table after committing the first: both families are back byte for byte', (t) =>
  withOldApplied(({ ns, state, before, lastGood, newRules }) =>
    withStandIns(ns, { 'iptables-restore': BODY.failSecondTable('iptables-restore', 'iptables-save') }, async (s) => {
      await s.arm();
      const r = await apply(newRules, ns, state, { standIns: s.dir });
      t.true(s.has('fired'), 'the stand-in ran');
      // The first table (filter) really was committed by the real tool before the failure.
      const input = await s.read('input');
      t.deepEqual(
        [...input.matchAll(/^\*(\w+)$/gm)].map((m) => m[1]),
        ['filter', 'nat', 'mangle'],
        'the IPv4 input holds filter, nat (second) and mangle',
      );
      const half = await s.read('after-first-table');
      t.regex(half, /^-A API -p tcp -m tcp --dport 443 -j ACCEPT$/m, 'the new filter table was committed');
      t.regex(half, /REDIRECT --to-ports 80/, 'the old nat table was still there');
      t.not(r.exitCode, 0);
      t.regex(String(r.stderr), /IPv4 restore failed in table nat \(line \d+\): iptables-restore: /);
      t.regex(String(r.stderr), /both families are back on their previous ruleset/);
      const after = await saveNs(ns);
      t.is(after.ipv4, before.ipv4);
      t.is(after.ipv6, before.ipv6, 'IPv6 was never touched');
      t.false(existsSync(path.join(state, 'journal.json')));
      t.is(readFileSync(path.join(state, 'last-good.json'), 'utf8'), lastGood);
    }),
  ),
);

test.serial('c. the rollback fails too: the command says so loudly, keeps the journal, and restore-last repairs it', (t) =>
  withOldApplied(({ ns, state, before, lastGood, newRules }) =>
    withStandIns(
      ns,
      {
        'iptables-restore': BODY.failSnapshotRestore('iptables-restore'),
        'ip6tables-restore': BODY.failRestore('ip6tables-restore'),
      },
      async (s) => {
        await s.arm();
        const r = await apply(newRules, ns, state, { standIns: s.dir });
        t.true(s.has('fired'), 'IPv6 restore failed on cue');
        t.true(s.has('fired-c'), 'the IPv4 snapshot restore failed on cue');
        t.is(r.exitCode, 3, 'a RollbackError: transient, the journal finishes it');
        const stderr = String(r.stderr);
        t.regex(stderr, /IPv6 restore failed in table filter/);
        t.regex(stderr, new RegExp(`COULD NOT PUT THE PREVIOUS RULESET BACK in network namespace ${ns}`));
        t.regex(stderr, /The host may be split .*run nfgit restore-last to do it now/);
        t.regex(stderr, /iptables-restore could not load the previous IPv4 ruleset back: injected failure of the snapshot restore/);
        t.regex(stderr, /The journal in .* is kept/);
        t.true(existsSync(path.join(state, 'journal.json')), 'the journal is kept for the next command');
        t.is(readFileSync(path.join(state, 'last-good.json'), 'utf8'), lastGood);
        // What the namespace runs now: IPv4 stayed on the new ruleset, IPv6 is back on the old one.
        const split = await saveNs(ns);
        t.not(split.ipv4, before.ipv4);
        t.is(split.ipv6, before.ipv6);

        // While the snapshot restore still fails, the next command fails the same way, loudly, and
        // applies nothing on top of the split state.
        const stillBroken = await restoreLast(ns, state, { standIns: s.dir });
        t.not(stillBroken.exitCode, 0);
        t.regex(String(stillBroken.stderr), /COULD NOT PUT THE PREVIOUS RULESET BACK/);
        t.true(existsSync(path.join(state, 'journal.json')), 'the journal is still kept');
        t.deepEqual(await saveNs(ns), split);

        // The next command, with the real tools, finishes the rollback and loads the last good ruleset.
        await s.disarm();
        const next = await restoreLast(ns, state);
        t.is(next.exitCode, 0, String(next.stderr));
        t.regex(String(next.stderr), /was interrupted before both families were applied: put both back on the ruleset they had before it/);
        const after = await saveNs(ns);
        t.is(after.ipv4, before.ipv4);
        t.is(after.ipv6, before.ipv6);
        t.false(existsSync(path.join(state, 'journal.json')));
      },
    ),
  ),
);

test.serial('c2. when the rollback fails, the next apply (not only restore-last) repairs it first, then applies', (t) =>
  withOldApplied(({ ns, state, before, newRules, oldRules }) =>
    withStandIns(
      ns,
      {
        'iptables-restore': BODY.failSnapshotRestore('iptables-restore'),
        'ip6tables-restore': BODY.failRestore('ip6tables-restore'),
      },
      async (s) => {
        await s.arm();
        const r = await apply(newRules, ns, state, { standIns: s.dir });
        t.not(r.exitCode, 0);
        t.true(existsSync(path.join(state, 'journal.json')));
        await s.disarm();
        const next = await apply(oldRules, ns, state);
        t.is(next.exitCode, 0, String(next.stderr));
        t.regex(String(next.stderr), /was interrupted before both families were applied/);
        const after = await saveNs(ns);
        t.is(after.ipv4, before.ipv4);
        t.is(after.ipv6, before.ipv6);
        t.false(existsSync(path.join(state, 'journal.json')));
      },
    ),
  ),
);

/**
 * `npx nfgit …` (how the brief says to run nfgit from a checkout) and `npm test` put node_modules/.bin
 * first on PATH. There, `nft` is @vercel/nft's file tracer (a dependency of ava), which exits 0 for
 * `nft --version` and for `nft delete table ip mangle` without doing anything. The rollback must not
 * take that for a deleted table.
 */
test.serial('a, run as `npx nfgit` would be: an unrelated `nft` first on PATH does not fool the rollback', (t) =>
  withOldApplied(({ ns, state, before, newRules }) =>
    withStandIns(ns, { 'ip6tables-restore': BODY.failRestore('ip6tables-restore') }, async (s) => {
      const npxBin = path.join(ROOT, 'node_modules/.bin');
      if (!existsSync(path.join(npxBin, 'nft'))) {
        t.pass('no node_modules/.bin/nft here: nothing to show');
        return;
      }
      await s.arm();
      const r = await apply(newRules, ns, state, { standIns: s.dir, path: `${npxBin}:${SYSTEM_PATH}` });
      t.true(s.has('fired'));
      t.not(r.exitCode, 0);
      const after = await saveNs(ns);
      if (/both families are back on their previous ruleset/.test(String(r.stderr))) {
        t.is(
          after.ipv4,
          before.ipv4,
          'nfgit said both families are back, so IPv4 must be what it was (no mangle table left by the failed apply)',
        );
      } else {
        t.regex(String(r.stderr), /COULD NOT PUT THE PREVIOUS RULESET BACK/);
      }
      t.is(after.ipv6, before.ipv6);
    }),
  ),
);

test.serial('c-message. when the rollback fails, the message does not also claim "Nothing was changed"', (t) =>
  withOldApplied(({ ns, state, newRules }) =>
    withStandIns(
      ns,
      {
        'iptables-restore': BODY.failSnapshotRestore('iptables-restore'),
        'ip6tables-restore': BODY.failRestore('ip6tables-restore'),
      },
      async (s) => {
        await s.arm();
        const r = await apply(newRules, ns, state, { standIns: s.dir });
        t.true(s.has('fired-c'));
        const stderr = String(r.stderr);
        t.regex(stderr, /COULD NOT PUT THE PREVIOUS RULESET BACK/);
        // IPv4 now runs the new ruleset and IPv6 the old one: something WAS changed.
        t.notRegex(stderr, /Nothing was changed/, 'a failed rollback must not be reported as "Nothing was changed"');
      },
    ),
  ),
);

test.serial('h. ip6tables-restore hangs: killed after --restore-timeout, both families back, exit 3 saying the tool hung', (t) =>
  withOldApplied(({ ns, state, before, lastGood, newRules }) =>
    withStandIns(ns, { 'ip6tables-restore': '  if [ $# -eq 0 ]; then touch "$dir/fired"; exec sleep 600; fi' }, async (s) => {
      await s.arm();
      const r = await nfgit(['apply', '--rules', newRules, '--netns', ns, '--state-dir', state, '--restore-timeout', '2'], {
        standIns: s.dir,
      });
      t.true(s.has('fired'), 'the stand-in hung the IPv6 restore');
      t.is(r.exitCode, 3, String(r.stderr));
      t.is(
        String(r.stderr),
        'nfgit: IPv6 restore failed: ip6tables-restore hung: no answer within 2 s (--restore-timeout), so it was killed. Nothing was changed: both families are back on their previous ruleset',
      );
      t.deepEqual(await saveNs(ns), before);
      t.false(existsSync(path.join(state, 'journal.json')));
      t.is(readFileSync(path.join(state, 'last-good.json'), 'utf8'), lastGood);
    }),
  ),
);

test.serial(
  's. iptables-save prints nothing and exits 0: the apply stops before the kernel is touched (exit 3, names the tool), nothing is emptied',
  (t) =>
    withOldApplied(({ ns, state, before, lastGood, newRules }) =>
      withStandIns(
        ns,
        {
          'iptables-save': '  if [ "$1" = "-c" ]; then touch "$dir/fired"; exit 0; fi',
          // Had the apply gone on, this failure would have rolled IPv4 back onto the empty snapshot.
          'ip6tables-restore': BODY.failRestore('ip6tables-restore'),
        },
        async (s) => {
          // Another program's commit: the apply cannot know the live ruleset from its record, and saves it.
          await bumpGeneration(ns);
          await s.arm();
          const r = await apply(newRules, ns, state, { standIns: s.dir });
          t.true(s.has('fired'), 'the stand-in answered the snapshot with nothing');
          t.is(r.exitCode, 3, String(r.stderr));
          t.regex(String(r.stderr), /iptables-save -c printed no table while the kernel holds the IPv4 filter, nat tables/);
          t.regex(String(r.stderr), /nothing was changed/);
          t.deepEqual(await saveNs(ns), before, 'both families still run the previous ruleset');
          t.false(existsSync(path.join(state, 'journal.json')));
          t.is(readFileSync(path.join(state, 'last-good.json'), 'utf8'), lastGood);
        },
      ),
    ),
);

test.serial('s2. a save that is not a ruleset (no table block) is refused the same way; an empty namespace still applies', (t) =>
  withOldApplied(({ ns, state, before, newRules }) =>
    withStandIns(ns, { 'ip6tables-save': '  if [ "$1" = "-c" ]; then echo "Segmentation fault"; exit 0; fi' }, async (s) => {
      await bumpGeneration(ns);
      await s.arm();
      const r = await apply(newRules, ns, state, { standIns: s.dir });
      t.is(r.exitCode, 3, String(r.stderr));
      t.regex(String(r.stderr), /ip6tables-save -c printed no table block/);
      t.deepEqual(await saveNs(ns), before);
      t.false(existsSync(path.join(state, 'journal.json')));
    }),
  ).then(() =>
    // A fresh namespace has no table: its empty save is the truth, and the apply goes on.
    withRulesDir({ '10-rules': NEW_RULES }, (rules) =>
      withNetns((ns) =>
        withTempDir('nfgit-state-', async (state) => {
          const r = await apply(rules, ns, state);
          t.is(r.exitCode, 0, String(r.stderr));
        }),
      ),
    ),
  ),
);
