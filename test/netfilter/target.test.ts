import test from 'ava';
import { UsageError } from '../../src/errors/errors.js';
import { lastGoodSchema } from '../../src/apply/state-records.js';
import {
  checkTarget,
  describeTarget,
  HOST,
  namespaceFile,
  sameTarget,
  targetFromJson,
  targetOf,
  targetToJson,
  type Target,
} from '../../src/netfilter/target.js';

// One row a spelling of a target: what a flag or setting gives, the target, its words, its JSON field.
const SPELLINGS: ReadonlyArray<{
  given: string | null | undefined;
  target: Target;
  words: string;
  json: { netns: string | null };
  file: string;
}> = [
  { given: undefined, target: HOST, words: 'the host', json: { netns: null }, file: '/proc/self/ns/net' },
  { given: null, target: HOST, words: 'the host', json: { netns: null }, file: '/proc/self/ns/net' },
  { given: 'fw1', target: { netns: 'fw1' }, words: 'network namespace fw1', json: { netns: 'fw1' }, file: '/run/netns/fw1' },
  {
    given: 'nfgit-test_1.a',
    target: { netns: 'nfgit-test_1.a' },
    words: 'network namespace nfgit-test_1.a',
    json: { netns: 'nfgit-test_1.a' },
    file: '/run/netns/nfgit-test_1.a',
  },
];

for (const row of SPELLINGS) {
  test(`target of ${JSON.stringify(row.given) ?? 'no name'}: built, described, stored and read back`, (t) => {
    const target = targetOf(row.given);
    t.deepEqual(target, row.target);
    t.is(describeTarget(target), row.words);
    t.deepEqual(targetToJson(target), row.json);
    t.deepEqual(targetFromJson(targetToJson(target)), row.target);
    t.true(sameTarget(targetFromJson(row.json), target));
    t.is(namespaceFile(target), row.file);
  });
}

test('the host and a namespace, or two namespaces, are not the same target', (t) => {
  t.false(sameTarget(HOST, { netns: 'fw1' }));
  t.false(sameTarget({ netns: 'fw1' }, { netns: 'fw2' }));
  t.true(sameTarget(targetOf(null), targetOf(undefined)));
});

// "." and ".." name /run/netns and /run, which exist: they must never pass for a namespace; "-x" would be an option of ip(8).
const BAD_NAMES = ['', '.', '..', '-x', '.hidden', '_x', 'a b', 'a/b', 'a..b', 'fw1.lock', 'x\n'];

for (const name of BAD_NAMES) {
  test(`refuses the namespace name ${JSON.stringify(name)} with what to give instead`, (t) => {
    const err = t.throws(() => targetOf(name, '--netns'), { instanceOf: UsageError });
    t.is(
      err?.message,
      `--netns must be a name of letters, digits, ".", "_" and "-" that starts with a letter or digit (no "..", not ending in ".lock"), not ${JSON.stringify(name)}`,
    );
    // A target built by hand meets the same rule before anything runs in it.
    t.throws(() => checkTarget({ netns: name }), { instanceOf: UsageError, message: /^network namespace must be a name/ });
  });
}

test('a namespace that does not exist is refused with how to create it', (t) => {
  t.throws(() => checkTarget(targetOf('nfgit-no-such-namespace')), {
    instanceOf: UsageError,
    message:
      'network namespace "nfgit-no-such-namespace" does not exist (no /run/netns/nfgit-no-such-namespace); create it with "ip netns add nfgit-no-such-namespace" or check the name',
  });
  t.notThrows(() => checkTarget(HOST));
});

test('a state file naming a target by a name nfgit would refuse is damaged, not loaded', (t) => {
  const record = (netns: string | null): unknown => ({
    nfgitLastGood: 1,
    appliedAt: 'now',
    target: { netns },
    families: { ipv4: { text: '', usedTables: [], rules: 0, digest: `sha256:${'0'.repeat(64)}` } },
    hostCommands: [],
    source: 'x',
  });
  t.true(lastGoodSchema.safeParse(record(null)).success);
  t.true(lastGoodSchema.safeParse(record('fw1')).success);
  t.false(lastGoodSchema.safeParse(record('..')).success);
});
