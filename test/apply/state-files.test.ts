import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PreparedLastGood, sealedJournal, StateDir, type Journal, type LastGood } from '../../src/apply/state-files.js';
import { digestOf } from '../../src/compiler/plan.js';
import { lastGoodOf, withStateDir } from '../helpers/state-dir.js';
import { journalSchema, parseRecord, sealJson } from '../../src/apply/state-records.js';

const text = '*filter\n:INPUT DROP [0:0]\n-A INPUT -m comment --comment "a \\"quoted\\" word" -j ACCEPT\nCOMMIT\n';
const record = lastGoodOf(text, { plan: { json: '{"nfgitPlan":1}\n' } });
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

test('a record of version 2 reads as this nfgit writes its own: the texts from the rules files, version 1', async (t) => {
  await withStateDir(async (dir) => {
    const state = new StateDir(dir);
    state.writeLastGood(record, {});
    const file = path.join(dir, 'last-good.json');
    const v1 = JSON.parse(readFileSync(file, 'utf8').replace(/,"sha256":"[0-9a-f]{64}"\}$/, '}')) as Record<string, unknown> & {
      families: Record<string, { text?: string }>;
    };
    const { families, ...rest } = v1;
    const v2 = { ...rest, nfgitLastGood: 2, families: { ipv4: { ...families['ipv4'], text: undefined } } };
    writeFileSync(file, sealJson(JSON.stringify(v2)), { mode: 0o600 });
    const read = new StateDir(dir).readLastGood();
    t.is(read?.nfgitLastGood, 1);
    t.is(read?.families.ipv4?.text, text);
    // Written back as version 1, texts inside.
    new StateDir(dir).writeLastGood(read as LastGood, {});
    t.regex(readFileSync(file, 'utf8'), /^\{"nfgitLastGood":1,.*"text":"\*filter/);
  });
});
