import test from 'ava';
import { mergePreserved, parsePreserve, reservedChainProblem, stripPreserved } from '../../src/apply/preserve.js';

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
  const { text } = mergePreserved(restore, live, spec, mine);
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
