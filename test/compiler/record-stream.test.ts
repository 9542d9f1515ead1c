import test from 'ava';
import { aliasLocation, RecordStream } from '../../src/compiler/record-stream.js';

const MARK = '\u001emark\u001e';
const encode = (...fields: string[]): Buffer => Buffer.from(fields.map((f) => f + '\0').join(''), 'utf8');

test('records split across chunks anywhere, including inside UTF-8', (t) => {
  const whole = Buffer.concat([
    encode(MARK, '4', '1', '/r/10:3', '3', '-A', 'INPUT', 'café ✓'),
    encode(MARK, 'A4', '4', '1', '/p:9', '/r/10:0', '/r/10', '-A', 'INPUT', '-j', 'ACCEPT'),
    encode(MARK, 'M', '0', '1', 'sysctl'),
    encode(MARK, 'AM', '5', '0', 'sysctl', '-w', 'x=1'),
    encode(MARK, 'U4', '3', '-A', 'INPUT', 'é', '/r/05:3', '/r/10:6'),
    encode(MARK, 'U6', '0', '', '/r/10:7'),
    encode(MARK, 'U4', '2', '', '', '/r/10:8'),
    encode(MARK, 'V', '1', '2', '/r/10:9', '/p:9', '/r/05:1', '/r/10:0', 'add', '/r/10', 'ip6tables', '-A', 'INPUT'),
  ]);
  for (let cut = 1; cut < whole.length; cut++) {
    const s = new RecordStream(MARK);
    const recs = [...s.push(whole.subarray(0, cut)), ...s.push(whole.subarray(cut)), ...s.end()];
    t.deepEqual(recs, [
      { kind: '4', trace: ['/r/10:3'], args: ['-A', 'INPUT', 'café ✓'] },
      { kind: 'A4', trace: ['/r/10:4', '/p:9'], args: ['-A', 'INPUT', '-j', 'ACCEPT'] },
      { kind: 'M', trace: [], args: ['sysctl'] },
      { kind: 'AM', trace: [':5'], args: ['sysctl', '-w', 'x=1'] },
      { kind: 'U4', trace: ['/r/05:3', '/r/10:6'], args: ['-A', 'INPUT', 'é'] },
      { kind: 'U6', trace: ['/r/10:7'], args: [] },
      { kind: 'U4', trace: ['/r/10:8'], args: ['', ''] },
      { kind: 'V', trace: ['/r/05:2', '/r/10:9', '/p:9'], args: ['ip6tables', '-A', 'INPUT'] },
    ]);
  }
});

test('an alias record is complete only at the next marker or the end', (t) => {
  const s = new RecordStream(MARK);
  t.deepEqual(s.push(encode(MARK, 'A4', '1', '1', '/p:3', '/r:0', '/r', '-A', 'INPUT')), []);
  t.deepEqual(s.push(encode(MARK, 'Z', '0', '0')), [
    { kind: 'A4', trace: ['/r:1', '/p:3'], args: ['-A', 'INPUT'] },
    { kind: 'Z', trace: [], args: [] },
  ]);
});

test('a function record (U) is complete only at the next marker or the end, and cannot have fewer fields than arguments', (t) => {
  const s = new RecordStream(MARK);
  t.deepEqual(s.push(encode(MARK, 'U4', '1', '-L', '/r:1')), []);
  t.deepEqual(s.end(), [{ kind: 'U4', trace: ['/r:1'], args: ['-L'] }]);
  t.false(s.pending);
  t.throws(() => new RecordStream(MARK).push(encode(MARK, 'U4', '3', '-A', MARK, 'Z', '0', '0')), { message: /out of step/ });
});

test("an argument holding the marker's first character, or a piece of the marker, is an argument", (t) => {
  // findNext looks for the marker's first character and then the whole NUL-marker-NUL.
  // (The whole marker cannot be an argument: it is random, 24 hex digits, in each run.)
  const odd = ['\u001e', 'a\u001emark', '\u001emar', 'mark\u001e', 'x\u001e'];
  const whole = Buffer.concat([encode(MARK, 'A4', '1', '1', '/p:3', '/r:0', '/r', '-A', ...odd), encode(MARK, 'Z', '0', '0')]);
  for (let cut = 1; cut < whole.length; cut++) {
    const s = new RecordStream(MARK);
    t.deepEqual(
      [...s.push(whole.subarray(0, cut)), ...s.push(whole.subarray(cut)), ...s.end()],
      [
        { kind: 'A4', trace: ['/r:1', '/p:3'], args: ['-A', ...odd] },
        { kind: 'Z', trace: [], args: [] },
      ],
    );
  }
});

test('empty arguments survive', (t) => {
  const s = new RecordStream(MARK);
  t.deepEqual(s.push(encode(MARK, '4', '0', '3', '', 'a b', '')), [{ kind: '4', trace: [], args: ['', 'a b', ''] }]);
});

test('an unfinished record is pending', (t) => {
  const s = new RecordStream(MARK);
  t.deepEqual(s.push(encode(MARK, '4', '1', '/r:1', '2', '-A')), []);
  t.true(s.pending);
});

test('a stream out of step is an error', (t) => {
  const s = new RecordStream(MARK);
  t.throws(() => s.push(encode('garbage', '4', '0', '0')), { message: /out of step/ });
});

test('alias locations: $LINENO from the first line of the innermost frame, one line less inside an eval', (t) => {
  t.is(aliasLocation('4', '/r/10-web:0', '/r/10-web'), '/r/10-web:4');
  t.is(aliasLocation('2', '/r/10-web:6', '(eval)'), '/r/10-web:7');
  t.is(aliasLocation('1', '/r/10-web:6', '(eval)'), '/r/10-web:6');
  t.is(aliasLocation('0', '/r/10-web:0', '(eval)'), '/r/10-web:0');
  t.is(aliasLocation('2', '/r/05-helpers:1', 'allow'), '/r/05-helpers:3');
  t.is(aliasLocation('3', '/r/a:b/10-x:9', 'f:g'), '/r/a:b/10-x:12');
});
