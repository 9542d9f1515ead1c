/**
 * `nfgit apply` and `nfgit restore-last` against the real kernel, each test in its own named network
 * namespace: what is applied is what the compiled rulesets give, tables dropped from the rules are
 * flushed, restore-last puts the last good ruleset back, a missing namespace is refused, and a failing
 * host command is a warning.
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { loadAndSave, normalizeSave } from '../helpers/netns.js';
import { withRulesDir } from '../helpers/rules-dir.js';
import {
  apply,
  compileRules,
  freshNsName,
  inNs,
  restoreLast,
  saveHost,
  saveNs,
  stripComments,
  tableBlocks,
  withNetns,
  withTempDir,
  type Saves,
} from './helpers/netns-apply.js';
import { OLD_RULES } from './helpers/rulesets.js';

/** First rules: nat in both families, user chains, a DROP policy, an odd comment string. */
const RULES_A = `iptables -P INPUT DROP
iptables -N WEB
iptables -A WEB -p tcp --dport 80 -j ACCEPT
iptables -A INPUT -i lo -j ACCEPT
iptables -A INPUT -p tcp -j WEB
iptables -t nat -A PREROUTING -p tcp --dport 8080 -j REDIRECT --to-ports 80
iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE
ip6tables -N SSH6
ip6tables -A SSH6 -p tcp --dport 22 -m comment --comment "it's ssh" -j ACCEPT
ip6tables -A INPUT -j SSH6
ip6tables -t nat -A POSTROUTING -o eth0 -j MASQUERADE
`;

/** Second rules: no nat at all, WEB and SSH6 gone, a new chain, a raw table rule. */
const RULES_B = `iptables -P INPUT DROP
iptables -N API
iptables -A API -p tcp --dport 443 -j ACCEPT
iptables -A INPUT -i lo -j ACCEPT
iptables -A INPUT -p tcp -j API
iptables -t raw -A PREROUTING -p udp --dport 53 -j CT --notrack
ip6tables -P FORWARD DROP
ip6tables -A INPUT -p ipv6-icmp -j ACCEPT
`;

const EMPTY_NAT = [
  '*nat',
  ':PREROUTING ACCEPT [0:0]',
  ':INPUT ACCEPT [0:0]',
  ':OUTPUT ACCEPT [0:0]',
  ':POSTROUTING ACCEPT [0:0]',
  'COMMIT',
].join('\n');

/** Whether a table block holds anything (a rule, a user chain, a policy other than ACCEPT). */
function blockHasContent(block: string): boolean {
  return block.split('\n').some((l) => l.startsWith('-A ') || (l.startsWith(':') && !/ ACCEPT \[\d+:\d+\]$/.test(l)));
}

/**
 * The namespace runs exactly what loading the compiled rulesets into a fresh namespace gives: the same
 * ruleset (normalized), every table with content byte for byte, and the tables the namespace has
 * beyond that empty.
 */
async function assertRunsCompiled(t: import('ava').ExecutionContext, ns: string, rules: string, state: string): Promise<Saves> {
  const compiled = await compileRules(rules);
  const fresh = await loadAndSave(compiled.ipv4, compiled.ipv6);
  const got = await saveNs(ns);
  for (const family of ['ipv4', 'ipv6'] as const) {
    const want = stripComments(fresh[family]);
    t.is(normalizeSave(got[family]), normalizeSave(want), `${family}: same ruleset as the compiled one loaded into a fresh namespace`);
    const wantBlocks = tableBlocks(want);
    const gotBlocks = tableBlocks(got[family]);
    for (const [table, block] of wantBlocks) {
      if (blockHasContent(block)) t.is(gotBlocks.get(table), block, `${family} ${table}: byte for byte`);
    }
    for (const [table, block] of gotBlocks) {
      if (!blockHasContent(block))
        t.is(block as string | undefined, wantBlocks.get(table), `${family} ${table}: an empty table is the compiled empty table`);
    }
    // The state directory's copy is the compiled restore input.
    t.is(readFileSync(path.join(state, family === 'ipv4' ? 'rules.v4' : 'rules.v6'), 'utf8'), compiled[family]);
  }
  return got;
}

test.serial('apply, then apply changed rules: the namespace runs the compiled rulesets; a table dropped from the rules is flushed', (t) =>
  withRulesDir({ '10-rules': RULES_A }, (a) =>
    withRulesDir({ '10-rules': RULES_B }, (b) =>
      withNetns((ns) =>
        withTempDir('nfgit-state-', async (state) => {
          const r1 = await apply(a, ns, state);
          t.is(r1.exitCode, 0, String(r1.stderr));
          t.regex(String(r1.stdout), new RegExp(`^applied ${a} \\(1 files\\) to network namespace ${ns} in [\\d.]+ s$`, 'm'));
          const first = await assertRunsCompiled(t, ns, a, state);
          t.regex(first.ipv4, /^-A POSTROUTING -o eth0 -j MASQUERADE$/m);
          t.regex(first.ipv6, /^-A POSTROUTING -o eth0 -j MASQUERADE$/m);

          const r2 = await apply(b, ns, state);
          t.is(r2.exitCode, 0, String(r2.stderr));
          t.regex(
            String(r2.stdout),
            /^ {2}IPv4: 4 rule\(s\) in filter, nat, raw; \+3 -4 rules; chains added: filter\/API; chains removed: filter\/WEB$/m,
          );
          t.regex(
            String(r2.stdout),
            /^ {2}IPv6: 1 rule\(s\) in filter, nat; \+1 -3 rules; chains removed: filter\/SSH6; policies changed: filter\/FORWARD$/m,
          );
          const second = await assertRunsCompiled(t, ns, b, state);
          // nat was used by the first rules and not by the second: flushed, in both families.
          t.is(tableBlocks(second.ipv4).get('nat'), EMPTY_NAT);
          t.is(tableBlocks(second.ipv6).get('nat'), EMPTY_NAT);
          t.notRegex(second.ipv4, /WEB/);
          t.notRegex(second.ipv6, /SSH6/);
          t.false(existsSync(path.join(state, 'journal.json')));
          t.is(JSON.parse(readFileSync(path.join(state, 'last-good.json'), 'utf8')).source, b);
        }),
      ),
    ),
  ),
);

test.serial('restore-last with no last good ruleset exits 0 saying so, and touches nothing', (t) =>
  withNetns((ns) =>
    withTempDir('nfgit-state-', async (state) => {
      await inNs(ns, ['iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', '7', '-j', 'ACCEPT']);
      const before = await saveNs(ns);
      const r = await restoreLast(ns, state);
      t.is(r.exitCode, 0, String(r.stderr));
      t.is(String(r.stdout), `no last good ruleset in ${state}: nothing to restore`);
      t.is(String(r.stderr), '');
      t.deepEqual(await saveNs(ns), before);
    }),
  ),
);

test.serial('restore-last puts the last good ruleset back after a hand flush (iptables -F/-X, then nft flush ruleset)', (t) =>
  withRulesDir({ '10-rules': RULES_A }, (a) =>
    withNetns((ns) =>
      withTempDir('nfgit-state-', async (state) => {
        const r1 = await apply(a, ns, state);
        t.is(r1.exitCode, 0, String(r1.stderr));
        const applied = await saveNs(ns);

        for (const tool of ['iptables', 'ip6tables']) {
          for (const table of ['filter', 'nat']) {
            await inNs(ns, [tool, '-t', table, '-F']);
            await inNs(ns, [tool, '-t', table, '-X']);
          }
          await inNs(ns, [tool, '-P', 'INPUT', 'ACCEPT']);
        }
        const flushed = await saveNs(ns);
        t.notDeepEqual(flushed, applied);
        t.false(blockHasContent(tableBlocks(flushed.ipv4).get('filter') ?? ''));

        const r2 = await restoreLast(ns, state);
        t.is(r2.exitCode, 0, String(r2.stderr));
        t.regex(String(r2.stdout), new RegExp(`^restored the last good ruleset \\(${a}, applied \\S+\\) to network namespace ${ns}`));
        t.deepEqual(await saveNs(ns), applied);

        await execNft(ns);
        t.deepEqual(await saveNs(ns), { ipv4: '', ipv6: '' });
        const r3 = await restoreLast(ns, state);
        t.is(r3.exitCode, 0, String(r3.stderr));
        t.deepEqual(await saveNs(ns), applied);
      }),
    ),
  ),
);

async function execNft(ns: string): Promise<void> {
  await inNs(ns, ['nft', 'flush', 'ruleset']);
}

test.serial('a --netns that does not exist is refused with a clear message, and nothing happens', (t) =>
  withRulesDir({ '10-rules': 'iptables -A INPUT -p tcp --dport 9 -j ACCEPT\n' }, (rules) =>
    withTempDir('nfgit-state-', async (tmp) => {
      const hostBefore = await saveHost();
      const missing = freshNsName();
      t.false(existsSync(`/run/netns/${missing}`));
      const state = path.join(tmp, 'state');

      const r = await apply(rules, missing, state);
      t.is(r.exitCode, 2);
      t.is(
        String(r.stderr),
        `nfgit: network namespace "${missing}" does not exist (no /run/netns/${missing}); create it with "ip netns add ${missing}" or check the name`,
      );
      t.is(String(r.stdout), '');
      t.false(existsSync(state), 'the state directory is not even created');

      const rl = await restoreLast(missing, state);
      t.is(rl.exitCode, 2);
      t.regex(String(rl.stderr), new RegExp(`network namespace "${missing}" does not exist`));
      t.false(existsSync(state));

      // A name that is not a plain namespace name (a path) is refused as a usage error too, saying what a name is.
      const odd = await apply(rules, '../../proc/1/ns/net', state);
      t.is(odd.exitCode, 2);
      t.regex(String(odd.stderr), /^nfgit: --netns must be a name of letters, digits, .* not "\.\.\/\.\.\/proc\/1\/ns\/net"$/);

      // With a last good ruleset recorded (for another namespace), restore-last still refuses.
      await mkdir(state);
      await withNetns(async (ns) => {
        const ok = await apply(rules, ns, state);
        t.is(ok.exitCode, 0, String(ok.stderr));
      });
      const lastGood = readFileSync(path.join(state, 'last-good.json'), 'utf8');
      const again = await restoreLast(missing, state);
      t.is(again.exitCode, 2);
      t.regex(String(again.stderr), /does not exist/);
      t.is(readFileSync(path.join(state, 'last-good.json'), 'utf8'), lastGood);

      t.deepEqual(await saveHost(), hostBefore, "this machine's own rulesets are untouched");
    }),
  ),
);

test.serial('a failing host command leaves the ruleset applied, exits 0, and warns with the command and file:line', (t) =>
  withNetns((ns) =>
    withTempDir('nfgit-state-', async (tmp) => {
      const marker = path.join(tmp, 'identify');
      const rules = `${OLD_RULES}main false\nmain sh -c '${'/usr/sbin/ip'} netns identify > ${marker}'\n`;
      await withRulesDir({ '10-rules': rules }, async (dir) => {
        const state = path.join(tmp, 'state');
        const r = await apply(dir, ns, state);
        t.is(r.exitCode, 0, String(r.stderr));
        const falseLine = rules.split('\n').indexOf('main false') + 1;
        const warning = `warning: host command "false" (${dir}/10-rules:${falseLine}) failed: exit status 1`;
        t.true(String(r.stderr).startsWith(warning), String(r.stderr));
        t.regex(String(r.stderr), /the ruleset stays applied\n?$/);
        t.is(
          String(r.stderr)
            .split('\n')
            .filter((l) => l !== '').length,
          1,
          'one warning, nothing else',
        );
        // The ruleset is applied and recorded.
        const saves = await saveNs(ns);
        t.regex(saves.ipv4, /^-A WEB -p tcp -m tcp --dport 80 -j ACCEPT$/m);
        t.regex(saves.ipv6, /^:INPUT DROP \[0:0\]$/m);
        t.true(existsSync(path.join(state, 'last-good.json')));
        // The next host command still ran, inside the namespace.
        t.is(readFileSync(marker, 'utf8').trim(), ns);
      });
    }),
  ),
);

test.serial('a refused commit (compile or staging error) changes nothing: rulesets, last good ruleset, no journal', (t) =>
  withRulesDir({ '10-rules': OLD_RULES }, (good) =>
    withNetns((ns) =>
      withTempDir('nfgit-state-', async (state) => {
        const r1 = await apply(good, ns, state);
        t.is(r1.exitCode, 0, String(r1.stderr));
        const before = await saveNs(ns);
        const lastGood = readFileSync(path.join(state, 'last-good.json'), 'utf8');
        const bad = [
          // refused by the compiler
          'iptables -F\niptables -P INPUT DROP\niptables -A INPUT -p tcp --dporrt 22 -j ACCEPT\n',
          // a jump to a chain that does not exist
          'iptables -F\niptables -P INPUT DROP\niptables -A INPUT -j NOPE\nip6tables -P INPUT DROP\n',
          // fine for IPv4, wrong for IPv6 only
          'iptables -P INPUT DROP\nip6tables -A INPUT -p tcp --dport 99999 -j ACCEPT\n',
        ];
        for (const text of bad) {
          await withRulesDir({ '10-rules': text }, async (dir) => {
            const r = await apply(dir, ns, state);
            t.is(r.exitCode, 1, String(r.stderr));
            t.regex(String(r.stderr), new RegExp(`^${dir}/10-rules:\\d+: `), 'the error names the rule file and line');
          });
          t.deepEqual(await saveNs(ns), before);
          t.is(readFileSync(path.join(state, 'last-good.json'), 'utf8'), lastGood);
          t.false(existsSync(path.join(state, 'journal.json')));
        }
      }),
    ),
  ),
);
