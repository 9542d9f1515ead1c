import test from 'ava';
import { z } from 'zod';
import { CorruptStateFile, parseRecord, sealJson, unsealJson } from '../../src/apply/state-records.js';

test('a sealed record reads back as written; {} too', (t) => {
  t.deepEqual(unsealJson('f', sealJson('{"a":1,"b":[2]}')), { a: 1, b: [2] });
  t.regex(sealJson('{}'), /^\{"sha256":"[0-9a-f]{64}"\}$/);
  t.deepEqual(unsealJson('f', sealJson('{}')), {});
});

test('a record of an older nfgit (no seal) is read as it is', (t) => {
  t.deepEqual(unsealJson('f', '{"a":1}'), { a: 1 });
});

const damaged = test.macro((t, text: string, problem: RegExp) => {
  const err = t.throws(() => unsealJson('/var/lib/nfgit/last-good.json', text));
  t.true(err instanceof CorruptStateFile);
  t.regex(err?.message ?? '', new RegExp(`^the state file /var/lib/nfgit/last-good\\.json is damaged: ${problem.source}$`));
});

test(
  'a changed value',
  damaged,
  sealJson('{"a":1}').replace('1', '2'),
  /its content does not match its sha256 \(recorded [0-9a-f]{64}, found [0-9a-f]{64}\)/,
);
test('cut off', damaged, sealJson('{"a":"long text"}').slice(0, 10), /it is not valid JSON \(.*; cut off\?\)/);
test('empty', damaged, '', /it is empty/);

test('a record of the wrong shape names each problem by its path', (t) => {
  t.throws(() => parseRecord('j.json', '{"id":3}', z.object({ id: z.string(), step: z.literal('journaled') }), 'journal'), {
    message: /^the state file j\.json is damaged: it is not a valid journal \(id: .*; step: .*\)$/,
  });
});
