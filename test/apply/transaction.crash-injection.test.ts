/**
 * Crash injection (BRIEF invariant 3): SIGKILL `nfgit apply` at each step of the transaction, run
 * the next command, and check that both families run the same ruleset, old or new, and that the
 * journal is gone.
 *
 * Kill points, in the order the transaction reaches them (both families restore at once, so the
 * stand-ins of the two tools wait for each other through files):
 * - journal:   iptables-restore stand-in kills nfgit before loading anything (the journal is written),
 *              once the ip6tables-restore stand-in is holding without loading;
 * - ipv4:      ip6tables-restore stand-in kills nfgit before loading, once IPv4 loaded for real;
 * - ipv6:      both load for real, then the ip6tables-restore stand-in kills nfgit once IPv4 is done
 *              (both applied, journal not yet marked as applied);
 * - last-good: a `main` host command kills nfgit (they run after last-good.json is written).
 * Each runs on both paths: the whole ruleset (OLD_RULES to NEW_RULES, which adds a table) and the
 * difference (OLD_RULES to CHANGED_RULES, restored with --noflush).
 * The stand-ins kill their parent: `ip netns exec` execs in place, so that is the node process; each
 * records the pid it killed and refuses to kill anything that is not the nfgit CLI.
 */
import { execa } from 'execa';
import test, { type ExecutionContext } from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { normalizeSave } from '../helpers/netns.js';
import { withRulesDir } from '../helpers/rules-dir.js';
import {
  apply,
  BODY,
  bumpGeneration,
  killerScript,
  restoreLast,
  saveNs,
  withNetns,
  withStandIns,
  withTempDir,
  type Saves,
} from './helpers/netns-apply.js';
import { CHANGED_RULES, NEW_RULES, OLD_RULES } from './helpers/rulesets.js';

/** The two paths of an apply, and the new rules that take each. */
type Path = 'full' | 'incremental';
const NEXT: Record<Path, string> = { full: NEW_RULES, incremental: CHANGED_RULES };

/** The saves of the old and of the new rules, as nfgit leaves them when it applies old, then new. */
const REFS: Partial<Record<Path, { old: Saves; new: Saves }>> = {};

test.before(async () => {
  for (const p of ['full', 'incremental'] as const) REFS[p] = await reference(NEXT[p]);
});

function reference(next: string): Promise<{ old: Saves; new: Saves }> {
  return withRulesDir({ '10-rules': OLD_RULES }, (oldRules) =>
    withRulesDir({ '10-rules': next }, (newRules) =>
      withNetns((ns) =>
        withTempDir('nfgit-state-', async (state) => {
          const a = await apply(oldRules, ns, state);
          if (a.exitCode !== 0) throw new Error(String(a.stderr));
          const old = await saveNs(ns);
          const b = await apply(newRules, ns, state);
          if (b.exitCode !== 0) throw new Error(String(b.stderr));
          return { old, new: await saveNs(ns) };
        }),
      ),
    ),
  );
}

type KillPoint = 'journal' | 'ipv4' | 'ipv6' | 'last-good';
type Which = 'old' | 'new' | 'neither';

/** Which ruleset a family runs (ignoring comments, counters and empty tables with ACCEPT policies). */
function which(family: keyof Saves, saves: Saves, path: Path = 'full'): Which {
  const ref = REFS[path] as { old: Saves; new: Saves };
  const n = normalizeSave(saves[family]);
  if (n === normalizeSave(ref.old[family])) return 'old';
  if (n === normalizeSave(ref.new[family])) return 'new';
  return 'neither';
}

const STAND_INS: Record<KillPoint, Record<string, string>> = {
  journal: {
    'iptables-restore': BODY.killParent('before', undefined, 'v6-holding'),
    'ip6tables-restore': BODY.holdUntilKilled('v6-holding'),
  },
  ipv4: { 'iptables-restore': BODY.loadThenMark('v4-done'), 'ip6tables-restore': BODY.killParent('before', undefined, 'v4-done') },
  ipv6: { 'iptables-restore': BODY.loadThenMark('v4-done'), 'ip6tables-restore': BODY.killParent('after', undefined, 'v4-done') },
  'last-good': {},
};

/** What the namespace runs right after the kill: proves the kill happened at the intended step. */
const AT_KILL: Record<KillPoint, { ipv4: Which; ipv6: Which }> = {
  journal: { ipv4: 'old', ipv6: 'old' },
  ipv4: { ipv4: 'new', ipv6: 'old' },
  ipv6: { ipv4: 'new', ipv6: 'new' },
  'last-good': { ipv4: 'new', ipv6: 'new' },
};

/** The journal a kill before the record leaves: what it names and copies. */
function journalAtKill(t: ExecutionContext, journalFile: string, saved: boolean): void {
  const text = readFileSync(journalFile, 'utf8');
  const journal = JSON.parse(text) as {
    nfgitJournal: number;
    step: string;
    snapshotFromRecord?: true;
    snapshot: Record<string, string>;
    snapshotFiles?: Record<string, string>;
  };
  t.is(journal.step, 'journaled');
  // After another program's commit the snapshot is saved from the target; otherwise it is the record.
  t.is(journal.snapshotFromRecord === true, !saved, 'where the snapshot came from');
  // The record's snapshot is named (the canonical files' sha256), a saved one copied whole.
  t.deepEqual(Object.keys(journal.snapshotFiles ?? {}).sort(), saved ? [] : ['ipv4', 'ipv6'], 'the snapshot named');
  t.deepEqual(Object.keys(journal.snapshot).sort(), saved ? ['ipv4', 'ipv6'] : [], 'the snapshot copied');
  // Its new rulesets are named too (journal.v4/v6, by the record's digests): version 3 either way.
  t.is(journal.nfgitJournal, 3, 'a journal that names its files says so in its version');
  t.false(text.includes('"text"'), 'no ruleset text in journal.json');
}

/**
 * `saved`: another program commits (and undoes) a change before the killed apply, so that its snapshot
 * is saved from the target (with counters) rather than taken from the record (netfilter/generation.ts).
 */
function crashTest(point: KillPoint, next: 'restore-last' | 'apply old', way: Path, saved = false): void {
  // Where it ends: an interrupted transaction is undone (old) unless it had recorded the last good
  // ruleset; then restore-last loads that (new), and applying the old rules gives old.
  const expected: Which = point === 'last-good' && next === 'restore-last' ? 'new' : 'old';
  const snapshot = saved ? ', snapshot saved' : '';
  test.serial(
    `${way} path${snapshot}: SIGKILL after ${point}, then ${next}: both families run the ${expected} ruleset, the journal is gone`,
    (t) =>
      withNetns((ns) =>
        withStandIns(ns, STAND_INS[point], (s) => {
          const killer = s.file('kill-parent.sh');
          const newText = point === 'last-good' ? `${NEXT[way]}main sh ${killer}\n` : NEXT[way];
          return withRulesDir({ '10-rules': OLD_RULES }, (oldRules) =>
            withRulesDir({ '10-rules': newText }, (newRules) =>
              withTempDir('nfgit-state-', async (state) => {
                const ref = REFS[way] as { old: Saves; new: Saves };
                const journalFile = path.join(state, 'journal.json');
                const first = await apply(oldRules, ns, state);
                t.is(first.exitCode, 0, String(first.stderr));
                t.deepEqual(await saveNs(ns), ref.old);

                await writeFile(killer, killerScript(s.dir));
                await chmod(killer, 0o755);
                if (saved) await bumpGeneration(ns);
                await s.arm();
                let pid: number | undefined;
                const killed = await apply(newRules, ns, state, { standIns: s.dir, onSpawn: (p) => (pid = p) });
                t.is(killed.signal, 'SIGKILL', `the apply was not killed: ${String(killed.stderr)}`);
                t.is(Number((await s.read('killed-pid')).trim()), pid ?? -1, 'what was killed is the nfgit process itself');
                t.false(s.has('armed'), 'the kill fired (once)');

                // The state right after the kill.
                const mid = await saveNs(ns);
                t.deepEqual(
                  { ipv4: which('ipv4', mid, way), ipv6: which('ipv6', mid, way) },
                  AT_KILL[point],
                  'the kill happened at the intended step',
                );
                // The path under test is the one taken (a last-good kill has no stand-in: its record says).
                if (point !== 'last-good') {
                  const calls = await s.read('calls');
                  t.is(/\|--noflush/.test(calls), way === 'incremental', `restore calls:\n${calls}`);
                }
                t.true(await lockIsFree(state), 'the dead apply does not hold the lock (the kernel freed its flock)');
                if (point === 'last-good') {
                  t.false(existsSync(journalFile));
                  t.is(JSON.parse(readFileSync(path.join(state, 'last-good.json'), 'utf8')).source, newRules);
                } else {
                  journalAtKill(t, journalFile, saved);
                }

                // The next command, with the real tools.
                const r = next === 'restore-last' ? await restoreLast(ns, state) : await apply(oldRules, ns, state);
                t.is(r.exitCode, 0, String(r.stderr));
                const after = await saveNs(ns);
                const v4 = which('ipv4', after, way);
                const v6 = which('ipv6', after, way);
                t.not(v4, 'neither', `IPv4 runs neither ruleset:\n${after.ipv4}`);
                t.is(v4, v6, 'both families run the same ruleset');
                t.is(v4, expected);
                // Exactly (byte for byte) where nothing leaves an empty table behind.
                if (!(point === 'last-good' && next === 'apply old')) t.deepEqual(after, ref[expected]);
                t.false(existsSync(journalFile), 'the journal is gone');
                t.deepEqual(
                  ['journal.v4', 'journal.v6'].filter((f) => existsSync(path.join(state, f))),
                  [],
                  "the journal's rulesets are gone (renamed into place or removed)",
                );
                t.true(await lockIsFree(state), 'the lock is released');
                if (point === 'last-good') {
                  t.notRegex(String(r.stderr), /interrupted/, 'there was no journal to recover');
                } else {
                  const cmd = `nfgit apply --rules ${newRules} --netns ${ns} --state-dir ${state}`;
                  t.true(
                    String(r.stderr).includes(
                      `("${cmd}") was interrupted before both families were applied: put both back on the ruleset they had before it`,
                    ),
                    `stderr tells about the interrupted apply:\n${String(r.stderr)}`,
                  );
                }
                // The last good ruleset is what both families run.
                const last = JSON.parse(readFileSync(path.join(state, 'last-good.json'), 'utf8'));
                t.is(last.source, expected === 'new' ? newRules : oldRules);
              }),
            ),
          );
        }),
      ),
  );
}

for (const way of ['full', 'incremental'] as const) {
  for (const point of ['journal', 'ipv4', 'ipv6', 'last-good'] as const) {
    crashTest(point, 'restore-last', way);
    crashTest(point, 'apply old', way);
  }
}
// The snapshot saved from the target: the journal carries it whole (with counters), and the recovery
// puts it back as it is.
for (const point of ['journal', 'ipv4', 'ipv6'] as const) crashTest(point, 'apply old', 'full', true);
crashTest('ipv4', 'restore-last', 'incremental', true);

test.serial(
  'SIGKILL during the recovery itself (after its snapshot restore of IPv4), then restore-last: both families run the old ruleset',
  (t) =>
    withNetns((ns) =>
      withRulesDir({ '10-rules': OLD_RULES }, (oldRules) =>
        withRulesDir({ '10-rules': NEW_RULES }, (newRules) =>
          withTempDir('nfgit-state-', async (state) => {
            const ref = REFS.full as { old: Saves; new: Saves };
            const journalFile = path.join(state, 'journal.json');
            t.is((await apply(oldRules, ns, state)).exitCode, 0);
            // Killed after both families were loaded, before the journal said so.
            await withStandIns(ns, { 'ip6tables-restore': BODY.killParent('after') }, async (s) => {
              await s.arm();
              const killed = await apply(newRules, ns, state, { standIns: s.dir });
              t.is(killed.signal, 'SIGKILL');
            });
            t.deepEqual(await saveNs(ns), ref.new);
            // The recovery's rollback is killed after the real snapshot restore of IPv4: split again.
            await withStandIns(ns, { 'iptables-restore': BODY.killParent('after', '[ "$1" = "-c" ]') }, async (s) => {
              await s.arm();
              let pid: number | undefined;
              const killed = await restoreLast(ns, state, { standIns: s.dir, onSpawn: (p) => (pid = p) });
              t.is(killed.signal, 'SIGKILL');
              t.is(Number((await s.read('killed-pid')).trim()), pid ?? -1);
            });
            const mid = await saveNs(ns);
            // IPv4 holds the old filter and nat tables again (its new mangle table is not deleted yet); IPv6 is new.
            t.regex(mid.ipv4, /REDIRECT --to-ports 80/);
            t.not(which('ipv4', mid), 'new');
            t.is(which('ipv6', mid), 'new');
            t.true(existsSync(journalFile), 'the journal survives an interrupted recovery');
            // The next command finishes the recovery.
            const r = await restoreLast(ns, state);
            t.is(r.exitCode, 0, String(r.stderr));
            t.regex(String(r.stderr), /was interrupted before both families were applied: put both back/);
            t.deepEqual(await saveNs(ns), ref.old);
            t.false(existsSync(journalFile));
          }),
        ),
      ),
    ),
);

/** Whether nobody holds the state directory's flock. */
async function lockIsFree(state: string): Promise<boolean> {
  const r = await execa('flock', ['--nonblock', path.join(state, 'lock'), 'true'], { reject: false });
  return r.exitCode === 0;
}
