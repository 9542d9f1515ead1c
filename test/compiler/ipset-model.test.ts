import test from 'ava';
import { IpsetModel, setReferences } from '../../src/compiler/ipset-model.js';
import { parseIpset } from '../../src/compiler/parse-ipset.js';
import { renderIpsets } from '../../src/compiler/render-ipset.js';

/** Applies ipset argument lines to a fresh model; the first failure as `LINE: message`, or the rendered sets. */
function run(lines: string[], refs: (name: string) => number = () => 0): { error?: string; text: string; model: IpsetModel } {
  const m = new IpsetModel();
  for (const [i, line] of lines.entries()) {
    const p = parseIpset(line.split(' '));
    if (!p.ok) return { error: `${i + 1}: ${p.message}`, text: '', model: m };
    const r = m.apply(p.call, [{ file: 'f', line: i + 1 }], refs);
    if (!r.ok) return { error: `${i + 1}: ${r.message}`, text: '', model: m };
  }
  return { text: renderIpsets(m).text, model: m };
}

const refuses = test.macro((t, lines: string[], error: RegExp) => {
  t.regex(run(lines).error ?? '(accepted)', error);
}) as import('ava').Macro<[string[], RegExp]>;

const renders = test.macro((t, lines: string[], text: string) => {
  const r = run(lines);
  t.is(r.error, undefined);
  t.is(r.text, text);
}) as import('ava').Macro<[string[], string]>;

test(
  'create twice',
  refuses,
  ['create a hash:ip', 'create a hash:ip'],
  /^2: Set cannot be created: set with the same name already exists$/,
);
test('create -exist with other options', refuses, ['create a hash:ip', 'create a hash:ip timeout 5 -exist'], /^2: Set cannot be created/);
test('add to a missing set', refuses, ['add nope 1.2.3.4'], /^1: The set with the given name does not exist \(nope\)/);
test(
  'add twice',
  refuses,
  ['create a hash:ip', 'add a 1.2.3.4', 'add a 1.2.3.4/32'],
  /^3: Element cannot be added to the set: it's already added$/,
);
test(
  'del of a missing element',
  refuses,
  ['create a hash:ip', 'del a 1.2.3.4'],
  /^2: Element cannot be deleted from the set: it's not added$/,
);
test('hash:net equal networks', refuses, ['create n hash:net', 'add n 10.0.0.0/8', 'add n 10.1.2.3/8'], /^3: Element cannot be added/);
test(
  'ip,port default tcp',
  refuses,
  ['create p hash:ip,port', 'add p 10.0.0.1,80', 'add p 10.0.0.1,tcp:80'],
  /^3: Element cannot be added/,
);
test('unknown type', refuses, ['create a hash:nope'], /^1: Syntax error: typename 'hash:nope' is unknown/);
test('name too long', refuses, ['create ' + 'x'.repeat(32) + ' hash:ip'], /longer than 31 characters/);
test('bitmap without range', refuses, ['create b bitmap:port'], /range/);
test('IPv6 element in an inet set', refuses, ['create a hash:ip', 'add a 2001:db8::1'], /IPv6 address, but the set is of family inet/);
test(
  'swap of different types',
  refuses,
  ['create a hash:ip', 'create b hash:net', 'swap a b'],
  /^3: The sets cannot be swapped: their type does not match$/,
);
test(
  'destroy of a set in a list',
  refuses,
  ['create a hash:ip', 'create l list:set', 'add l a', 'destroy a'],
  /^4: Set cannot be destroyed: it is in use by a kernel component \(set a is referred to by list set\(s\) l\)/,
);
test('list member must exist', refuses, ['create l list:set', 'add l a'], /does not exist/);
test(
  'rename onto an existing set',
  refuses,
  ['create a hash:ip', 'create b hash:ip', 'rename a b'],
  /a set with the new name already exists/,
);
test('list without a name', refuses, ['list'], /cannot list all sets/);
test('save', refuses, ['save'], /cannot save sets/);
test('comment without the comment option', refuses, ['create a hash:ip', 'add a 1.2.3.4 comment x'], /without the comment option/);

test('destroy of a set a rule uses', (t) => {
  t.regex(
    run(['create a hash:ip', 'destroy a'], (n) => (n === 'a' ? 2 : 0)).error ?? '',
    /^2: Set cannot be destroyed: it is in use by a kernel component \(set a is referred to by 2 iptables rule\(s\)\)/,
  );
});

test(
  '-exist forgives',
  renders,
  ['create a hash:ip', '-exist create a hash:ip', 'add a 1.2.3.4', 'add -! a 1.2.3.4', 'del a 9.9.9.9 -exist'],
  'create a hash:ip family inet\nadd a 1.2.3.4\n',
);
test(
  'ranges and networks expand in hash:ip',
  renders,
  ['create a hash:ip', 'add a 10.0.0.0/31', 'add a 10.0.1.1-10.0.1.2', 'del a 10.0.0.1'],
  'create a hash:ip family inet\nadd a 10.0.0.0\nadd a 10.0.1.1\nadd a 10.0.1.2\n',
);
test(
  'hash:net is normalized, IPv6 too',
  renders,
  ['create n hash:net family inet6', 'add n 2001:DB8:0:0::1/64'],
  'create n hash:net family inet6\nadd n 2001:db8::/64\n',
);
test(
  'port ranges expand',
  renders,
  ['create p hash:ip,port', 'add p 10.0.0.1,udp:53-54', 'create b bitmap:port range 1-100', 'add b 7-8'],
  'create p hash:ip,port family inet\nadd p 10.0.0.1,udp:53\nadd p 10.0.0.1,udp:54\ncreate b bitmap:port range 1-100\nadd b 7\nadd b 8\n',
);
test(
  'swap exchanges contents, names stay',
  renders,
  ['create a hash:ip', 'add a 1.1.1.1', 'create b hash:ip', 'add b 2.2.2.2', 'swap a b'],
  'create a hash:ip family inet\nadd a 2.2.2.2\ncreate b hash:ip family inet\nadd b 1.1.1.1\n',
);
test(
  'list:set after its members, rename and flush',
  renders,
  ['create l list:set', 'create a hash:ip', 'add l a', 'create x hash:ip', 'add x 3.3.3.3', 'flush x', 'rename x y'],
  'create a hash:ip family inet\ncreate y hash:ip family inet\ncreate l list:set\nadd l a\n',
);

test('comment with spaces', (t) => {
  const m = new IpsetModel();
  for (const argv of [
    ['create', 'c', 'hash:ip', 'comment'],
    ['add', 'c', '1.2.3.4', 'comment', 'two words'],
  ]) {
    const p = parseIpset(argv);
    if (!p.ok) return t.fail(p.message);
    t.true(m.apply(p.call, []).ok);
  }
  t.is(renderIpsets(m).text, 'create c hash:ip family inet comment\nadd c 1.2.3.4 comment "two words"\n');
});

test('test answers like ipset test', (t) => {
  const m = run(['create a hash:ip', 'add a 1.2.3.4']).model;
  const yes = parseIpset(['test', 'a', '1.2.3.4']);
  const no = parseIpset(['-q', 'test', 'a', '1.2.3.5']);
  if (!yes.ok || !no.ok) return t.fail();
  t.true(m.apply(yes.call, []).ok);
  t.deepEqual(m.apply(no.call, []), { ok: false, status: 1, message: '1.2.3.5 is NOT in set a.' });
  t.true(no.call.quiet);
});

test('rule references and families', (t) => {
  t.deepEqual(setReferences(['-m', 'set', '--match-set', 'a', 'src', '-j', 'SET', '--add-set', 'b', 'dst']), ['a', 'b']);
  // -m recent has a --set option of its own (not a set name).
  t.deepEqual(setReferences(['-m', 'recent', '--set', '--mask', '255.255.255.0']), []);
  const m = run(['create a hash:ip', 'create b hash:ip family inet6', 'create p bitmap:port range 1-9']).model;
  t.is(m.checkRuleReference('ipv4', 'a'), undefined);
  t.is(m.checkRuleReference('ipv4', 'p'), undefined);
  t.is(m.checkRuleReference('ipv4', 'b'), 'The protocol family of set b is IPv6, which is not applicable');
  t.regex(m.checkRuleReference('ipv6', 'zz') ?? '', /^Set zz doesn't exist/);
});

test('the sourcemap points at the create and the add', (t) => {
  const r = run(['create a hash:ip', 'add a 1.2.3.4']);
  const rs = renderIpsets(r.model);
  t.deepEqual(
    [...rs.sourceMap.entries()],
    [
      [1, [{ file: 'f', line: 1 }]],
      [2, [{ file: 'f', line: 2 }]],
    ],
  );
  t.deepEqual(rs.sets, [{ name: 'a', type: 'hash:ip', createArgs: ['family', 'inet'], members: ['1.2.3.4'] }]);
});
