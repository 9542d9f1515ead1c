/**
 * Foreign chains: Docker (both layouts), fail2ban and kube-proxy rules, created with the real iptables
 * calls those tools make, survive nfgit's applies, re-applies and rollbacks in their place, and are left
 * out of drift and diff. Everything in scratch namespaces.
 */
import test from 'ava';
import { findDrift } from '../../src/netfilter/compare-saves.js';
import { stripPreserved, parsePreserve } from '../../src/netfilter/preserve.js';
import { withRulesDir } from '../helpers/rules-dir.js';
import { apply, BODY, inNs, nfgit, saveNs, withNetns, withStandIns, withTempDir, type Saves } from './helpers/netns-apply.js';
import { DOCKER_27, DOCKER_28, FAIL2BAN, KUBE_PROXY, type Calls } from './helpers/foreign-rules.js';

const PRESERVE = ['--preserve', '@docker', '--preserve', '@fail2ban', '--preserve', '@kube-proxy'];
const SPEC = parsePreserve(['@docker', '@fail2ban', '@kube-proxy']);

const V1 = `both() { iptables "$@"; ip6tables "$@"; }
both -P INPUT DROP
both -P FORWARD DROP
both -A INPUT -i lo -j ACCEPT
both -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
both -A INPUT -p tcp --dport 22 -j ACCEPT
iptables -A FORWARD -i br-lan -o eth0 -j ACCEPT
iptables -A FORWARD -i eth0 -o br-lan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
iptables -t nat -A POSTROUTING -s 192.168.10.0/24 -o eth0 -j MASQUERADE
`;
const V2 = V1.replace('--dport 22 -j ACCEPT', '--dport 2222 -j ACCEPT') + 'both -A INPUT -p tcp --dport 443 -j ACCEPT\n';

async function run(ns: string, calls: Calls): Promise<void> {
  for (const argv of calls) {
    const r = await inNs(ns, argv);
    if (r.exitCode !== 0) throw new Error(`${argv.join(' ')}: ${String(r.stderr)}`);
  }
}

/** The foreign part of a save: its lines that stripPreserved removes (in order). */
function foreignLines(save: string): string[] {
  const kept = new Set(stripPreserved(save, SPEC).split('\n'));
  return save.split('\n').filter((l) => !kept.has(l));
}

/** The rules of one chain, in order. */
function chainRules(save: string, table: string, chain: string): string[] {
  const out: string[] = [];
  let t = '';
  for (const l of save.split('\n')) {
    if (l.startsWith('*')) t = l.slice(1);
    else if (t === table && l.startsWith(`-A ${chain} `)) out.push(l);
  }
  return out;
}

for (const [name, tools] of [
  ['Docker 27 + fail2ban + kube-proxy', [DOCKER_27, FAIL2BAN, KUBE_PROXY]],
  ['Docker 28', [DOCKER_28]],
] as const) {
  test.serial(`${name}: foreign chains survive apply, re-apply and rollback in their place; diff sees no change`, (t) =>
    withRulesDir({ '10-rules': V1 }, (v1) =>
      withRulesDir({ '10-rules': V2 }, (v2) =>
        withNetns((ns) =>
          withNetns((clean) =>
            withTempDir('nfgit-state-', async (state) => {
              // nfgit first, then the other software starts and adds its rules.
              let r = await nfgit(['apply', '--rules', v1, '--netns', ns, '--state-dir', state, ...PRESERVE]);
              t.is(r.exitCode, 0, String(r.stderr));
              for (const calls of tools) await run(ns, calls);
              const withForeign = await saveNs(ns);
              const foreign: Saves = { ipv4: foreignLines(withForeign.ipv4).join('\n'), ipv6: foreignLines(withForeign.ipv6).join('\n') };
              t.true(foreign.ipv4.includes('DOCKER'), foreign.ipv4);

              // A new commit: nfgit's rules change, the foreign lines stay, the same and in the same place.
              r = await nfgit(['apply', '--rules', v2, '--netns', ns, '--state-dir', state, ...PRESERVE]);
              t.is(r.exitCode, 0, String(r.stderr));
              const after = await saveNs(ns);
              t.is(foreignLines(after.ipv4).join('\n'), foreign.ipv4);
              t.is(foreignLines(after.ipv6).join('\n'), foreign.ipv6);
              // nfgit's part is exactly what v2 gives on a namespace without the other software.
              const cleanSave = await withTempDir('nfgit-state-', async (cleanState) => {
                const applied = await apply(v2, clean, cleanState);
                t.is(applied.exitCode, 0, String(applied.stderr));
                return saveNs(clean);
              });
              // (Tables left empty, such as the mangle table kube-proxy made, do not count.)
              t.deepEqual(findDrift(stripPreserved(cleanSave.ipv4, SPEC), stripPreserved(after.ipv4, SPEC)), []);
              t.deepEqual(findDrift(stripPreserved(cleanSave.ipv6, SPEC), stripPreserved(after.ipv6, SPEC)), []);
              // Jumps the tools inserted at the top are still first; the ones they appended still follow nfgit's rules.
              const forward = chainRules(after.ipv4, 'filter', 'FORWARD');
              if (tools.includes(DOCKER_27)) {
                t.deepEqual(forward.slice(0, 2), [
                  '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
                  '-A FORWARD -j DOCKER-USER',
                ]);
                t.is(chainRules(after.ipv4, 'filter', 'INPUT')[2], '-A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd');
                t.deepEqual(chainRules(after.ipv4, 'nat', 'POSTROUTING').slice(-2), [
                  '-A POSTROUTING -s 192.168.10.0/24 -o eth0 -j MASQUERADE',
                  '-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE',
                ]);
              } else {
                t.deepEqual(forward.slice(-2), ['-A FORWARD -j DOCKER-USER', '-A FORWARD -j DOCKER-FORWARD']);
              }

              // Re-applying changes nothing.
              r = await nfgit(['apply', '--rules', v2, '--netns', ns, '--state-dir', state, ...PRESERVE]);
              t.is(r.exitCode, 0, String(r.stderr));
              t.deepEqual(await saveNs(ns), after);
              // nfgit diff leaves the foreign chains out: nothing to change.
              r = await nfgit(['diff', '--rules', v2, '--netns', ns, ...PRESERVE]);
              t.is(r.exitCode, 0, String(r.stdout) + String(r.stderr));

              // A failed apply (IPv6 restore fails) rolls back to exactly this, foreign chains included.
              await withStandIns(ns, { 'ip6tables-restore': BODY.failRestore('ip6tables-restore') }, async (s) => {
                await s.arm();
                r = await nfgit(['apply', '--rules', v1, '--netns', ns, '--state-dir', state, ...PRESERVE], { standIns: s.dir });
                t.not(r.exitCode, 0);
                t.true(s.has('fired'));
              });
              t.deepEqual(await saveNs(ns), after);

              // restore-last (boot, drift repair) keeps them too.
              r = await nfgit(['restore-last', '--netns', ns, '--state-dir', state, ...PRESERVE]);
              t.is(r.exitCode, 0, String(r.stderr));
              t.deepEqual(await saveNs(ns), after);

              // Without --preserve, a restore owns the whole table: the foreign chains are gone (why the option exists).
              r = await nfgit(['apply', '--rules', v2, '--netns', ns, '--state-dir', state]);
              t.is(r.exitCode, 0, String(r.stderr));
              t.deepEqual(foreignLines((await saveNs(ns)).ipv4), []);
            }),
          ),
        ),
      ),
    ),
  );
}

test('a rule file that defines a preserved chain is refused at its line', (t) =>
  withRulesDir({ '10-rules': 'iptables -P INPUT DROP\n\niptables -N DOCKER-MINE\n' }, async (dir) => {
    const r = await nfgit(['check', '--rules', dir, '--preserve', '@docker']);
    t.is(r.exitCode, 1);
    t.regex(String(r.stderr), /10-rules:3: iptables: chain "DOCKER-MINE" in table filter matches the preset @docker \(preserve\)/);
    const ok = await nfgit(['check', '--rules', dir]);
    t.is(ok.exitCode, 0, String(ok.stderr));
    const bad = await nfgit(['check', '--rules', dir, '--preserve', 'nosuch:X*', '--preserve', '@dockr']);
    t.is(bad.exitCode, 2);
    t.regex(String(bad.stderr), /unknown table "nosuch"/);
    t.regex(String(bad.stderr), /unknown preset "@dockr"/);
  }));
