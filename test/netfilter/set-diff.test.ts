import test from 'ava';
import {
  canonicalSets,
  countSets,
  describeSetsOutcome,
  diffSets,
  parseSets,
  renderSetDiff,
  runtimeFilledSets,
} from '../../src/netfilter/set-diff.js';

// Real `ipset save` output (ipset 7), with the random initval, counters and a remaining timeout.
const SAVE = `create web hash:ip family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0xce82bb5a
add web 192.0.2.2
add web 192.0.2.1
create temp hash:ip family inet hashsize 1024 maxelem 65536 timeout 100 counters bucketsize 12 initval 0x11111111
add temp 10.0.0.2 timeout 99 packets 3 bytes 180
create ports bitmap:port range 1-100
add ports 5
create foreign hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0xd4e1f061
add foreign 10.0.0.0/8
`;

test('parseSets drops initval, hashsize, remaining timeouts and counters, and sorts members', (t) => {
  const sets = parseSets(SAVE, ['web', 'temp']);
  t.deepEqual([...sets.keys()], ['web', 'temp']);
  t.deepEqual(sets.get('web'), {
    name: 'web',
    header: 'hash:ip family inet maxelem 65536 bucketsize 12',
    members: ['192.0.2.1', '192.0.2.2'],
  });
  t.deepEqual(sets.get('temp')?.members, ['10.0.0.2']);
});

test('canonicalSets keeps the named sets only, by name, in ipset save form', (t) => {
  t.is(
    canonicalSets(SAVE, ['web', 'ports', 'missing']),
    'create ports bitmap:port range 1-100\nadd ports 5\ncreate web hash:ip family inet maxelem 65536 bucketsize 12\nadd web 192.0.2.1\nadd web 192.0.2.2\n',
  );
  t.is(canonicalSets(SAVE, []), '');
  // The same sets saved again with another initval and other counters: the same canonical form.
  const again = SAVE.replace('0xce82bb5a', '0x12345678')
    .replace('hashsize 1024', 'hashsize 2048')
    .replace('packets 3 bytes 180', 'packets 9 bytes 900')
    .replace('timeout 99', 'timeout 12');
  t.is(canonicalSets(again, ['web', 'temp']), canonicalSets(SAVE, ['web', 'temp']));
});

test('diffSets: members added and removed, sets added and removed, header changes; unnamed sets ignored', (t) => {
  const after = SAVE.replace('add web 192.0.2.1\n', 'add web 192.0.2.9\nadd web 192.0.2.8\n')
    .replace(/create ports.*\nadd ports 5\n/, '')
    .replace('create foreign hash:net', 'create foreign hash:ip')
    .concat('create fresh hash:ip family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1\nadd fresh 198.51.100.1\n');
  const changes = diffSets(SAVE, after, ['web', 'ports', 'fresh', 'temp', 'nowhere']);
  t.deepEqual(changes, [
    { set: 'web', status: 'changed', header: null, added: ['192.0.2.8', '192.0.2.9'], removed: ['192.0.2.1'] },
    { set: 'ports', status: 'removed', header: { before: 'bitmap:port range 1-100', after: null }, added: [], removed: ['5'] },
    {
      set: 'fresh',
      status: 'added',
      header: { before: null, after: 'hash:ip family inet maxelem 65536 bucketsize 12' },
      added: ['198.51.100.1'],
      removed: [],
    },
  ]);
  t.deepEqual(countSets(changes), { setsAdded: ['fresh'], setsRemoved: ['ports'], membersAdded: 3, membersRemoved: 2 });
  t.deepEqual(diffSets(SAVE, after, ['foreign']), [
    {
      set: 'foreign',
      status: 'changed',
      header: { before: 'hash:net family inet maxelem 65536 bucketsize 12', after: 'hash:ip family inet maxelem 65536 bucketsize 12' },
      added: [],
      removed: [],
    },
  ]);
  t.deepEqual(diffSets(SAVE, SAVE, ['web', 'temp', 'ports']), []);
});

test('diffSets ignores the members of sets filled at run time, not their header', (t) => {
  const runtime = runtimeFilledSets(SAVE, ['-A INPUT -p tcp -j SET --add-set web src --exist\n', '']);
  t.deepEqual([...runtime].sort(), ['temp', 'web']);
  const flushed = SAVE.replace(/add (web|temp) .*\n/g, '');
  t.deepEqual(diffSets(SAVE, flushed, ['web', 'temp'], runtime), []);
  t.is(
    diffSets(SAVE, flushed.replace('timeout 100', 'timeout 5'), ['temp'], runtime)[0]?.header?.after,
    'hash:ip family inet maxelem 65536 timeout 5 counters bucketsize 12',
  );
});

test('renderSetDiff: a line per set, then its members, capped', (t) => {
  const many = Array.from({ length: 25 }, (_, i) => `10.0.0.${i + 1}`).sort();
  t.deepEqual(
    renderSetDiff([
      { set: 'web', status: 'changed', header: null, added: ['192.0.2.9'], removed: ['192.0.2.1'] },
      { set: 'fresh', status: 'added', header: { before: null, after: 'hash:ip family inet' }, added: ['198.51.100.1'], removed: [] },
      { set: 'old', status: 'removed', header: { before: 'hash:net', after: null }, added: [], removed: [] },
    ]),
    [
      'ipset web: +1 -1 members',
      '  - 192.0.2.1',
      '  + 192.0.2.9',
      'ipset fresh (new: hash:ip family inet): +1 -0 members',
      '  + 198.51.100.1',
      'ipset old (removed): +0 -0 members',
    ],
  );
  const capped = renderSetDiff([{ set: 'big', status: 'changed', header: null, added: many, removed: [] }], 3);
  t.deepEqual(capped, ['ipset big: +25 -0 members', `  + ${many[0]}`, `  + ${many[1]}`, `  + ${many[2]}`, '  … 22 more member(s)']);
});

test('describeSetsOutcome: the apply summary line', (t) => {
  t.is(
    describeSetsOutcome({ sets: 2, change: { setsAdded: [], setsRemoved: [], membersAdded: 3, membersRemoved: 1 } }),
    'ipsets: 2 set(s), +3 -1 members',
  );
  t.is(
    describeSetsOutcome({ sets: 1, change: { setsAdded: ['a'], setsRemoved: ['b', 'c'], membersAdded: 1, membersRemoved: 0 } }),
    'ipsets: 1 set(s), +1 -0 members; sets added: a; sets removed: b, c',
  );
  t.is(describeSetsOutcome({ sets: 1, change: undefined }), 'ipsets: 1 set(s) (could not read the sets back to compare)');
});
