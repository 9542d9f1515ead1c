import test from 'ava';
import { bytesOf, knownBytes, reserveBytes } from '../../src/util/text-bytes.js';

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

test('bytes known from a read are given back for their text; texts encoded once the reserve is in place are views of it', async (t) => {
  const read = Buffer.from(`${'-A FORWARD -j ACCEPT\n'.repeat(5000)}`, 'utf8');
  const text = read.toString('utf8');
  knownBytes(text, read);
  t.is(bytesOf(text), read);
  reserveBytes(1 << 20);
  // The reserve's pages are put in place in libuv's threads: wait for it (a later text is a view of it).
  let bytes = bytesOf(`${'-A OUTPUT -j ACCEPT\n'.repeat(4000)}#0\n`);
  for (let i = 1; bytes.buffer.byteLength !== 1 << 20 && i < 200; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    bytes = bytesOf(`${'-A OUTPUT -j ACCEPT\n'.repeat(4000)}#${i}\n`);
  }
  t.is(bytes.buffer.byteLength, 1 << 20, 'a view of the reserve');
  t.true(bytes.equals(Buffer.from(bytes.toString('utf8'), 'utf8')));
  const big = `${'x'.repeat(2 << 20)}\n`;
  t.true(bytesOf(big).equals(Buffer.from(big, 'utf8')), 'a text larger than the room left: its own buffer');
});
