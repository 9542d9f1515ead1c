import test from 'ava';
import { PreparedLastGood, sealedJournal, type Journal, type LastGood } from '../../src/apply/state-files.js';
import { digestOf } from '../../src/compiler/plan.js';
import { journalSchema, parseRecord } from '../../src/apply/state-records.js';

const text = '*filter\n:INPUT DROP [0:0]\n-A INPUT -m comment --comment "a \\"quoted\\" word" -j ACCEPT\nCOMMIT\n';
const record: LastGood = {
  nfgitLastGood: 1,
  appliedAt: '2026-12-01T00:00:00.000Z',
  target: { netns: 'x' },
  families: { ipv4: { text, usedTables: ['filter'], rules: 1, digest: digestOf(text) } },
  hostCommands: [],
  source: '/rules',
  plan: { json: '{"nfgitPlan":1}\n' },
};
const journal: Journal = {
  nfgitJournal: 1,
  id: 'j',
  command: 'nfgit apply',
  started: '2026-12-01T00:00:00.000Z',
  target: { netns: 'x' },
  families: ['ipv4'],
  snapshot: { ipv4: text },
  step: 'journaled',
  record: { ...record, plan: undefined },
};

test("the journal with the prepared record's JSON spliced in is the journal serialized whole, byte for byte", (t) => {
  const prepared = new PreparedLastGood(record);
  t.true(prepared.describes(journal.record));
  t.is(sealedJournal(journal, prepared), sealedJournal(journal));
  t.is(prepared.plan, '{"nfgitPlan":1}\n');
  // Another record (another source) is not the prepared one: serialized whole.
  const other = { ...journal, record: { ...journal.record, source: '/elsewhere' } };
  t.false(prepared.describes(other.record));
  t.is(sealedJournal(other, prepared), sealedJournal(other));
  t.regex(sealedJournal(other, prepared), /"source":"\/elsewhere"/);
});

test('a journal that names its snapshot is version 2, and only such a journal is', (t) => {
  const named = { ...journal, nfgitJournal: 2, snapshot: {}, snapshotFiles: { ipv4: digestOf(text) } };
  t.notThrows(() => parseRecord('journal.json', JSON.stringify(named), journalSchema, 'journal'));
  t.throws(() => parseRecord('journal.json', JSON.stringify({ ...named, nfgitJournal: 1 }), journalSchema, 'journal'), {
    message: /snapshotFiles with nfgitJournal 2, and only then/,
  });
  const { snapshotFiles: _files, ...unnamed } = named;
  t.throws(() => parseRecord('journal.json', JSON.stringify(unnamed), journalSchema, 'journal'), {
    message: /snapshotFiles with nfgitJournal 2, and only then/,
  });
  t.notThrows(() => parseRecord('journal.json', JSON.stringify(journal), journalSchema, 'journal'));
});
