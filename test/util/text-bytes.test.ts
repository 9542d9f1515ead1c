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

test('bytes known from a read are given back for an ASCII text, not for another; texts encoded once the reserve is in place are views of it', async (t) => {
  const read = Buffer.from(`${'-A FORWARD -j ACCEPT\n'.repeat(5000)}`, 'utf8');
  const text = read.toString('utf8');
  knownBytes(text, read);
  t.is(bytesOf(text), read);
  // Not their encoding: an invalid byte (read as U+FFFD, as many characters as bytes), and an é (two bytes).
  for (const tail of [Buffer.from([0xff]), Buffer.from('é', 'utf8')]) {
    const odd = Buffer.concat([Buffer.from('-A INPUT -j DROP\n'.repeat(5000), 'utf8'), tail]);
    const oddText = odd.toString('utf8');
    knownBytes(oddText, odd);
    t.not(bytesOf(oddText), odd);
    t.true(bytesOf(oddText).equals(Buffer.from(oddText, 'utf8')));
  }
  await reserveBytes(1 << 20);
  const ascii = `${'-A OUTPUT -j ACCEPT\n'.repeat(4000)}`;
  const bytes = bytesOf(ascii);
  t.is(bytes.buffer.byteLength, 1 << 20, 'a view of the reserve');
  t.true(bytes.equals(Buffer.from(ascii, 'utf8')));
  const utf8 = `${'-A OUTPUT -m comment --comment "✓ é" -j ACCEPT\n'.repeat(2000)}`;
  const other = bytesOf(utf8);
  t.is(other.buffer, bytes.buffer, 'a text that is not ASCII goes there too');
  t.true(other.equals(Buffer.from(utf8, 'utf8')));
  const big = `${'x'.repeat(2 << 20)}\n`;
  t.not(bytesOf(big).buffer, bytes.buffer, 'a text larger than the room left: its own buffer');
  t.true(bytesOf(big).equals(Buffer.from(big, 'utf8')));
  // The next apply (the daemon's next pass) gets a reserve of its own, with room again.
  await reserveBytes(3 << 20);
  const next = `${'-A INPUT -j DROP\n'.repeat(5000)}`;
  t.is(bytesOf(next).buffer.byteLength, 3 << 20, 'a view of the new reserve');
  t.true(bytesOf(next).equals(Buffer.from(next, 'utf8')));
});
