import test, { type ExecutionContext } from 'ava';
import { committerTime } from '../../src/git/commit-time.js';

const TREE = 'tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1600000000 +0200\n';

const reads = test.macro((t: ExecutionContext, raw: string, expected: string | undefined) => {
  t.is(committerTime(Buffer.from(raw))?.toISOString(), expected);
  t.is(committerTime(raw)?.toISOString(), expected);
});

test('the committer line, not the author line', reads, `${TREE}committer C <c@x> 1700000000 -0500\n\nmsg\n`, '2023-11-14T22:13:20.000Z');
test('a name with > and spaces', reads, `${TREE}committer C > D <c@x> 1700000000 +0000\n\nmsg\n`, '2023-11-14T22:13:20.000Z');
test('a committer line in the message does not count', reads, `${TREE}\ncommitter C <c@x> 1700000000 +0000\n`, undefined);
test('no time zone', reads, `${TREE}committer C <c@x> 1700000000\n\nmsg\n`, undefined);
test('no committer line', reads, TREE, undefined);
