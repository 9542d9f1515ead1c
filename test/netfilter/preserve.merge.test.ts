import test from 'ava';
import {
  mergePreserved,
  ownClaims,
  ownFormAfter,
  parsePreserve,
  reservedChainProblem,
  stripPreserved,
  trustedOwnForm,
  withoutForeign,
} from '../../src/netfilter/preserve.js';

const LIVE = `*filter
:INPUT DROP [10:100]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:f2b-sshd - [0:0]
:OLD - [0:0]
[5:300] -A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd
-A INPUT -i lo -j ACCEPT
-A INPUT -j OLD
-A INPUT -s 10.9.9.9/32 -j f2b-sshd
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -j f2b-sshd
-A f2b-sshd -s 203.0.113.5/32 -j REJECT --reject-with icmp-port-unreachable
-A f2b-sshd -j RETURN
-A OLD -j ACCEPT
COMMIT
`;

const NEW = `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:WEB - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp --dport 80 -j WEB
-A WEB -j ACCEPT
COMMIT
`;

test('foreign jumps keep their place: first stays first, after k of the others stays after k, last stays last', (t) => {
  const spec = parsePreserve(['f2b-*']);
  const { text, summary } = mergePreserved(NEW, LIVE, spec);
  t.is(
    text,
    `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:WEB - [0:0]
:f2b-sshd - [0:0]
-A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp --dport 80 -j WEB
-A INPUT -s 10.9.9.9/32 -j f2b-sshd
-A INPUT -j f2b-sshd
-A WEB -j ACCEPT
-A f2b-sshd -s 203.0.113.5/32 -j REJECT --reject-with icmp-port-unreachable
-A f2b-sshd -j RETURN
COMMIT
`,
  );
  t.deepEqual(summary, { chains: ['filter/f2b-sshd'], rules: 5 });
  // Nothing to preserve: the restore input is untouched.
  t.is(mergePreserved(NEW, LIVE, parsePreserve([])).text, NEW);
});

test('stripPreserved drops the chains, their rules and the jumps to them (counters or not)', (t) => {
  const spec = parsePreserve(['f2b-*']);
  t.is(
    stripPreserved(LIVE, spec),
    `*filter
:INPUT DROP [10:100]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:OLD - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -j OLD
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A OLD -j ACCEPT
COMMIT
`,
  );
});

test("a rule a preset claims that nfgit's own ruleset also has is nfgit's: not kept twice", (t) => {
  const spec = parsePreserve(['@docker']);
  const live = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
COMMIT
`;
  const mine = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -i docker0 -o docker0 -j ACCEPT
COMMIT
`;
  const restore = mine.replace('-A FORWARD -i docker0 -o docker0 -j ACCEPT', '-A FORWARD -i docker0 -o docker0 -j ACCEPT');
  const { text } = mergePreserved(restore, live, spec, ownClaims(mine));
  t.is(text.split('\n').filter((l) => l === '-A FORWARD -i docker0 -o docker0 -j ACCEPT').length, 1);
  t.true(text.includes('-A FORWARD -i docker0 ! -o docker0 -j ACCEPT'));
});

test('patterns: per table, presets, and the mistakes that are refused', (t) => {
  const spec = parsePreserve(['nat:DOCKER', 'KUBE-*', '@fail2ban']);
  t.truthy(reservedChainProblem(spec, 'nat', 'DOCKER'));
  t.is(reservedChainProblem(spec, 'filter', 'DOCKER'), undefined);
  t.regex(reservedChainProblem(spec, 'mangle', 'KUBE-X') ?? '', /matches the pattern "KUBE-\*"/);
  t.regex(reservedChainProblem(spec, 'filter', 'f2b-ssh') ?? '', /matches the preset @fail2ban/);
  const err = t.throws(() => parsePreserve(['*', 'INPUT', 'filter:IN*', 'bad pattern!', '@nope']));
  t.deepEqual(err?.message.split('\n'), [
    'preserve: "*" would preserve every chain, leaving nothing for nfgit; name the chains of the other software (for example DOCKER*)',
    'preserve: "INPUT" matches a built-in chain; built-in chains are shared: nfgit keeps only the rules that jump to preserved chains in them',
    'preserve: "filter:IN*" matches a built-in chain; built-in chains are shared: nfgit keeps only the rules that jump to preserved chains in them',
    'preserve: "bad pattern!" is not a chain name pattern (letters, digits, "_", "-", "." and the wildcards * and ?)',
    'preserve: unknown preset "@nope"; the presets are @docker, @fail2ban, @kube-proxy, @crowdsec',
  ]);
});

// DOCKER-USER as Docker 27 leaves it, with nfgit's part of the last apply first (one rule of it deleted by hand) and a rule someone else inserted.
const DOCKER_LIVE = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
[7:420] -A FORWARD -j DOCKER-USER
-A FORWARD -o docker0 -j DOCKER
-A DOCKER-USER -s 203.0.113.9/32 -j DROP
-A DOCKER-USER -i eth0 -p tcp -m tcp --dport 25 -j DROP
-A DOCKER-USER -j RETURN
COMMIT
`;
// nfgit's part at the last apply (its canonical record).
const DOCKER_PREVIOUS = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
-A DOCKER-USER -i eth0 -p tcp -m tcp --dport 25 -j DROP
-A DOCKER-USER -s 10.0.0.0/8 -j ACCEPT
COMMIT
`;
const DOCKER_NEW = `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
-A DOCKER-USER -i eth0 -p tcp --dport 25 -j DROP
-A DOCKER-USER -s 192.168.0.0/16 -j ACCEPT
COMMIT
`;

test("a preserved chain nfgit's rules add to: nfgit's new part first, then the live rules that were not nfgit's", (t) => {
  const spec = parsePreserve(['@docker']);
  const { text, foreign } = mergePreserved(DOCKER_NEW, DOCKER_LIVE, spec, ownClaims(DOCKER_PREVIOUS));
  t.is(
    text,
    `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
:DOCKER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -o docker0 -j DOCKER
-A DOCKER-USER -i eth0 -p tcp --dport 25 -j DROP
-A DOCKER-USER -s 192.168.0.0/16 -j ACCEPT
-A DOCKER-USER -s 203.0.113.9/32 -j DROP
-A DOCKER-USER -j RETURN
COMMIT
`,
  );
  t.deepEqual(foreign.get('filter'), [
    ':DOCKER -',
    '-A DOCKER-USER -s 203.0.113.9/32 -j DROP',
    '-A DOCKER-USER -j RETURN',
    '-A FORWARD -j DOCKER-USER',
    '-A FORWARD -o docker0 -j DOCKER',
  ]);
  // What the target runs after it, less what the merge carried over, is nfgit's part: what the record keeps.
  const afterSave = text.replace('--dport 25', '-m tcp --dport 25').replace(':DOCKER - [0:0]', ':DOCKER - [0:0]');
  t.is(withoutForeign(afterSave, foreign), DOCKER_NEW.replace('--dport 25', '-m tcp --dport 25'));
  // Without a record (first apply), the whole live chain is foreign; the new part is still not doubled.
  const first = mergePreserved(
    DOCKER_NEW,
    DOCKER_LIVE.replace('-p tcp -m tcp --dport 25', '-p tcp --dport 25'),
    spec,
    ownClaims(undefined, DOCKER_NEW),
  );
  t.is(first.text.split('\n').filter((l) => l.includes('--dport 25')).length, 1);
});

test("stripPreserved with nfgit's claims keeps nfgit's part of a preserved chain: a rule of it gone is drift, a foreign one added is not", (t) => {
  const spec = parsePreserve(['@docker']);
  const claims = ownClaims(DOCKER_PREVIOUS);
  t.is(
    stripPreserved(DOCKER_LIVE, spec, claims),
    `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
-A DOCKER-USER -i eth0 -p tcp -m tcp --dport 25 -j DROP
COMMIT
`,
  );
  t.is(stripPreserved(DOCKER_PREVIOUS, spec, claims), DOCKER_PREVIOUS);
});

test("a record saved from the live target with the other software in it is not trusted to say what is nfgit's", (t) => {
  const spec = parsePreserve(['@docker']);
  t.is(trustedOwnForm(DOCKER_PREVIOUS, DOCKER_NEW, spec), DOCKER_PREVIOUS);
  t.is(trustedOwnForm(DOCKER_LIVE, DOCKER_NEW, spec), undefined);
  t.is(trustedOwnForm(DOCKER_PREVIOUS, undefined, spec), undefined);
});

test("after an interrupted apply, the merge done again from its journal tells nfgit's part of the target's save", (t) => {
  const spec = parsePreserve(['@docker']);
  const { text } = mergePreserved(DOCKER_NEW, DOCKER_LIVE, spec, ownClaims(DOCKER_PREVIOUS));
  const saved = text.replace('--dport 25', '-m tcp --dport 25');
  t.is(ownFormAfter(saved, DOCKER_NEW, DOCKER_LIVE, spec, DOCKER_PREVIOUS), DOCKER_NEW.replace('--dport 25', '-m tcp --dport 25'));
});
