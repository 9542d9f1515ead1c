import test from 'ava';
import { RecordStream } from '../../src/compiler/record-stream.js';

const encode = (...fields: string[]): Buffer => Buffer.from(fields.map((f) => f + '\0').join(''), 'utf8');

test('records split across chunks anywhere, including inside UTF-8', (t) => {
  const whole = Buffer.concat([encode('4', '1', '/r/10:3', '3', '-A', 'INPUT', 'café ✓'), encode('M', '0', '1', 'sysctl'), encode('Z', '0', '0')]);
  for (let cut = 1; cut < whole.length; cut++) {
    const s = new RecordStream();
    const recs = [...s.push(whole.subarray(0, cut)), ...s.push(whole.subarray(cut))];
    t.deepEqual(recs, [
      { kind: '4', trace: ['/r/10:3'], args: ['-A', 'INPUT', 'café ✓'] },
      { kind: 'M', trace: [], args: ['sysctl'] },
      { kind: 'Z', trace: [], args: [] },
    ]);
    t.false(s.pending);
  }
});

test('empty arguments survive', (t) => {
  const s = new RecordStream();
  t.deepEqual(s.push(encode('4', '0', '3', '', 'a b', '')), [{ kind: '4', trace: [], args: ['', 'a b', ''] }]);
});

test('an unfinished record is pending', (t) => {
  const s = new RecordStream();
  t.deepEqual(s.push(encode('4', '1', '/r:1', '2', '-A')), []);
  t.true(s.pending);
});
