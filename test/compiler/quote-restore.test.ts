import test from 'ava';
import { quoteRestoreArg, quoteSpec } from '../../src/compiler/quote-restore.js';

const quotes = test.macro((t, arg: string, expected: string) => {
  const q = quoteRestoreArg(arg);
  t.deepEqual(q, { ok: true, text: expected });
}) as import('ava').Macro<[string, string]>;

test('bare word', quotes, 'ACCEPT', 'ACCEPT');
test('backslash is quoted and escaped', quotes, 'a\\b', '"a\\\\b"');
test('space', quotes, 'a b', '"a b"');
test('double quote', quotes, 'say "hi"', '"say \\"hi\\""');
test('single quote', quotes, "it's", '"it\'s"');
test('backslash with space', quotes, 'a\\ b', '"a\\\\ b"');
test('empty', quotes, '', '""');
test('hash and semicolon', quotes, '#1;2', '#1;2');
test('tab', quotes, 'a\tb', '"a\tb"');

test('newline is refused', (t) => {
  const q = quoteRestoreArg('a\nb');
  t.false(q.ok);
});

test('1024 bytes are refused, 1023 accepted', (t) => {
  t.true(quoteRestoreArg('x'.repeat(1023)).ok);
  const q = quoteRestoreArg('x'.repeat(1024));
  t.false(q.ok);
  if (!q.ok) t.true(q.message.includes('1023'));
});

test('quoteSpec: the words of a spec quoted and joined, or the first one restore cannot carry', (t) => {
  t.deepEqual(quoteSpec(['-m', 'comment', '--comment', 'a "b"', '-j', 'ACCEPT']), {
    ok: true,
    text: '-m comment --comment "a \\"b\\"" -j ACCEPT',
  });
  t.deepEqual(quoteSpec([]), { ok: true, text: '' });
  t.false(quoteSpec(['--comment', 'a\nb']).ok);
});
