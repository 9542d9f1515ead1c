import test from 'ava';
import { expandAddressLists } from '../../src/compiler/expand-addresses.js';

test('sources outer, destinations inner', (t) => {
  const r = expandAddressLists({ op: 'append', chain: 'INPUT', spec: ['-s', 'a,b', '-d', 'c,d', '-j', 'ACCEPT'] });
  t.deepEqual(r.ok && r.commands.map((c) => ('spec' in c ? c.spec.join(' ') : '')), [
    '-s a -d c -j ACCEPT',
    '-s a -d d -j ACCEPT',
    '-s b -d c -j ACCEPT',
    '-s b -d d -j ACCEPT',
  ]);
});

test('a single address is left alone', (t) => {
  const cmd = { op: 'append', chain: 'INPUT', spec: ['-s', '10.0.0.0/8', '-j', 'ACCEPT'] } as const;
  t.deepEqual(expandAddressLists(cmd), { ok: true, commands: [cmd] });
});

test('negated lists and -R with a list are refused', (t) => {
  t.false(expandAddressLists({ op: 'append', chain: 'INPUT', spec: ['!', '-s', 'a,b', '-j', 'ACCEPT'] }).ok);
  t.false(expandAddressLists({ op: 'replace', chain: 'INPUT', index: 1, spec: ['-s', 'a,b', '-j', 'ACCEPT'] }).ok);
});
