/**
 * `nfgit apply --confirm SECONDS` and `nfgit confirm` (issue 6): the apply keeps its ruleset only if
 * someone confirms from another shell in time, as iptables-apply does, but for both families.
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { withRulesDir } from '../helpers/rules-dir.js';
import { nfgit, restoreLast, saveNs, withNetns, withTempDir } from './helpers/netns-apply.js';
import { NEW_RULES, OLD_RULES } from './helpers/rulesets.js';

const applyWith = (rules: string, ns: string, state: string, extra: readonly string[], onSpawn?: (pid: number | undefined) => void) =>
  nfgit(['apply', '--rules', rules, '--netns', ns, '--state-dir', state, ...extra], onSpawn === undefined ? {} : { onSpawn });

const source = (state: string): string => JSON.parse(readFileSync(path.join(state, 'last-good.json'), 'utf8')).source;

/** Waits until the apply waits for confirmation (its probation marker has a deadline). */
async function waitingForConfirm(state: string): Promise<boolean> {
  const marker = path.join(state, 'journal.probation');
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    if (existsSync(marker) && JSON.parse(readFileSync(marker, 'utf8')).confirmBy !== null) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** Runs fn with a namespace on the old rules, a state directory, and both rules directories. */
const withOld = (fn: (ns: string, state: string, oldRules: string, newRules: string) => Promise<void>) =>
  withNetns((ns) =>
    withTempDir('nfgit-state-', (state) =>
      withRulesDir({ '10-rules': OLD_RULES }, (oldRules) =>
        withRulesDir({ '10-rules': NEW_RULES }, async (newRules) => {
          const r = await applyWith(oldRules, ns, state, []);
          if (r.exitCode !== 0) throw new Error(String(r.stderr));
          await fn(ns, state, oldRules, newRules);
        }),
      ),
    ),
  );

test('nfgit confirm with nothing waiting exits 1 and says so', (t) =>
  withTempDir('nfgit-state-', async (state) => {
    const r = await nfgit(['confirm', '--state-dir', state]);
    t.is(r.exitCode, 1);
    t.is(String(r.stderr), `nfgit: no apply is waiting for confirmation in ${state}: nothing to confirm`);
  }));

test('apply --confirm 2 without nfgit confirm: both families rolled back, exit 1, last good unchanged', (t) =>
  withOld(async (ns, state, oldRules, newRules) => {
    const old = await saveNs(ns);
    const r = await applyWith(newRules, ns, state, ['--confirm', '2']);
    t.is(r.exitCode, 1);
    t.is(
      String(r.stderr),
      [
        `nfgit: both families hold the new ruleset. Confirm within 2 s with: nfgit confirm --state-dir ${state}`,
        'nfgit: without it, both families go back to the previous ruleset.',
        'nfgit: rolled back: not confirmed within 2 s (nfgit confirm). Both families are back on their previous ruleset; the last good ruleset is unchanged',
      ].join('\n'),
    );
    t.deepEqual(await saveNs(ns), old);
    t.is(source(state), oldRules);
    t.false(existsSync(path.join(state, 'journal.json')));
    const late = await nfgit(['confirm', '--state-dir', state]);
    t.is(late.exitCode, 1, 'nothing waits any more');
  }));

test('apply --confirm 60 confirmed from another shell: kept and recorded', (t) =>
  withOld(async (ns, state, _oldRules, newRules) => {
    const running = applyWith(newRules, ns, state, ['--confirm', '60']);
    t.true(await waitingForConfirm(state), 'the apply waits for confirmation');
    const c = await nfgit(['confirm', '--state-dir', state]);
    t.is(c.exitCode, 0, String(c.stderr));
    t.is(
      String(c.stdout),
      `confirmed: "nfgit apply --rules ${newRules} --netns ${ns} --state-dir ${state} --confirm 60" keeps the new ruleset`,
    );
    const r = await running;
    t.is(r.exitCode, 0, String(r.stderr));
    t.regex(String(r.stdout), /^applied /);
    t.regex((await saveNs(ns)).ipv4, /-A API -p tcp -m tcp --dport 443 -j ACCEPT/);
    t.is(source(state), newRules);
    for (const f of ['journal.json', 'journal.probation']) t.false(existsSync(path.join(state, f)), `${f} is gone`);
    t.deepEqual(
      (await import('node:fs')).readdirSync(state).filter((f) => f.startsWith('confirm-')),
      [],
      'the confirm file is removed',
    );
  }));

test('SIGKILL while waiting for confirmation: nfgit confirm says the apply is gone, the next command undoes it', (t) =>
  withOld(async (ns, state, oldRules, newRules) => {
    const old = await saveNs(ns);
    let pid: number | undefined;
    const running = applyWith(newRules, ns, state, ['--confirm', '60'], (p) => (pid = p));
    t.true(await waitingForConfirm(state));
    process.kill(pid as number, 'SIGKILL');
    t.is((await running).signal, 'SIGKILL');
    const c = await nfgit(['confirm', '--state-dir', state]);
    t.is(c.exitCode, 1);
    t.regex(
      String(c.stderr),
      /^nfgit: the apply that waited for confirmation \("nfgit apply .* --confirm 60", pid \d+\) is gone; the next nfgit command \(apply, restore-last\) undoes it$/,
    );
    const r = await restoreLast(ns, state);
    t.is(r.exitCode, 0, String(r.stderr));
    t.regex(String(r.stderr), /was interrupted on probation \(its probes or confirmation had not passed\): put both families back/);
    t.deepEqual(await saveNs(ns), old);
    t.is(source(state), oldRules);
  }));
