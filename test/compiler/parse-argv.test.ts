import test from 'ava';
import { parseArgv, type Command, type Family } from '../../src/compiler/parse-argv.js';

const parses = test.macro((t, family: Family, argv: string[], table: string, command: Command) => {
  const r = parseArgv(family, argv);
  if (!r.ok) return t.fail(r.message);
  t.is(r.call.table, table);
  t.deepEqual(r.call.command, command);
}) as import('ava').Macro<[Family, string[], string, Command]>;

const refuses = test.macro((t, family: Family, argv: string[], includes: string) => {
  const r = parseArgv(family, argv);
  t.false(r.ok);
  if (!r.ok) t.true(r.message.includes(includes), r.message);
}) as import('ava').Macro<[Family, string[], string]>;

const spec = ['-p', 'tcp', '--dport', '80', '-j', 'ACCEPT'];
test('-A', parses, 'ipv4', ['-A', 'INPUT', ...spec], 'filter', { op: 'append', chain: 'INPUT', spec });
test('--append', parses, 'ipv4', ['--append', 'INPUT', ...spec], 'filter', { op: 'append', chain: 'INPUT', spec });
test('--append=', parses, 'ipv4', ['--append=INPUT', ...spec], 'filter', { op: 'append', chain: 'INPUT', spec });
test('-AINPUT', parses, 'ipv4', ['-AINPUT', ...spec], 'filter', { op: 'append', chain: 'INPUT', spec });
test('-t after the spec', parses, 'ipv4', ['-A', 'POSTROUTING', '-o', 'eth0', '-j', 'MASQUERADE', '-t', 'nat'], 'nat', {
  op: 'append',
  chain: 'POSTROUTING',
  spec: ['-o', 'eth0', '-j', 'MASQUERADE'],
});
test('-tnat', parses, 'ipv4', ['-tnat', '-A', 'OUTPUT', '-j', 'ACCEPT'], 'nat', { op: 'append', chain: 'OUTPUT', spec: ['-j', 'ACCEPT'] });
test('--table=raw', parses, 'ipv4', ['--table=raw', '-A', 'OUTPUT', '-j', 'ACCEPT'], 'raw', {
  op: 'append',
  chain: 'OUTPUT',
  spec: ['-j', 'ACCEPT'],
});
test('command in the middle', parses, 'ipv4', ['-p', 'tcp', '-A', 'INPUT', '--dport', '22'], 'filter', {
  op: 'append',
  chain: 'INPUT',
  spec: ['-p', 'tcp', '--dport', '22'],
});
test('-w, -w 5, -W 100 are dropped', parses, 'ipv4', ['-w', '-A', 'INPUT', '-w', '5', '-W', '100', '-j', 'DROP'], 'filter', {
  op: 'append',
  chain: 'INPUT',
  spec: ['-j', 'DROP'],
});
test('--wait=3 is dropped', parses, 'ipv4', ['--wait=3', '-A', 'INPUT', '-j', 'DROP'], 'filter', {
  op: 'append',
  chain: 'INPUT',
  spec: ['-j', 'DROP'],
});
test('-4 in iptables is ignored', parses, 'ipv4', ['-4', '-A', 'INPUT', '-j', 'DROP'], 'filter', {
  op: 'append',
  chain: 'INPUT',
  spec: ['-j', 'DROP'],
});
test('-6 in ip6tables is ignored', parses, 'ipv6', ['-6', '-A', 'INPUT', '-j', 'DROP'], 'filter', {
  op: 'append',
  chain: 'INPUT',
  spec: ['-j', 'DROP'],
});
test(
  'long core options become short',
  parses,
  'ipv4',
  ['-A', 'INPUT', '--protocol', 'tcp', '--source', '10.0.0.0/8', '--goto=X', '--match=tcp'],
  'filter',
  { op: 'append', chain: 'INPUT', spec: ['-p', 'tcp', '-s', '10.0.0.0/8', '-g', 'X', '-m', 'tcp'] },
);
// iptables 1.8 reads -p, -s, -d, -i, -o and -j from argv[optind - 1]: attached, the value is the whole word.
test(
  'attached -ptcp and --source= take the whole word, as iptables does',
  parses,
  'ipv4',
  ['-A', 'INPUT', '-ptcp', '--source=10.0.0.0/8', '-jACCEPT'],
  'filter',
  { op: 'append', chain: 'INPUT', spec: ['-p', '-ptcp', '-s', '--source=10.0.0.0/8', '-j', '-jACCEPT'] },
);
test('attached -gX and -mtcp take the rest of the word', parses, 'ipv4', ['-A', 'INPUT', '-mtcp', '-gX'], 'filter', {
  op: 'append',
  chain: 'INPUT',
  spec: ['-m', 'tcp', '-g', 'X'],
});
test('negation is kept', parses, 'ipv4', ['-A', 'INPUT', '!', '-s', '10.0.0.0/8', '-j', 'DROP'], 'filter', {
  op: 'append',
  chain: 'INPUT',
  spec: ['!', '-s', '10.0.0.0/8', '-j', 'DROP'],
});
test(
  'a comment that looks like a command',
  parses,
  'ipv4',
  ['-A', 'INPUT', '-m', 'comment', '--comment', '-A fake', '-j', 'ACCEPT'],
  'filter',
  { op: 'append', chain: 'INPUT', spec: ['-m', 'comment', '--comment', '-A fake', '-j', 'ACCEPT'] },
);
test('-I without number', parses, 'ipv4', ['-I', 'INPUT', '-j', 'DROP'], 'filter', {
  op: 'insert',
  chain: 'INPUT',
  index: 1,
  spec: ['-j', 'DROP'],
});
test('-I with number', parses, 'ipv4', ['-I', 'INPUT', '3', '-j', 'DROP'], 'filter', {
  op: 'insert',
  chain: 'INPUT',
  index: 3,
  spec: ['-j', 'DROP'],
});
test('-D by number', parses, 'ipv4', ['-D', 'INPUT', '2'], 'filter', { op: 'delete', chain: 'INPUT', index: 2 });
test('-D by spec', parses, 'ipv4', ['-D', 'INPUT', '-j', 'DROP'], 'filter', { op: 'delete-spec', chain: 'INPUT', spec: ['-j', 'DROP'] });
test('-R', parses, 'ipv4', ['-R', 'INPUT', '1', '-j', 'DROP'], 'filter', { op: 'replace', chain: 'INPUT', index: 1, spec: ['-j', 'DROP'] });
test('-C', parses, 'ipv4', ['-C', 'INPUT', '-j', 'DROP'], 'filter', { op: 'check', chain: 'INPUT', spec: ['-j', 'DROP'] });
test('-N', parses, 'ipv4', ['-N', 'WEB'], 'filter', { op: 'new-chain', chain: 'WEB' });
test('-X alone', parses, 'ipv4', ['-X'], 'filter', { op: 'delete-chain', chain: undefined });
test('-X chain', parses, 'ipv4', ['-t', 'nat', '-X', 'WEB'], 'nat', { op: 'delete-chain', chain: 'WEB' });
test('-F alone', parses, 'ipv4', ['-F'], 'filter', { op: 'flush', chain: undefined });
test('-F chain', parses, 'ipv4', ['--flush', 'INPUT'], 'filter', { op: 'flush', chain: 'INPUT' });
test('-Z', parses, 'ipv4', ['-Z'], 'filter', { op: 'zero', chain: undefined });
test('-E', parses, 'ipv4', ['-E', 'OLD', 'NEW'], 'filter', { op: 'rename', chain: 'OLD', newName: 'NEW' });
test('-P', parses, 'ipv4', ['-P', 'INPUT', 'DROP'], 'filter', { op: 'policy', chain: 'INPUT', target: 'DROP' });
test('--policy', parses, 'ipv6', ['--policy', 'FORWARD', 'DROP'], 'filter', { op: 'policy', chain: 'FORWARD', target: 'DROP' });
test('-L is a listing', parses, 'ipv4', ['-nL', 'INPUT'], 'filter', { op: 'list', flag: '-L' });
test('-S is a listing', parses, 'ipv4', ['-S'], 'filter', { op: 'list', flag: '-S' });

test('-6 in iptables', refuses, 'ipv4', ['-6', '-A', 'INPUT'], 'IPv4');
test('-4 in ip6tables', refuses, 'ipv6', ['-4', '-A', 'INPUT'], 'IPv6');
test('two commands', refuses, 'ipv4', ['-A', 'INPUT', '-D', 'INPUT', '1'], 'only one command');
test('no command', refuses, 'ipv4', ['-p', 'tcp'], 'no command');
test('two tables', refuses, 'ipv4', ['-t', 'nat', '-t', 'raw', '-A', 'OUTPUT'], 'twice');
test('-R without number', refuses, 'ipv4', ['-R', 'INPUT', '-j', 'DROP'], '-R needs');
test('-E without new name', refuses, 'ipv4', ['-E', 'OLD'], '-E needs');
test('-P without policy', refuses, 'ipv4', ['-P', 'INPUT'], '-P needs');
test('-N with a spec', refuses, 'ipv4', ['-N', 'X', '-j', 'DROP'], 'takes no rule specification');
test('--help', refuses, 'ipv4', ['--help'], 'cannot be used');
