import test from 'ava';
import { formatDuration, parseDuration } from '../../src/agent/duration.js';

const parses = test.macro({
  exec(t, text: string, ms: number) {
    t.is(parseDuration(text), ms);
  },
  title: (_provided, text: string, ms: number) => `parses ${JSON.stringify(text)} as ${ms} ms`,
});

const refuses = test.macro({
  exec(t, text: string) {
    t.is(parseDuration(text), undefined);
  },
  title: (provided, text: string) => `refuses ${JSON.stringify(text)}${provided === undefined ? '' : ` (${provided})`}`,
});

const formats = test.macro({
  exec(t, ms: number, text: string) {
    t.is(formatDuration(ms), text);
  },
  title: (_provided, ms: number, text: string) => `formats ${ms} ms as ${text}`,
});

test(parses, '500ms', 500);
test(parses, '30s', 30_000);
test(parses, '5m', 300_000);
test(parses, '2h', 7_200_000);
test(parses, '1d', 86_400_000);
test(parses, '1m30s', 90_000);
test(parses, '1d2h3m4s5ms', 93_784_005);
test(parses, '90s', 90_000);
test(parses, '0s', 0);

test('a bare number', refuses, '30');
test('no number', refuses, 's');
test('empty', refuses, '');
test('a space inside', refuses, '1m 30s');
test('surrounding space', refuses, ' 30s');
test('units out of order', refuses, '30s1m');
test('a unit twice', refuses, '1m1m');
test('a fraction', refuses, '1.5s');
test('a sign', refuses, '-5s');
test('an unknown unit', refuses, '2w');
test('upper case', refuses, '30S');
test('spelled out', refuses, '30 seconds');
test('beyond safe integers', refuses, '99999999999999999999d');

test(formats, 0, '0s');
test(formats, 500, '500ms');
test(formats, 30_000, '30s');
test(formats, 90_000, '1m30s');
test(formats, 93_784_005, '1d2h3m4s5ms');
test(formats, 2 ** 31 - 1, '24d20h31m23s647ms');
test(formats, 1499.6, '1s500ms');
test(formats, -90_000, '-1m30s');

test('formatDuration writes what parseDuration reads', (t) => {
  for (const ms of [1, 999, 1000, 61_000, 3_600_001, 86_400_000, 2 ** 31 - 1]) t.is(parseDuration(formatDuration(ms)), ms);
});
