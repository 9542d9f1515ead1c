/**
 * A state directory on a full disk (a small tmpfs, filled): apply stops before the kernel when the
 * journal cannot be written, takes the new ruleset back when it cannot be recorded, never leaves a
 * state file cut off or a temporary file behind, exits 3 saying which disk is full, and restore-last
 * then loads the previous last good ruleset.
 */
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { withRulesDir } from '../helpers/rules-dir.js';
import { apply, inNs, restoreLast, saveNs, withNetns, withTempDir } from './helpers/netns-apply.js';
import { NEW_RULES, OLD_RULES } from './helpers/rulesets.js';
import { normalizeSave } from '../helpers/netns.js';
import { StateDir, type Journal, type LastGood } from '../../src/apply/state-files.js';
import { fillDisk, freeBytes, withSmallDisk } from './helpers/small-disk.js';

/** Many rules, so that the state files of this ruleset are much bigger than those of OLD_RULES. */
const BIG_RULES = `iptables -P INPUT DROP
for i in {1..1200}; do
  iptables -A INPUT -s 10.$((i / 250)).$((i % 250)).1 -p tcp --dport 22 -m comment --comment "host number $i of the fleet" -j ACCEPT
  ip6tables -A INPUT -s fd00::$i -p tcp --dport 22 -m comment --comment "host number $i of the fleet" -j ACCEPT
done
`;

/** What nfgit leaves in a state directory after a finished apply (plus the test's filler). */
const AFTER_APPLY = ['canonical.v4', 'canonical.v6', 'filler', 'last-good.json', 'lock', 'plan.json', 'rules.v4', 'rules.v6'];

test.serial(
  'a full disk: the journal cannot be written, so apply changes nothing (exit 3, the disk named); restore-last still loads the last good ruleset, with warnings',
  (t) =>
    withRulesDir({ '10-old': OLD_RULES }, (old) =>
      withRulesDir({ '10-big': BIG_RULES }, (big) =>
        withNetns((ns) =>
          withSmallDisk(4096, async (disk) => {
            const state = path.join(disk, 'state');
            const r1 = await apply(old, ns, state);
            t.is(r1.exitCode, 0, String(r1.stderr));
            const before = await saveNs(ns);
            const lastGood = readFileSync(path.join(state, 'last-good.json'), 'utf8');
            const filler = await fillDisk(disk, 0);

            const r2 = await apply(big, ns, state);
            t.is(r2.exitCode, 3, String(r2.stderr));
            t.is(
              String(r2.stderr),
              // Its first file: the new ruleset's IPv4 rules (journal.v4), which journal.json names.
              `nfgit: could not write ${state}/journal.v4: the disk holding ${state} is full. The journal could not be written, so nothing was changed: the kernel still runs its previous ruleset`,
            );
            t.deepEqual(await saveNs(ns), before);
            t.is(readFileSync(path.join(state, 'last-good.json'), 'utf8'), lastGood);
            t.deepEqual(
              readdirSync(state).sort(),
              AFTER_APPLY.filter((f) => f !== 'filler'),
            );

            // A boot with the disk still full: restore-last loads the recorded ruleset all the same
            // (no journal, the record not rewritten), and says so.
            await inNs(ns, ['iptables', '-F']);
            await inNs(ns, ['ip6tables', '-F']);
            const r3 = await restoreLast(ns, state);
            t.is(r3.exitCode, 0, String(r3.stderr));
            t.deepEqual(await saveNs(ns), before);
            t.deepEqual(String(r3.stderr).split('\n'), [
              `warning: could not write ${state}/journal.json: the disk holding ${state} is full: loading the last good ruleset without a journal (if interrupted, run restore-last again)`,
              // rules.v4/v6 hold the ruleset already (checked when last-good.json was read): not written again.
              `warning: could not write ${state}/canonical.v4: the disk holding ${state} is full: the last good ruleset's files were not rewritten (they still describe the ruleset just loaded)`,
            ]);
            t.is(readFileSync(path.join(state, 'last-good.json'), 'utf8'), lastGood);
            t.deepEqual(
              readdirSync(state).sort(),
              AFTER_APPLY.filter((f) => f !== 'filler'),
            );

            // Space again (the admin cleaned up): restore-last as usual, no warning.
            await rm(filler);
            await inNs(ns, ['iptables', '-F']);
            const r4 = await restoreLast(ns, state);
            t.is(r4.exitCode, 0, String(r4.stderr));
            t.is(String(r4.stderr), '');
            t.deepEqual(await saveNs(ns), before);
          }),
        ),
      ),
    ),
);

test.serial(
  'a disk that holds the journal but not the last good ruleset: the new ruleset is taken back (exit 3), last-good.json is whole, restore-last works',
  (t) =>
    withRulesDir({ '10-old': OLD_RULES }, (old) =>
      withRulesDir({ '10-big': BIG_RULES }, (big) =>
        withNetns((ns) =>
          withSmallDisk(8192, async (disk) => {
            const state = path.join(disk, 'state');
            // Measure what the big ruleset's record takes, then go back to the old one.
            t.is((await apply(big, ns, state)).exitCode, 0);
            // What its journal takes: its rulesets (journal.v4/v6, renamed to rules.v4/v6 once recorded).
            const bigRecord = ['rules.v4', 'rules.v6'].reduce((n, f) => n + readFileSync(path.join(state, f)).length, 0);
            const r1 = await apply(old, ns, state);
            t.is(r1.exitCode, 0, String(r1.stderr));
            const before = await saveNs(ns);
            const lastGood = readFileSync(path.join(state, 'last-good.json'), 'utf8');
            // Room for the journal (about one record plus the small snapshot), not for the record's four copies too.
            await fillDisk(disk, bigRecord + 64 * 1024);
            const free = freeBytes(disk);

            const r2 = await apply(big, ns, state);
            t.is(r2.exitCode, 3, String(r2.stderr));
            t.regex(
              String(r2.stderr),
              new RegExp(
                `^nfgit: could not write ${state}/[a-z0-9.]+: the disk holding ${state} is full: the new ruleset could not be recorded as the last good one, so it was taken back\\. Nothing was changed: both families are back on their previous ruleset, and restore-last still loads the previous last good one\\. Free space there, then apply again$`,
              ),
            );
            t.deepEqual(await saveNs(ns), before);
            t.is(readFileSync(path.join(state, 'last-good.json'), 'utf8'), lastGood);
            t.deepEqual(
              readdirSync(state).sort(),
              AFTER_APPLY.filter((f) => f !== 'filler'),
            );
            t.false(existsSync(path.join(state, 'journal.json')));
            t.is(freeBytes(disk), free);

            // Still nearly full: restore-last of the small old ruleset fits.
            await inNs(ns, ['iptables', '-F']);
            await inNs(ns, ['ip6tables', '-F']);
            const r3 = await restoreLast(ns, state);
            t.is(r3.exitCode, 0, String(r3.stderr));
            t.deepEqual(await saveNs(ns), before);
          }),
        ),
      ),
    ),
);

test.serial(
  'an apply interrupted after both families, then a full disk: restore-last loads its ruleset from the kept journal, and records it once there is space',
  (t) =>
    withRulesDir({ '10-old': OLD_RULES }, (old) =>
      withRulesDir({ '10-new': NEW_RULES }, (fresh) =>
        withNetns((ns) =>
          withTempDir('nfgit-state-', (other) =>
            withSmallDisk(2048, async (disk) => {
              // The record an apply of NEW_RULES to this namespace journals (made with another state directory).
              t.is((await apply(fresh, ns, other)).exitCode, 0);
              const applied = await saveNs(ns);
              const { files: _files, ...record } = new StateDir(other).readLastGood() as LastGood;
              // This state directory runs OLD_RULES; an apply of NEW_RULES was killed once both families
              // held it (journal marked applied), before it was recorded.
              const state = path.join(disk, 'state');
              t.is((await apply(old, ns, state)).exitCode, 0);
              const oldRecord = readFileSync(path.join(state, 'last-good.json'), 'utf8');
              const dir = new StateDir(state);
              const journal: Journal = {
                nfgitJournal: 1,
                id: 'killed',
                command: 'nfgit apply (killed)',
                started: new Date().toISOString(),
                target: { netns: ns },
                families: ['ipv4', 'ipv6'],
                snapshot: {},
                step: 'journaled',
                record,
              };
              dir.writeJournal(journal);
              dir.markJournalApplied(journal);
              const filler = await fillDisk(disk, 0);

              const r1 = await restoreLast(ns, state);
              t.is(r1.exitCode, 0, String(r1.stderr));
              t.regex(
                String(r1.stderr),
                /^nfgit: an apply started .* \("nfgit apply \(killed\)"\) was interrupted after both families were applied, but could not write .*: the disk holding .* is full: its ruleset is loaded as the last good one, and the journal kept to record it once there is space$/m,
              );
              t.is(normalizeSave((await saveNs(ns)).ipv4), normalizeSave(applied.ipv4));
              t.is(normalizeSave((await saveNs(ns)).ipv6), normalizeSave(applied.ipv6));
              t.true(existsSync(path.join(state, 'journal.json')), 'the journal is kept');
              t.is(readFileSync(path.join(state, 'last-good.json'), 'utf8'), oldRecord);

              await rm(filler);
              const r2 = await restoreLast(ns, state);
              t.is(r2.exitCode, 0, String(r2.stderr));
              t.regex(String(r2.stderr), /after both families were applied: recorded it as the last good ruleset$/m);
              t.false(existsSync(path.join(state, 'journal.json')));
              t.is(dir.readLastGood()?.source, fresh);
              t.is(normalizeSave((await saveNs(ns)).ipv4), normalizeSave(applied.ipv4));
            }),
          ),
        ),
      ),
    ),
);
