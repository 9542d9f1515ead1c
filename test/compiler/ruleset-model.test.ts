import test from 'ava';
import { RulesetModel, looseKey } from '../../src/compiler/ruleset-model.js';
import { parseArgv } from '../../src/compiler/parse-argv.js';
import { renderRestore } from '../../src/compiler/render-restore.js';

/** Applies iptables argument lines to a fresh IPv4 model; returns the first failure message or the rules. */
function run(lines: string[]): { error?: string; rules: string[] } {
  const m = new RulesetModel('ipv4');
  for (const [i, line] of lines.entries()) {
    const p = parseArgv('ipv4', line.split(' '));
    if (!p.ok) return { error: `${i + 1}: ${p.message}`, rules: [] };
    const r = m.apply(p.call.table, p.call.command, [{ file: 'f', line: i + 1 }]);
    if (r.ok === false) return { error: `${i + 1}: ${r.message}`, rules: [] };
    if (r.ok !== true) return { error: `${i + 1}: needs-canonical`, rules: [] };
  }
  return {
    rules: renderRestore(m, ['filter', 'nat'])
      .text.split('\n')
      .filter((l) => l.startsWith('-A') || l.startsWith(':')),
  };
}

const refuses = test.macro((t, lines: string[], error: RegExp) => {
  const r = run(lines);
  t.regex(r.error ?? '(accepted)', error);
}) as import('ava').Macro<[string[], RegExp]>;

test('append to a missing chain', refuses, ['-A NOPE -j ACCEPT'], /^1: chain "NOPE" does not exist in table filter/);
test('-N of an existing chain', refuses, ['-N X', '-N X'], /^2: chain "X" already exists/);
test('-N of a built-in chain', refuses, ['-N INPUT'], /already exists/);
test('-N clashing with a target', refuses, ['-N LOG'], /clashes with the target/);
test('-N too long', refuses, ['-N ' + 'x'.repeat(29)], /too long: 29 characters, at most 28/);
test('-N starting with a dash', refuses, ['-N -x'], /must not start with "-"/);
test(
  '-X of a referenced chain',
  refuses,
  ['-N X', '-A INPUT -j X', '-X X'],
  /^3: cannot delete chain "X": it is still referenced by 1 rule/,
);
test('-X of a non-empty chain', refuses, ['-N X', '-A X -j ACCEPT', '-X X'], /not empty/);
test('-X of a built-in chain', refuses, ['-X INPUT'], /built-in chain/);
test('-X of all with a busy chain', refuses, ['-N X', '-N Y', '-A Y -j ACCEPT', '-X'], /cannot delete all user chains.*"Y"/);
test('-P on a user chain', refuses, ['-N X', '-P X DROP'], /policies are for built-in chains/);
test('-P DROP in nat', refuses, ['-t nat -P POSTROUTING DROP'], /nat table is not for filtering/);
test('-P with a bad policy', refuses, ['-P INPUT RETURN'], /must be ACCEPT or DROP/);
test('-I past the end', refuses, ['-I INPUT 2 -j ACCEPT'], /insert position 2 is out of range/);
test('-D past the end', refuses, ['-A INPUT -j ACCEPT', '-D INPUT 2'], /rule number 2 to delete is out of range/);
test('-R past the end', refuses, ['-R INPUT 1 -j ACCEPT'], /rule number 1 to replace is out of range/);
test('jump to a missing chain', refuses, ['-A INPUT -j NOPE'], /jump to chain "NOPE", which does not exist in table filter/);
test(
  'jump to a chain of another table',
  refuses,
  ['-N X', '-t nat -A PREROUTING -j X'],
  /jump to chain "X", which does not exist in table nat/,
);
test('unknown table', refuses, ['-t filtre -A INPUT -j ACCEPT'], /unknown table "filtre"/);
test('listing', refuses, ['-L'], /cannot list rules \(-L\)/);
test('rename onto an existing chain', refuses, ['-N A', '-N B', '-E A B'], /already exists/);
test('rename of a built-in chain', refuses, ['-E INPUT X'], /cannot be renamed/);
test(
  'delete by spec without identical spelling needs the kernel',
  refuses,
  ['-A INPUT -p tcp --dport 1 -j ACCEPT', '-D INPUT -p tcp -m tcp --dport 1 -j ACCEPT'],
  /needs-canonical/,
);

test('insert, replace, delete by number and by spec keep iptables order', (t) => {
  const r = run([
    '-A INPUT -j ACCEPT',
    '-I INPUT -j DROP',
    '-I INPUT 2 -j RETURN',
    '-R INPUT 3 -s 10.0.0.1 -j ACCEPT',
    '-A INPUT -j LOG',
    '-D INPUT 1',
    '-D INPUT -j LOG',
  ]);
  t.deepEqual(r, {
    rules: [
      ':INPUT ACCEPT [0:0]',
      ':FORWARD ACCEPT [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      '-A INPUT -j RETURN',
      '-A INPUT -s 10.0.0.1 -j ACCEPT',
      ':PREROUTING ACCEPT [0:0]',
      ':INPUT ACCEPT [0:0]',
      ':OUTPUT ACCEPT [0:0]',
      ':POSTROUTING ACCEPT [0:0]',
    ],
  });
});

test('rename rewrites jumps and keeps the chain in place', (t) => {
  const r = run(['-N A', '-N B', '-A INPUT -j A', '-A A -j B', '-E A C', '-A INPUT -j C']);
  t.deepEqual(
    r.rules.filter((l) => l.startsWith('-A') || l.endsWith('- [0:0]')),
    [':C - [0:0]', ':B - [0:0]', '-A INPUT -j C', '-A INPUT -j C', '-A C -j B'],
  );
});

test('flush all then delete all user chains', (t) => {
  const r = run(['-N A', '-A INPUT -j A', '-A A -j ACCEPT', '-F', '-X']);
  t.deepEqual(
    r.rules.filter((l) => l.startsWith('-A') || l.endsWith('- [0:0]')),
    [],
  );
});

test('policy is rendered', (t) => {
  const r = run(['-P INPUT DROP', '-P OUTPUT ACCEPT']);
  t.true(r.rules.includes(':INPUT DROP [0:0]'));
  t.true(r.rules.includes(':OUTPUT ACCEPT [0:0]'));
});

test('loose keys collide for spellings the kernel treats as equal', (t) => {
  t.is(looseKey(['-p', 'tcp', '--dport', '80', '-j', 'ACCEPT']), looseKey(['-p', 'TCP', '-m', 'tcp', '--dport', '80', '-j', 'ACCEPT']));
  t.is(looseKey(['-s', '10.0.0.1/32', '-p', 'udp', '-j', 'ACCEPT']), looseKey(['-p', 'udp', '-s', '10.0.0.1', '-j', 'ACCEPT']));
  // Values are the kernel's to compare (`ssh` is 22): only the target and the explicit matches rule a rule out.
  t.is(looseKey(['-p', 'tcp', '--dport', 'ssh', '-j', 'ACCEPT']), looseKey(['-p', 'tcp', '--dport', '22', '-j', 'ACCEPT']));
  t.is(looseKey(['-j', 'LOG']), looseKey(['-j', 'LOG', '--log-level', '4']));
  t.not(looseKey(['-p', 'tcp', '--dport', '80', '-j', 'ACCEPT']), looseKey(['-p', 'tcp', '--dport', '80', '-j', 'DROP']));
  t.not(looseKey(['-m', 'limit', '--limit', '5/min', '-j', 'ACCEPT']), looseKey(['-m', 'conntrack', '--ctstate', 'NEW', '-j', 'ACCEPT']));
  t.not(looseKey(['-j', 'WEB']), looseKey(['-g', 'WEB']));
});

// Preserved chains of other software (DOCKER-USER): rules add to them and jump to them without -N.
function runForeign(lines: string[]): { error?: string; rules: string[] } {
  const m = new RulesetModel('ipv4', [], {
    isForeign: (table, chain) => table === 'filter' && chain.startsWith('DOCKER'),
    hint: () => undefined,
  });
  for (const [i, line] of lines.entries()) {
    const p = parseArgv('ipv4', line.split(' '));
    if (!p.ok) return { error: `${i + 1}: ${p.message}`, rules: [] };
    const r = m.apply(p.call.table, p.call.command, [{ file: 'f', line: i + 1 }]);
    if (r.ok !== true) return { error: `${i + 1}: ${r.ok === false ? r.message : 'needs-canonical'}`, rules: [] };
  }
  return {
    rules: renderRestore(m, ['filter'])
      .text.split('\n')
      .filter((l) => l.startsWith('-A') || l.endsWith('- [0:0]')),
  };
}

test('a preserved chain takes -A, -I, -F and jumps without -N, and holds only what the rules add', (t) => {
  t.deepEqual(
    runForeign([
      '-A DOCKER-USER -s 10.0.0.0/8 -j ACCEPT',
      '-I DOCKER-USER -j LOG',
      '-I DOCKER-USER 2 -i eth0 -j DROP',
      '-A FORWARD -j DOCKER-USER',
    ]).rules,
    [
      ':DOCKER-USER - [0:0]',
      '-A FORWARD -j DOCKER-USER',
      '-A DOCKER-USER -j LOG',
      '-A DOCKER-USER -i eth0 -j DROP',
      '-A DOCKER-USER -s 10.0.0.0/8 -j ACCEPT',
    ],
  );
  t.deepEqual(runForeign(['-A FORWARD -j DOCKER-USER']).rules, [':DOCKER-USER - [0:0]', '-A FORWARD -j DOCKER-USER']);
  // -X of all user chains deletes nfgit's own chains, never the other software's.
  t.deepEqual(runForeign(['-N MINE', '-A DOCKER-USER -j RETURN', '-F', '-X']).rules, [':DOCKER-USER - [0:0]']);
  // Other names are as before, and the hint says how to preserve a chain of other software.
  t.regex(runForeign(['-A NOPE -j ACCEPT']).error ?? '', /^1: chain "NOPE" does not exist in table filter; create it with -N/);
  const hinted = new RulesetModel('ipv4', [], {
    isForeign: () => false,
    hint: (_, chain) => (chain === 'DOCKER-USER' ? 'preserve it' : undefined),
  });
  const p = parseArgv('ipv4', ['-A', 'FORWARD', '-j', 'DOCKER-USER']);
  if (!p.ok) return t.fail(p.message);
  t.like(hinted.apply(p.call.table, p.call.command, []), {
    ok: false,
    message: 'jump to chain "DOCKER-USER", which does not exist in table filter at this point; preserve it',
  });
});
