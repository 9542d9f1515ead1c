/**
 * Sets in a named scratch namespace: applied before the rules, replaced at once on re-apply (the rule
 * that matches the set keeps working), stale ones destroyed, and put back by a rollback.
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { swapScript } from '../../src/apply/ipset-apply.js';
import { parseIpsetSave } from '../../src/netfilter/ipset-driver.js';
import { withRulesDir } from '../helpers/rules-dir.js';
import { apply, BODY, inNs, nfgit, restoreLast, saveNs, withNetns, withStandIns, withTempDir } from './helpers/netns-apply.js';

const V1 = `ipset create web hash:ip
ipset add web 192.0.2.1
ipset add web 192.0.2.2
ipset create old hash:net
ipset add old 10.0.0.0/8
ipset create web6 hash:ip family inet6
ipset add web6 2001:db8::1
iptables -A INPUT -p tcp --dport 443 -m set --match-set web src -j ACCEPT
ip6tables -A INPUT -p tcp --dport 443 -m set --match-set web6 src -j ACCEPT
`;
const V2 = `ipset create web hash:ip
ipset add web 192.0.2.3
ipset create fresh hash:ip,port
ipset add fresh 192.0.2.9,udp:53
ipset create web6 hash:ip family inet6
ipset add web6 2001:db8::2
iptables -A INPUT -p tcp --dport 443 -m set --match-set web src -j ACCEPT
iptables -A INPUT -m set --match-set fresh dst,dst -j ACCEPT
ip6tables -A INPUT -p tcp --dport 443 -m set --match-set web6 src -j ACCEPT
`;

/** `ipset list -o save` members of one set, sorted; undefined when the set does not exist. */
async function members(ns: string, set: string): Promise<string[] | undefined> {
  const r = await inNs(ns, ['ipset', 'list', set, '-o', 'save']).catch(() => undefined);
  if (r === undefined) return undefined;
  return String(r.stdout)
    .split('\n')
    .filter((l) => l.startsWith('add '))
    .map((l) => l.split(' ')[2] as string)
    .sort();
}

async function setNames(ns: string): Promise<string[]> {
  return String((await inNs(ns, ['ipset', 'list', '-n'])).stdout)
    .split('\n')
    .filter((l) => l !== '')
    .sort();
}

test('swapScript fills a temporary set and swaps it in; a new set is created empty first; a type change is destroy and create', (t) => {
  const want = parseIpsetSave('create a hash:ip family inet\nadd a 1.2.3.4\ncreate b hash:ip family inet\ncreate c hash:net family inet\n');
  const live = new Map(
    parseIpsetSave('create a hash:ip family inet hashsize 1024\nadd a 9.9.9.9\ncreate c hash:ip family inet\n').map((s) => [s.name, s]),
  );
  const lines = swapScript(want, live)
    .trim()
    .split('\n')
    .map((l) => l.replace(/nfgit-[0-9a-f]{8}-/g, 'TMP'));
  t.deepEqual(lines, [
    'create TMP0 hash:ip family inet',
    'add TMP0 1.2.3.4',
    'swap TMP0 a',
    'destroy TMP0',
    'create TMP1 hash:ip family inet',
    'create b hash:ip family inet',
    'swap TMP1 b',
    'destroy TMP1',
    'destroy c',
    'create c hash:net family inet',
  ]);
  t.true(
    swapScript(want, live)
      .split('\n')
      .every((l) => (l.split(' ')[1] ?? '').length <= 31),
  );
});

test.serial('apply, re-apply with other members (swapped, the rule keeps matching), stale set destroyed, restore-last', (t) =>
  withRulesDir({ '10-sets': V1 }, (v1) =>
    withRulesDir({ '10-sets': V2 }, (v2) =>
      withNetns((ns) =>
        withTempDir('nfgit-state-', async (state) => {
          const r1 = await apply(v1, ns, state);
          t.is(r1.exitCode, 0, String(r1.stderr));
          t.deepEqual(await members(ns, 'web'), ['192.0.2.1', '192.0.2.2']);
          t.deepEqual(await setNames(ns), ['old', 'web', 'web6']);
          const first = await saveNs(ns);
          t.true(first.ipv4.includes('-A INPUT -p tcp -m tcp --dport 443 -m set --match-set web src -j ACCEPT'));

          const r2 = await apply(v2, ns, state);
          t.is(r2.exitCode, 0, String(r2.stderr));
          t.deepEqual(await members(ns, 'web'), ['192.0.2.3']);
          t.deepEqual(await members(ns, 'web6'), ['2001:db8::2']);
          t.deepEqual(await members(ns, 'fresh'), ['192.0.2.9,udp:53']);
          t.deepEqual(
            await setNames(ns),
            ['fresh', 'web', 'web6'],
            'the set nfgit owned and no longer has is gone; no temporary set is left',
          );
          const second = await saveNs(ns);
          t.true(second.ipv4.includes('--match-set web src -j ACCEPT'));
          const last = JSON.parse(readFileSync(path.join(state, 'last-good.json'), 'utf8')) as { ipsets?: { sets: string[] } };
          t.deepEqual(last.ipsets?.sets, ['web', 'fresh', 'web6']);

          // Boot: the sets come back with the rules.
          await inNs(ns, ['iptables', '-F']);
          await inNs(ns, ['ipset', 'flush', 'web']);
          const r3 = await restoreLast(ns, state);
          t.is(r3.exitCode, 0, String(r3.stderr));
          t.deepEqual(await members(ns, 'web'), ['192.0.2.3']);
          t.is((await saveNs(ns)).ipv4, second.ipv4);
        }),
      ),
    ),
  ),
);

test.serial('a failed apply (ip6tables-restore fails) puts the old set members back and destroys the sets it created', (t) =>
  withRulesDir({ '10-sets': V1 }, (v1) =>
    withRulesDir({ '10-sets': V2 }, (v2) =>
      withNetns((ns) =>
        withTempDir('nfgit-state-', async (state) => {
          const r1 = await apply(v1, ns, state);
          t.is(r1.exitCode, 0, String(r1.stderr));
          const before = await saveNs(ns);
          const lastGood = readFileSync(path.join(state, 'last-good.json'), 'utf8');
          await withStandIns(ns, { 'ip6tables-restore': BODY.failRestore('ip6tables-restore') }, async (s) => {
            await s.arm();
            // --full: V2 leaves IPv6's rules as they are, so the difference would not restore IPv6 at all.
            const r = await nfgit(['apply', '--full', '--rules', v2, '--netns', ns, '--state-dir', state], { standIns: s.dir });
            t.true(s.has('fired'), 'the stand-in failed the IPv6 restore');
            t.not(r.exitCode, 0);
            t.regex(String(r.stderr), /IPv6 restore failed/);
          });
          t.deepEqual(await members(ns, 'web'), ['192.0.2.1', '192.0.2.2'], 'the old members are back');
          t.deepEqual(await members(ns, 'web6'), ['2001:db8::1']);
          t.deepEqual(await members(ns, 'old'), ['10.0.0.0/8']);
          t.deepEqual(await setNames(ns), ['old', 'web', 'web6'], 'the set the failed apply created is gone');
          const after = await saveNs(ns);
          t.is(after.ipv4, before.ipv4);
          t.is(after.ipv6, before.ipv6);
          t.false(existsSync(path.join(state, 'journal.json')));
          t.is(readFileSync(path.join(state, 'last-good.json'), 'utf8'), lastGood);
        }),
      ),
    ),
  ),
);

test.serial(
  'SIGKILL after both families and the record, before the stale set was destroyed: the next command finishes the journal and destroys it',
  (t) =>
    withRulesDir({ '10-sets': V1 }, (v1) =>
      withRulesDir({ '10-sets': V2 }, (v2) =>
        withNetns((ns) =>
          withTempDir('nfgit-state-', async (state) => {
            const r1 = await apply(v1, ns, state);
            t.is(r1.exitCode, 0, String(r1.stderr));
            // `ipset destroy` (argv, not restore input) is only how an apply destroys stale sets.
            await withStandIns(ns, { ipset: BODY.killParent('before', '[ "$1" = "destroy" ]') }, async (s) => {
              await s.arm();
              let pid: number | undefined;
              const killed = await apply(v2, ns, state, { standIns: s.dir, onSpawn: (p) => (pid = p) });
              t.is(killed.signal, 'SIGKILL', `the apply was not killed: ${String(killed.stderr)}`);
              t.is(Number((await s.read('killed-pid')).trim()), pid ?? -1);
            });
            t.deepEqual(await setNames(ns), ['fresh', 'old', 'web', 'web6'], 'killed before the stale set "old" was destroyed');
            t.true(existsSync(path.join(state, 'journal.json')));

            const r = await restoreLast(ns, state);
            t.is(r.exitCode, 0, String(r.stderr));
            t.regex(String(r.stderr), /was interrupted after both families were applied: recorded it as the last good ruleset/);
            t.deepEqual(await setNames(ns), ['fresh', 'web', 'web6'], 'the set nfgit owned and the new ruleset no longer has is gone');
            t.deepEqual(await members(ns, 'fresh'), ['192.0.2.9,udp:53']);
            t.false(existsSync(path.join(state, 'journal.json')));
            const last = JSON.parse(readFileSync(path.join(state, 'last-good.json'), 'utf8')) as { source: string };
            t.is(last.source, v2);
          }),
        ),
      ),
    ),
);

test.serial(
  'a journal naming a set it cannot destroy (the rules put back use it) does not wedge: restore-last finishes it with a warning',
  (t) =>
    withRulesDir({ '10-sets': V1 }, (v1) =>
      withRulesDir({ '10-sets': V2 }, (v2) =>
        withNetns((ns) =>
          withTempDir('nfgit-state-', async (state) => {
            const r1 = await apply(v1, ns, state);
            t.is(r1.exitCode, 0, String(r1.stderr));
            const before = await saveNs(ns);
            // The sets' snapshot comes back empty (so the journal names web and web6, which the old rules
            // use, as sets the apply creates), then the apply is killed as it loads the sets.
            const body = `  if [ "$1" = "save" ] && [ ! -e "$dir/saved" ]; then touch "$dir/saved"; exit 0; fi\n${BODY.killParent('before', '[ "$1" = "restore" ]')}`;
            await withStandIns(ns, { ipset: body }, async (s) => {
              await s.arm();
              const killed = await apply(v2, ns, state, { standIns: s.dir });
              t.is(killed.signal, 'SIGKILL', `the apply was not killed: ${String(killed.stderr)}`);
            });
            const journal = JSON.parse(readFileSync(path.join(state, 'journal.json'), 'utf8')) as { ipsets: { created: string[] } };
            t.deepEqual(journal.ipsets.created, ['web', 'fresh', 'web6']);

            const r = await restoreLast(ns, state);
            t.is(r.exitCode, 0, String(r.stderr));
            t.regex(String(r.stderr), /was interrupted before both families were applied: put both back/);
            t.regex(
              String(r.stderr),
              new RegExp(
                `warning: set web, which the undone apply was to create, stays in network namespace ${ns}: the rules put back use it`,
              ),
            );
            t.regex(String(r.stderr), /warning: set web6, which/);
            t.false(existsSync(path.join(state, 'journal.json')), 'the journal is finished');
            t.deepEqual(await saveNs(ns), before);
            t.deepEqual(await setNames(ns), ['old', 'web', 'web6']);
            t.deepEqual(await members(ns, 'web'), ['192.0.2.1', '192.0.2.2'], 'restore-last loaded the last good members');
            const again = await apply(v2, ns, state);
            t.is(again.exitCode, 0, String(again.stderr));
            t.notRegex(String(again.stderr), /interrupted/);
          }),
        ),
      ),
    ),
);
