/**
 * Probes (issue 6, "Apply that undoes itself"): after both families are restored, nfgit probes from
 * the target; if a probe fails, both families go back to the snapshot and the last good ruleset stays.
 * A SIGKILL during probation is undone by the next command (BRIEF invariant 3). The apply target is a
 * scratch namespace joined to a second one by a veth pair; the probe connects to a listener there.
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describeProbe, parseTcpProbe, runProbes } from '../../src/apply/probes.js';
import { savesOf } from '../helpers/named-netns.js';
import { withRulesDir } from '../helpers/rules-dir.js';
import { nfgit, restoreLast, withNetns, withTempDir } from './helpers/netns-apply.js';
import { NEW_RULES, OLD_RULES } from './helpers/rulesets.js';
import { connectFrom, listen, PEER4, withPair } from './helpers/veth-pair.js';

const PORT = 7101;
/** Rules that leave the probe's port alone. */
const HARMLESS = `iptables -A OUTPUT -p tcp --dport 7102 -j DROP\nip6tables -A OUTPUT -p tcp --dport 7102 -j DROP\n`;
/** Rules that cut the host off from the probe's port. */
const CUT_OFF = `iptables -A OUTPUT -p tcp --dport ${PORT} -j DROP\nip6tables -A OUTPUT -p tcp --dport ${PORT} -j DROP\n`;

const applyWith = (rules: string, ns: string, state: string, extra: readonly string[], onSpawn?: (pid: number | undefined) => void) =>
  nfgit(['apply', '--rules', rules, '--netns', ns, '--state-dir', state, ...extra], onSpawn === undefined ? {} : { onSpawn });

const JOURNAL_FILES = ['journal.json', 'journal.applied', 'journal.probation'];

test('a tcp probe the new rules block: rolled back, the namespace rules as before, traffic works, last good unchanged', (t) =>
  withPair(async ({ host, peer }) => {
    await listen(peer, PORT);
    await withTempDir('nfgit-state-', async (state) => {
      const probe = ['--probe-tcp', `${PEER4}:${PORT}`, '--probe-deadline', '2'];
      await withRulesDir({ '10-rules': HARMLESS }, async (rules) => {
        const r = await applyWith(rules, host, state, probe);
        t.is(r.exitCode, 0, String(r.stderr));
        t.regex(String(r.stdout), /^applied /);
      });
      const before = await savesOf(host);
      const lastGood = readFileSync(path.join(state, 'last-good.json'), 'utf8');
      t.is(await connectFrom(host, PEER4, PORT), 'open');

      await withRulesDir({ '10-rules': CUT_OFF }, async (rules) => {
        const r = await applyWith(rules, host, state, probe);
        t.is(r.exitCode, 1, String(r.stderr));
        t.regex(
          String(r.stderr),
          /^nfgit: rolled back: probe tcp 10\.251\.0\.2:7101 failed \(no answer within [\d.]+ s; \d+ tr(y|ies) within 2 s\)\. Both families are back on their previous ruleset; the last good ruleset is unchanged$/,
        );
        t.is(String(r.stdout), '');
      });
      t.deepEqual(await savesOf(host), before, 'both families are back on the snapshot (counters aside: the probe made traffic)');
      t.is(await connectFrom(host, PEER4, PORT), 'open', 'traffic works again');
      t.is(readFileSync(path.join(state, 'last-good.json'), 'utf8'), lastGood, 'the last good ruleset is unchanged');
      for (const f of JOURNAL_FILES) t.false(existsSync(path.join(state, f)), `${f} is gone`);
    });
  }));

test('rules that do not block the probes are applied and recorded; a failing command probe rolls back', (t) =>
  withPair(async ({ host, peer }) => {
    await listen(peer, PORT);
    await withTempDir('nfgit-state-', (state) =>
      withRulesDir({ '10-rules': OLD_RULES }, (oldRules) =>
        withRulesDir({ '10-rules': `${HARMLESS}${NEW_RULES}` }, async (newRules) => {
          t.is((await applyWith(oldRules, host, state, [])).exitCode, 0);
          const old = await savesOf(host);
          const ok = await applyWith(newRules, host, state, [
            '--probe-tcp',
            `${PEER4}:${PORT}`,
            '--probe-command',
            'true',
            '--probe-deadline',
            '5',
          ]);
          t.is(ok.exitCode, 0, String(ok.stderr));
          const applied = await savesOf(host);
          t.regex(applied.ipv4, /--dport 7102 -j DROP/);
          t.is(JSON.parse(readFileSync(path.join(state, 'last-good.json'), 'utf8')).source, newRules, 'recorded as the last good ruleset');

          // Back to the old rules, with a probe that never passes.
          const bad = await applyWith(oldRules, host, state, ['--probe-command', `test -e ${state}/never`, '--probe-deadline', '1']);
          t.is(bad.exitCode, 1);
          t.regex(
            String(bad.stderr),
            new RegExp(`^nfgit: rolled back: probe command test -e ${state}/never failed \\(exit status 1; \\d+ tries within 1 s\\)\\.`),
          );
          t.deepEqual(await savesOf(host), applied);
          t.notDeepEqual(applied, old);
          t.is(JSON.parse(readFileSync(path.join(state, 'last-good.json'), 'utf8')).source, newRules);
        }),
      ),
    );
  }));

test('SIGKILL during probation, then restore-last: both families are back on the snapshot, the journal is gone', (t) =>
  withNetns((ns) =>
    withTempDir('nfgit-state-', (state) =>
      withRulesDir({ '10-rules': OLD_RULES }, (oldRules) =>
        withRulesDir({ '10-rules': NEW_RULES }, async (newRules) => {
          t.is((await applyWith(oldRules, ns, state, [])).exitCode, 0);
          const old = await savesOf(ns);
          const marker = path.join(state, 'journal.probation');
          let pid: number | undefined;
          // A probe that takes 30 s: the apply sits in probation until it is killed.
          const running = applyWith(newRules, ns, state, ['--probe-command', 'sleep 30', '--probe-deadline', '60'], (p) => (pid = p));
          const until = Date.now() + 60_000;
          while (!existsSync(marker) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
          t.true(existsSync(marker), 'the journal reached probation');
          process.kill(pid as number, 'SIGKILL');
          t.is((await running).signal, 'SIGKILL');

          const journal = JSON.parse(readFileSync(path.join(state, 'journal.json'), 'utf8'));
          t.is(JSON.parse(readFileSync(marker, 'utf8')).id, journal.id);
          const mid = await savesOf(ns);
          t.regex(mid.ipv4, /-A API -p tcp -m tcp --dport 443 -j ACCEPT/, 'killed with the new ruleset loaded');
          t.regex(mid.ipv6, /-A PREROUTING -j MARK --set-xmark 0x2\/0xffffffff/);

          const r = await restoreLast(ns, state);
          t.is(r.exitCode, 0, String(r.stderr));
          t.true(
            String(r.stderr).includes(
              `("nfgit apply --rules ${newRules} --netns ${ns} --state-dir ${state} --probe-command sleep 30 --probe-deadline 60") was interrupted on probation (its probes or confirmation had not passed): put both families back on the ruleset they had before it`,
            ),
            String(r.stderr),
          );
          t.deepEqual(await savesOf(ns), old, 'both families run the old ruleset');
          t.is(
            JSON.parse(readFileSync(path.join(state, 'last-good.json'), 'utf8')).source,
            oldRules,
            'the last good ruleset is still the old one',
          );
          for (const f of JOURNAL_FILES) t.false(existsSync(path.join(state, f)), `${f} is gone`);
        }),
      ),
    ),
  ));

// Pure parts.

const tcpCase = test.macro((t, text: string, expected: ReturnType<typeof parseTcpProbe>) => t.deepEqual(parseTcpProbe(text), expected));
test('tcp probe 10.0.0.1:22', tcpCase, '10.0.0.1:22', { host: '10.0.0.1', port: 22 });
test('tcp probe [fd00::1]:443', tcpCase, '[fd00::1]:443', { host: 'fd00::1', port: 443 });
test('tcp probe gw.example:8080', tcpCase, 'gw.example:8080', { host: 'gw.example', port: 8080 });
test(
  'tcp probe without a port',
  tcpCase,
  '10.0.0.1',
  'must be HOST:PORT (an IPv6 address in brackets: [fd00::1]:22) with a port from 1 to 65535, not "10.0.0.1"',
);
test(
  'tcp probe with port 0',
  tcpCase,
  '10.0.0.1:0',
  'must be HOST:PORT (an IPv6 address in brackets: [fd00::1]:22) with a port from 1 to 65535, not "10.0.0.1:0"',
);
test(
  'tcp probe IPv6 without brackets',
  tcpCase,
  'fd00::1:22',
  'must be HOST:PORT (an IPv6 address in brackets: [fd00::1]:22) with a port from 1 to 65535, not "fd00::1:22"',
);

test('probes are named in messages as written', (t) => {
  t.is(describeProbe({ kind: 'tcp', host: 'fd00::1', port: 22 }), 'tcp [fd00::1]:22');
  t.is(describeProbe({ kind: 'command', argv: ['ping', '-c1', '10.0.0.1'] }), 'command ping -c1 10.0.0.1');
  t.is(describeProbe({ kind: 'git' }), 'git');
});

test('a git probe is retried until the deadline, and passes once the repository answers', async (t) => {
  let calls = 0;
  const flaky = async (): Promise<void> => {
    if (++calls < 3) throw new Error('cannot reach origin: ECONNREFUSED');
  };
  t.is(await runProbes({ deadlineMs: 5000, checks: [{ kind: 'git' }] }, { target: { netns: undefined }, git: flaky }), undefined);
  t.is(calls, 3);
  const down = async (): Promise<void> => {
    throw new Error('cannot reach origin: ECONNREFUSED');
  };
  t.regex(
    (await runProbes({ deadlineMs: 700, checks: [{ kind: 'git' }] }, { target: { netns: undefined }, git: down })) ?? '',
    /^probe git failed \(cannot reach origin: ECONNREFUSED; [23] tries within 0\.7 s\)$/,
  );
  t.regex(
    (await runProbes({ deadlineMs: 300, checks: [{ kind: 'git' }] }, { target: { netns: undefined } })) ?? '',
    /^probe git failed \(no git repository to reach here/,
  );
});
