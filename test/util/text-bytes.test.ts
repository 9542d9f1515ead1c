import test from 'ava';
import { bytesOf } from '../../src/util/text-bytes.js';

test('a large text is encoded once: the same bytes for it and for an equal text, UTF-8 all the same', (t) => {
  const text = `${'-A INPUT -j ACCEPT\n'.repeat(5000)}-A INPUT -m comment --comment "é ✓" -j DROP\n`;
  const bytes = bytesOf(text);
  t.true(bytes.equals(Buffer.from(text, 'utf8')));
  t.is(bytesOf(text), bytes);
  // An equal text built apart (another string) finds the same bytes.
  t.is(bytesOf(text.split('\n').join('\n')), bytes);
  const other = text.replace('DROP', 'RETURN');
  t.not(bytesOf(other), bytes);
  t.true(bytesOf(other).equals(Buffer.from(other, 'utf8')));
});

test('a small text is encoded each time', (t) => {
  const a = bytesOf('*filter\nCOMMIT\n');
  t.not(bytesOf('*filter\nCOMMIT\n'), a);
  t.is(a.toString('utf8'), '*filter\nCOMMIT\n');
});
