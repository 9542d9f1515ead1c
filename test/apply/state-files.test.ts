import test from 'ava';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { journalRulesOf, PreparedLastGood, sealedJournal, StateDir, type Journal, type LastGood } from '../../src/apply/state-files.js';
import { digestOf } from '../../src/compiler/plan.js';
import { lastGoodOf, withStateDir } from '../helpers/state-dir.js';
import { journalSchema, parseRecord, sealJson } from '../../src/apply/state-records.js';

const text = '*filter\n:INPUT DROP [0:0]\n-A INPUT -m comment --comment "a \\"quoted\\" word" -j ACCEPT\nCOMMIT\n';
const record = lastGoodOf(text, { plan: { json: '{"nfgitPlan":1}\n' } });
/** A record as a journal holds it: without its plan. */
const withoutPlan = (r: LastGood): LastGood => {
  const { plan: _plan, ...rest } = r;
  return rest;
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
  record: withoutPlan(record),
};

test('the journal with the prepared record spliced in is version 3: the record without its texts, byte for byte as serialized whole', (t) => {
  const prepared = new PreparedLastGood(record);
  t.true(prepared.describes(journal.record));
  const sealed = sealedJournal(journal, prepared);
  t.is(sealed.rules, prepared);
  const { text: _text, ...family } = record.families.ipv4 ?? { text: '' };
  const { plan: _plan, files: _files, generation: _generation, ...rest } = record;
  const whole = { ...journal, nfgitJournal: 3, record: { ...rest, nfgitLastGood: 2, families: { ipv4: family } } };
  t.is(sealed.text, sealJson(JSON.stringify(whole)));
  t.notThrows(() => parseRecord('journal.json', sealed.text, journalSchema, 'journal'));
  t.is(prepared.plan, '{"nfgitPlan":1}\n');
  // Another record (another source) is not the prepared one: serialized whole, texts inside (version 1).
  const other = { ...journal, record: { ...journal.record, source: '/elsewhere' } };
  t.false(prepared.describes(other.record));
  t.deepEqual(sealedJournal(other, prepared), { text: sealJson(JSON.stringify(other)) });
});

test('a journal of version 3 is read back with its texts, from journal.v4 or, once renamed into place, rules.v4', async (t) => {
  await withStateDir(async (dir) => {
    const state = new StateDir(dir);
    const prepared = new PreparedLastGood(record);
    state.writeJournal(journal, sealedJournal(journal, prepared));
    t.is(readFileSync(path.join(dir, 'journal.v4'), 'utf8'), text);
    t.false(readFileSync(path.join(dir, 'journal.json'), 'utf8').includes('"text"'));
    t.deepEqual(new StateDir(dir).readJournal()?.record, journal.record);
    // Recorded: journal.v4 renamed to rules.v4, not written again; the journal still reads (as after a crash here).
    state.writeLastGood(prepared, {});
    t.throws(() => readFileSync(path.join(dir, 'journal.v4')), { code: 'ENOENT' });
    t.is(readFileSync(path.join(dir, 'rules.v4'), 'utf8'), text);
    t.deepEqual(new StateDir(dir).readJournal()?.record, journal.record);
    // Neither holds it: the journal is damaged, named.
    writeFileSync(path.join(dir, 'rules.v4'), '*filter\nCOMMIT\n', { mode: 0o600 });
    t.throws(() => new StateDir(dir).readJournal(), {
      message: /journal\.json is damaged: its ipv4 ruleset \(sha256:[0-9a-f]{64}\) is in neither .*journal\.v4 nor .*rules\.v4$/,
    });
    state.removeJournal();
    t.is(new StateDir(dir).readJournal(), undefined);
  });
});

test("a journal's rulesets written ahead are renamed into place by writeJournal; ones never used are removed", async (t) => {
  await withStateDir(async (dir) => {
    const state = new StateDir(dir);
    const prepared = new PreparedLastGood(record);
    await state.stageJournalRules(journalRulesOf(prepared));
    const early = `.journal.v4.tmp-${process.pid}-early`;
    t.deepEqual(readdirSync(dir), [early]);
    const ino = statSync(path.join(dir, early)).ino;
    state.writeJournal(journal, sealedJournal(journal, prepared));
    t.deepEqual(readdirSync(dir).sort(), ['journal.json', 'journal.v4']);
    t.is(statSync(path.join(dir, 'journal.v4')).ino, ino);
    t.is(readFileSync(path.join(dir, 'journal.v4'), 'utf8'), text);
    await state.discardEarlyFiles();
    t.deepEqual(readdirSync(dir).sort(), ['journal.json', 'journal.v4']);
  });
  await withStateDir(async (dir) => {
    const state = new StateDir(dir);
    await state.stageJournalRules(journalRulesOf(new PreparedLastGood(record)));
    await state.discardEarlyFiles();
    t.deepEqual(readdirSync(dir), []);
  });
});

test('journal rulesets asked for twice are written once; another text of the family replaces the first, whose file goes', async (t) => {
  await withStateDir(async (dir) => {
    const state = new StateDir(dir);
    const other = `${text}# another\n`;
    const rules = journalRulesOf(new PreparedLastGood(record));
    await Promise.all([state.stageJournalRules(rules), state.stageJournalRules(rules)]);
    const early = `.journal.v4.tmp-${process.pid}-early`;
    const ino = statSync(path.join(dir, early)).ino;
    await state.stageJournalRules(rules);
    t.is(statSync(path.join(dir, early)).ino, ino);
    await state.stageJournalRules({ ipv4: { text: other, digest: digestOf(other) } });
    t.deepEqual(readdirSync(dir), [early]);
    t.is(readFileSync(path.join(dir, early), 'utf8'), other);
    await state.discardEarlyFiles();
    t.deepEqual(readdirSync(dir), []);
  });
});

test("the record's canonical forms and plan.json written ahead are renamed into place by writeLastGood; ones not recorded are removed", async (t) => {
  const canonical = text.replace(' -j ACCEPT', ' -m comment --comment "a \\"quoted\\" word" -j ACCEPT');
  await withStateDir(async (dir) => {
    const state = new StateDir(dir);
    const prepared = new PreparedLastGood(record);
    prepared.warm();
    await Promise.all([state.stageCanonicalAhead({ ipv4: canonical }), state.stagePlanAhead(prepared.plan)]);
    const early = (name: string): string => `.${name}.tmp-${process.pid}-early`;
    t.deepEqual(readdirSync(dir).sort(), [early('canonical.v4'), early('plan.json')]);
    const inodes = ['canonical.v4', 'plan.json'].map((n) => statSync(path.join(dir, early(n))).ino);
    state.writeLastGood(prepared, { ipv4: canonical });
    t.deepEqual(readdirSync(dir).sort(), ['canonical.v4', 'last-good.json', 'plan.json', 'rules.v4']);
    t.deepEqual(
      ['canonical.v4', 'plan.json'].map((n) => statSync(path.join(dir, n)).ino),
      inodes,
      'the files written ahead, renamed',
    );
    t.is(new StateDir(dir).readCanonical('ipv4'), canonical);
    t.is(readFileSync(path.join(dir, 'plan.json'), 'utf8'), '{"nfgitPlan":1}\n');
    await state.discardEarlyFiles();
    t.is(readdirSync(dir).length, 4);
  });
  await withStateDir(async (dir) => {
    const state = new StateDir(dir);
    await state.stageCanonicalAhead({ ipv4: canonical });
    // Another text is recorded: the one written ahead is not used, and goes.
    state.writeLastGood(record, { ipv4: text });
    t.is(new StateDir(dir).readCanonical('ipv4'), text);
    t.true(readdirSync(dir).some((n) => n.endsWith('-early')));
    await state.discardEarlyFiles();
    t.false(readdirSync(dir).some((n) => n.includes('.tmp-')));
  });
});

test('a state directory read ahead gives the same record and canonical form; a rules.v4 changed since is read again, and refused', async (t) => {
  await withStateDir(async (dir) => {
    new StateDir(dir).writeLastGood(record, { ipv4: text });
    const same = new StateDir(dir);
    await same.readAhead();
    t.is(same.readLastGood()?.families.ipv4?.text, text);
    t.is(same.readCanonical('ipv4'), text);
    const changed = new StateDir(dir);
    await changed.readAhead();
    writeFileSync(path.join(dir, 'rules.v4'), text.replace('DROP', 'ACCEPT'));
    t.throws(() => changed.readLastGood(), { message: /rules\.v4 is damaged: it does not match the sha256 recorded in last-good\.json/ });
  });
});

test('an unchanged family is neither written for the journal nor rewritten: rules.v4 as read and checked stays', async (t) => {
  await withStateDir(async (dir) => {
    new StateDir(dir).writeLastGood(record, {});
    const state = new StateDir(dir);
    t.is(state.readLastGood()?.families.ipv4?.text, text);
    const before = statSync(path.join(dir, 'rules.v4'));
    const next = { ...record, appliedAt: '2026-12-01T01:00:00.000Z' };
    const j = { ...journal, record: withoutPlan(next) };
    const prepared = new PreparedLastGood(next);
    state.writeJournal(j, sealedJournal(j, prepared));
    t.throws(() => readFileSync(path.join(dir, 'journal.v4')), { code: 'ENOENT' });
    t.deepEqual(new StateDir(dir).readJournal()?.record, j.record);
    state.writeLastGood(prepared, {});
    t.is(statSync(path.join(dir, 'rules.v4')).ino, before.ino);
    t.is(new StateDir(dir).readLastGood()?.appliedAt, next.appliedAt);
  });
});

test('a journal that names its snapshot is version 2, and only such a journal is', (t) => {
  const named = { ...journal, nfgitJournal: 2, snapshot: {}, snapshotFiles: { ipv4: digestOf(text) } };
  t.notThrows(() => parseRecord('journal.json', JSON.stringify(named), journalSchema, 'journal'));
  t.throws(() => parseRecord('journal.json', JSON.stringify({ ...named, nfgitJournal: 1 }), journalSchema, 'journal'), {
    message: /snapshotFiles with nfgitJournal 2 or 3, and only then/,
  });
  const { snapshotFiles: _files, ...unnamed } = named;
  t.throws(() => parseRecord('journal.json', JSON.stringify(unnamed), journalSchema, 'journal'), {
    message: /snapshotFiles with nfgitJournal 2 or 3, and only then/,
  });
  t.notThrows(() => parseRecord('journal.json', JSON.stringify(journal), journalSchema, 'journal'));
});

test('last-good.json is written as version 2 (the texts in rules.v4/rules.v6, named by sha256) and read back whole', async (t) => {
  await withStateDir(async (dir) => {
    new StateDir(dir).writeLastGood(record, {});
    const file = path.join(dir, 'last-good.json');
    const written = readFileSync(file, 'utf8');
    t.regex(written, /^\{"nfgitLastGood":2,/);
    t.false(written.includes('"text"'));
    const v2 = JSON.parse(written.replace(/,"sha256":"[0-9a-f]{64}"\}$/, '}')) as {
      families: { ipv4: { digest: string } };
      files: Record<string, string>;
    };
    t.is(v2.files['rules.v4'], v2.families.ipv4.digest);
    t.is(readFileSync(path.join(dir, 'rules.v4'), 'utf8'), text);
    // Read as this nfgit's record in memory (version 1: the texts inside), as a journal holds it.
    const read = new StateDir(dir).readLastGood();
    t.is(read?.nfgitLastGood, 1);
    t.is(read?.families.ipv4?.text, text);
    // An older nfgit's record (version 1, the texts inside) is read too, and rewritten as version 2.
    const { files: _files, ...v1 } = read as LastGood;
    writeFileSync(file, sealJson(JSON.stringify(v1)), { mode: 0o600 });
    t.is(new StateDir(dir).readLastGood()?.families.ipv4?.text, text);
    new StateDir(dir).writeLastGood(new StateDir(dir).readLastGood() as LastGood, {});
    t.regex(readFileSync(file, 'utf8'), /^\{"nfgitLastGood":2,/);
  });
});
