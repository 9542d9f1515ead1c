import test from 'ava';
import { diffSaves, findDrift, sameTables } from '../../src/netfilter/compare-saves.js';
import { parseSave } from '../../src/netfilter/save-text.js';

const A =
  '*filter\n:INPUT DROP [5:300]\n:FORWARD ACCEPT [0:0]\n:web - [0:0]\n[1:60] -A INPUT -j web\n-A web -p tcp --dport 80 -j ACCEPT\n-A web -p tcp --dport 443 -j ACCEPT\nCOMMIT\n';

// One row a pair of saves: whether a rollback would call them the same, and what an apply changed.
const ROWS: ReadonlyArray<{ what: string; after: string; same: boolean; change: ReturnType<typeof diffSaves> }> = [
  {
    what: 'counters only',
    after: A.replace('[5:300]', '[9:900]').replace('[1:60] ', ''),
    same: true,
    change: { chainsAdded: [], chainsRemoved: [], rulesAdded: 0, rulesRemoved: 0, policiesChanged: [] },
  },
  {
    what: 'chains declared in another order (a merged restore input)',
    after: A.replace(':FORWARD ACCEPT [0:0]\n:web - [0:0]\n', ':web - [0:0]\n:FORWARD ACCEPT [0:0]\n'),
    same: true,
    change: { chainsAdded: [], chainsRemoved: [], rulesAdded: 0, rulesRemoved: 0, policiesChanged: [] },
  },
  {
    what: 'two rules of a chain swapped',
    after: A.replace(
      '-A web -p tcp --dport 80 -j ACCEPT\n-A web -p tcp --dport 443 -j ACCEPT\n',
      '-A web -p tcp --dport 443 -j ACCEPT\n-A web -p tcp --dport 80 -j ACCEPT\n',
    ),
    same: false,
    change: { chainsAdded: [], chainsRemoved: [], rulesAdded: 0, rulesRemoved: 0, policiesChanged: [] },
  },
  {
    what: 'a policy changed',
    after: A.replace(':INPUT DROP', ':INPUT ACCEPT'),
    same: false,
    change: { chainsAdded: [], chainsRemoved: [], rulesAdded: 0, rulesRemoved: 0, policiesChanged: ['filter/INPUT'] },
  },
  {
    what: 'a user chain and its rule removed',
    after: A.replace(':web - [0:0]\n', '')
      .replace('[1:60] -A INPUT -j web\n', '')
      .replace(/-A web .*\n/g, ''),
    same: false,
    change: { chainsAdded: [], chainsRemoved: ['filter/web'], rulesAdded: 0, rulesRemoved: 3, policiesChanged: [] },
  },
  {
    what: 'a table more',
    after: A + '*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n',
    same: false,
    change: { chainsAdded: [], chainsRemoved: [], rulesAdded: 0, rulesRemoved: 0, policiesChanged: [] },
  },
];

for (const row of ROWS) {
  test(`compare: ${row.what}`, (t) => {
    t.is(sameTables(parseSave(A), parseSave(row.after)), row.same);
    t.deepEqual(diffSaves(A, row.after), row.change);
  });
}

test('drift leaves out an empty table, which a host and a staging namespace differ in', (t) => {
  t.deepEqual(findDrift(A, A + '*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n'), []);
  t.like(findDrift(A, A.replace(':INPUT DROP', ':INPUT ACCEPT'))[0], {
    table: 'filter',
    missing: [':INPUT DROP'],
    extra: [':INPUT ACCEPT'],
  });
});
