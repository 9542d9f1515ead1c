/**
 * Rule files that add to a preserved chain (Docker's DOCKER-USER, the chain Docker documents for an
 * admin's own rules): nfgit's part goes first, Docker's rules there (its trailing RETURN) stay after
 * it, through apply, re-apply, a failed apply, restore-last and the repair of a deleted rule. Docker's
 * real iptables calls are loaded first; everything runs in scratch namespaces.
 */
import test from 'ava';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { withRulesDir } from '../helpers/rules-dir.js';
import { BODY, inNs, nfgit, saveNs, withNetns, withStandIns, withTempDir } from './helpers/netns-apply.js';
import { DOCKER_27, type Calls } from './helpers/foreign-rules.js';

const PRESERVE = ['--preserve', '@docker'];

const BASE = `iptables -P FORWARD DROP
ip6tables -P FORWARD DROP
iptables -A FORWARD -i br-lan -o eth0 -j ACCEPT
`;
const V1 = `${BASE}iptables -A DOCKER-USER -s 10.0.0.0/8 -j ACCEPT
iptables -I DOCKER-USER -i eth0 -p tcp --dport 25 -j DROP
`;
const V2 = `${BASE}iptables -A DOCKER-USER -s 192.168.0.0/16 -j ACCEPT
iptables -I DOCKER-USER -i eth0 -p tcp --dport 25 -j DROP
iptables -I DOCKER-USER 2 -s 198.51.100.0/24 -j DROP
`;
const V1_PART = ['-A DOCKER-USER -i eth0 -p tcp -m tcp --dport 25 -j DROP', '-A DOCKER-USER -s 10.0.0.0/8 -j ACCEPT'];
const V2_PART = [
  '-A DOCKER-USER -i eth0 -p tcp -m tcp --dport 25 -j DROP',
  '-A DOCKER-USER -s 198.51.100.0/24 -j DROP',
  '-A DOCKER-USER -s 192.168.0.0/16 -j ACCEPT',
];

async function run(ns: string, calls: Calls): Promise<void> {
  for (const argv of calls) {
    const r = await inNs(ns, argv);
    if (r.exitCode !== 0) throw new Error(`${argv.join(' ')}: ${String(r.stderr)}`);
  }
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

/** The save without the rules of DOCKER-USER: what nfgit's part of it must not change. */
function outsideDockerUser(save: string): string {
  return save
    .split('\n')
    .filter((l) => !l.startsWith('-A DOCKER-USER '))
    .join('\n');
}

test.serial(
  "Docker 27: rules added to DOCKER-USER go first, Docker's RETURN stays after them, through apply, re-apply, rollback and restore-last",
  (t) =>
    withRulesDir({ '10-rules': V1 }, (v1) =>
      withRulesDir({ '10-rules': V2 }, (v2) =>
        withNetns((ns) =>
          withTempDir('nfgit-state-', async (state) => {
            // Docker runs first: DOCKER-USER holds its RETURN, FORWARD jumps to it first.
            await run(ns, DOCKER_27);
            const docker = await saveNs(ns);
            let r = await nfgit(['apply', '--rules', v1, '--netns', ns, '--state-dir', state, ...PRESERVE]);
            t.is(r.exitCode, 0, String(r.stderr));
            let now = await saveNs(ns);
            t.deepEqual(chainRules(now.ipv4, 'filter', 'DOCKER-USER'), [...V1_PART, '-A DOCKER-USER -j RETURN']);
            t.is(chainRules(now.ipv4, 'filter', 'FORWARD')[0], '-A FORWARD -j DOCKER-USER');
            // Docker's other chains and rules are as Docker left them.
            const dockerChains = (save: string): string[] =>
              outsideDockerUser(save)
                .split('\n')
                .filter((l) => /DOCKER|docker0/.test(l));
            t.deepEqual(dockerChains(now.ipv4), dockerChains(docker.ipv4));

            // A new commit replaces nfgit's part only.
            r = await nfgit(['apply', '--rules', v2, '--netns', ns, '--state-dir', state, ...PRESERVE]);
            t.is(r.exitCode, 0, String(r.stderr));
            t.regex(String(r.stdout), /\+2 -1 rules/);
            const after = await saveNs(ns);
            t.deepEqual(chainRules(after.ipv4, 'filter', 'DOCKER-USER'), [...V2_PART, '-A DOCKER-USER -j RETURN']);
            t.deepEqual(dockerChains(after.ipv4), dockerChains(docker.ipv4));

            // Re-applying changes nothing (no part kept twice), and diff sees nothing to do.
            r = await nfgit(['apply', '--rules', v2, '--netns', ns, '--state-dir', state, ...PRESERVE]);
            t.is(r.exitCode, 0, String(r.stderr));
            t.deepEqual(await saveNs(ns), after);
            r = await nfgit(['diff', '--rules', v2, '--netns', ns, '--state-dir', state, ...PRESERVE]);
            t.is(r.exitCode, 0, String(r.stdout) + String(r.stderr));
            // Going back to v1 would change nfgit's part of DOCKER-USER, and diff says so.
            r = await nfgit(['diff', '--rules', v1, '--netns', ns, '--state-dir', state, ...PRESERVE]);
            t.is(r.exitCode, 1, String(r.stdout) + String(r.stderr));
            t.regex(String(r.stdout), /10\.0\.0\.0\/8/);
            t.regex(String(r.stdout), /198\.51\.100\.0\/24/);
            t.notRegex(String(r.stdout), /-j RETURN/);

            // A failed apply (the IPv6 restore fails) puts the old part back, Docker's rules with it.
            await withStandIns(ns, { 'ip6tables-restore': BODY.failRestore('ip6tables-restore') }, async (s) => {
              await s.arm();
              r = await nfgit(['apply', '--rules', v1, '--netns', ns, '--state-dir', state, ...PRESERVE], { standIns: s.dir });
              t.not(r.exitCode, 0);
              t.true(s.has('fired'));
            });
            t.deepEqual(await saveNs(ns), after);

            // restore-last (boot, drift repair): the same.
            r = await nfgit(['restore-last', '--netns', ns, '--state-dir', state, ...PRESERVE]);
            t.is(r.exitCode, 0, String(r.stderr));
            t.deepEqual(await saveNs(ns), after);

            // One of nfgit's rules deleted by hand, one of someone else's added: restore-last puts nfgit's
            // back and keeps the other (after nfgit's part), RETURN last and once.
            await run(ns, [
              ['iptables', '-D', 'DOCKER-USER', '-s', '198.51.100.0/24', '-j', 'DROP'],
              ['iptables', '-I', 'DOCKER-USER', '-s', '203.0.113.9', '-j', 'DROP'],
            ]);
            r = await nfgit(['restore-last', '--netns', ns, '--state-dir', state, ...PRESERVE]);
            t.is(r.exitCode, 0, String(r.stderr));
            now = await saveNs(ns);
            t.deepEqual(chainRules(now.ipv4, 'filter', 'DOCKER-USER'), [
              ...V2_PART,
              '-A DOCKER-USER -s 203.0.113.9/32 -j DROP',
              '-A DOCKER-USER -j RETURN',
            ]);
            // restore-last recorded nfgit's part only: the next apply does not take the foreign rule for nfgit's.
            r = await nfgit(['apply', '--rules', v1, '--netns', ns, '--state-dir', state, ...PRESERVE]);
            t.is(r.exitCode, 0, String(r.stderr));
            now = await saveNs(ns);
            t.deepEqual(chainRules(now.ipv4, 'filter', 'DOCKER-USER'), [
              ...V1_PART,
              '-A DOCKER-USER -s 203.0.113.9/32 -j DROP',
              '-A DOCKER-USER -j RETURN',
            ]);
          }),
        ),
      ),
    ),
);

test.serial('a probation rollback puts back the old part of DOCKER-USER with what Docker added meanwhile', (t) =>
  withRulesDir({ '10-rules': V1 }, (v1) =>
    withRulesDir({ '10-rules': V2 }, (v2) =>
      withNetns((ns) =>
        withTempDir('nfgit-state-', async (state) => {
          await run(ns, DOCKER_27);
          let r = await nfgit(['apply', '--rules', v1, '--netns', ns, '--state-dir', state, ...PRESERVE]);
          t.is(r.exitCode, 0, String(r.stderr));
          // The probe plays Docker starting a container while the new ruleset is on probation, then fails.
          const probe = path.join(state, 'probe.sh');
          await writeFile(
            probe,
            `#!/bin/sh
iptables -C DOCKER-USER -s 203.0.113.7/32 -j DROP 2>/dev/null || iptables -I DOCKER-USER -s 203.0.113.7/32 -j DROP
iptables -C DOCKER -d 172.17.0.3/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 443 -j ACCEPT 2>/dev/null || iptables -A DOCKER -d 172.17.0.3/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 443 -j ACCEPT
exit 1
`,
          );
          await chmod(probe, 0o700);
          r = await nfgit([
            'apply',
            '--rules',
            v2,
            '--netns',
            ns,
            '--state-dir',
            state,
            '--probe-command',
            probe,
            '--probe-deadline',
            '2',
            ...PRESERVE,
          ]);
          t.not(r.exitCode, 0, String(r.stdout));
          t.regex(String(r.stderr), /rolled back/);
          const now = await saveNs(ns);
          t.deepEqual(chainRules(now.ipv4, 'filter', 'DOCKER-USER'), [
            ...V1_PART,
            '-A DOCKER-USER -s 203.0.113.7/32 -j DROP',
            '-A DOCKER-USER -j RETURN',
          ]);
          t.is(
            chainRules(now.ipv4, 'filter', 'DOCKER').at(-1),
            '-A DOCKER -d 172.17.0.3/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 443 -j ACCEPT',
          );
        }),
      ),
    ),
  ),
);

// Found on the way: restore-last recorded the target's whole save as nfgit's, so the next restore-last
// (a boot after a drift repair) took Docker's FORWARD rules for nfgit's and dropped them.
test.serial("restore-last twice keeps Docker's rules in FORWARD: the record holds nfgit's rules only", (t) =>
  withRulesDir({ '10-rules': BASE }, (rules) =>
    withNetns((ns) =>
      withTempDir('nfgit-state-', async (state) => {
        await run(ns, DOCKER_27);
        let r = await nfgit(['apply', '--rules', rules, '--netns', ns, '--state-dir', state, ...PRESERVE]);
        t.is(r.exitCode, 0, String(r.stderr));
        const applied = await saveNs(ns);
        for (let i = 0; i < 2; i++) {
          r = await nfgit(['restore-last', '--netns', ns, '--state-dir', state, ...PRESERVE]);
          t.is(r.exitCode, 0, String(r.stderr));
          t.deepEqual(await saveNs(ns), applied);
        }
        t.true(chainRules(applied.ipv4, 'filter', 'FORWARD').includes('-A FORWARD -i docker0 ! -o docker0 -j ACCEPT'));
      }),
    ),
  ),
);

test.serial('Docker not running: nfgit creates DOCKER-USER with its part; Docker, started after, keeps it and adds its own', (t) =>
  withRulesDir({ '10-rules': `${V1}iptables -A FORWARD -j DOCKER-USER\n` }, (v1) =>
    withNetns((ns) =>
      withTempDir('nfgit-state-', async (state) => {
        let r = await nfgit(['apply', '--rules', v1, '--netns', ns, '--state-dir', state, ...PRESERVE]);
        t.is(r.exitCode, 0, String(r.stderr));
        let now = await saveNs(ns);
        t.deepEqual(chainRules(now.ipv4, 'filter', 'DOCKER-USER'), V1_PART);
        t.deepEqual(chainRules(now.ipv4, 'filter', 'FORWARD'), ['-A FORWARD -i br-lan -o eth0 -j ACCEPT', '-A FORWARD -j DOCKER-USER']);
        // Docker (≤27) starting: it keeps an existing DOCKER-USER (no -N), appends its RETURN, and moves
        // the jump to it to the top of FORWARD (-D, then -I).
        const start = DOCKER_27.filter((argv) => argv.join(' ') !== 'iptables -N DOCKER-USER');
        await run(ns, [['iptables', '-D', 'FORWARD', '-j', 'DOCKER-USER'], ...start]);
        const started = await saveNs(ns);
        t.deepEqual(chainRules(started.ipv4, 'filter', 'DOCKER-USER'), [...V1_PART, '-A DOCKER-USER -j RETURN']);
        // Re-applying keeps Docker's RETURN after nfgit's part, and one jump to the chain, not two.
        r = await nfgit(['apply', '--rules', v1, '--netns', ns, '--state-dir', state, ...PRESERVE]);
        t.is(r.exitCode, 0, String(r.stderr));
        now = await saveNs(ns);
        t.deepEqual(chainRules(now.ipv4, 'filter', 'DOCKER-USER'), [...V1_PART, '-A DOCKER-USER -j RETURN']);
        t.is(chainRules(now.ipv4, 'filter', 'FORWARD').filter((l) => l === '-A FORWARD -j DOCKER-USER').length, 1);
        t.true(chainRules(now.ipv4, 'filter', 'FORWARD').includes('-A FORWARD -j DOCKER-ISOLATION-STAGE-1'));
        r = await nfgit(['apply', '--rules', v1, '--netns', ns, '--state-dir', state, ...PRESERVE]);
        t.is(r.exitCode, 0, String(r.stderr));
        t.deepEqual(await saveNs(ns), now);
      }),
    ),
  ),
);

test('rule files add to, insert into and jump to a preserved chain, but may not create, delete or rename it', async (t) => {
  const ok = `iptables -A DOCKER-USER -j LOG
iptables -I DOCKER-USER 1 -s 10.0.0.0/8 -j ACCEPT
iptables -A FORWARD -j DOCKER-USER
iptables -n -L DOCKER-USER >/dev/null 2>&1 || iptables -N DOCKER-USER
iptables-restore --noflush <<EOF
*filter
:DOCKER-USER - [0:0]
-A DOCKER-USER -j RETURN
COMMIT
EOF
`;
  await withRulesDir({ '10-rules': ok }, async (dir) => {
    const r = await nfgit(['check', '--rules', dir, ...PRESERVE]);
    t.is(r.exitCode, 0, String(r.stderr));
  });
  for (const [line, why] of [
    ['iptables -N DOCKER-USER', 'create'],
    ['iptables -X DOCKER-USER', 'delete'],
    ['iptables -E DOCKER-USER MINE', 'rename'],
    ['iptables -N MINE; iptables -E MINE DOCKER-MINE', 'rename onto'],
  ] as const) {
    await withRulesDir({ '10-rules': `iptables -A DOCKER-USER -j RETURN\n\n${line} || true\n` }, async (dir) => {
      const r = await nfgit(['check', '--rules', dir, ...PRESERVE]);
      t.is(r.exitCode, 1, `${why}: ${String(r.stderr)}`);
      t.regex(
        String(r.stderr),
        /10-rules:3: iptables: chain "DOCKER-(USER|MINE)" in table filter matches the preset @docker \(preserve\): it belongs to other software/,
        why,
      );
    });
  }
  // Without preserve, the chain does not exist (as with the real tools on a host without Docker), and the message says how to preserve it.
  await withRulesDir({ '10-rules': 'iptables -P FORWARD DROP\niptables -A FORWARD -j DOCKER-USER\n' }, async (dir) => {
    const r = await nfgit(['check', '--rules', dir]);
    t.is(r.exitCode, 1);
    t.regex(
      String(r.stderr),
      /10-rules:2: iptables: jump to chain "DOCKER-USER", which does not exist in table filter at this point; it is made by other software \(the preset @docker\): to add rules to it, preserve it \(--preserve @docker/,
    );
  });
});
