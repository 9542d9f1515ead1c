import test from 'ava';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describePause, newPause, pauseState, readPause, removePause, writePause } from '../../src/agent/pause.js';
import { withTempDir } from '../git/signing/tools.js';

// The pause file: when a pause holds, how it is written and read back, and a damaged one.

const NOW = new Date('2026-11-30T12:00:00.000Z');

test('pauseState: none, held without a limit, held until its time, run out at and after it', (t) => {
  t.is(pauseState(undefined, NOW), 'none');
  t.is(pauseState(newPause('alice', NOW, null, null), new Date('2030-01-01T00:00:00Z')), 'active');
  const twoHours = newPause('alice', NOW, 2 * 3_600_000, 'incident');
  t.is(twoHours.until, '2026-11-30T14:00:00.000Z');
  t.is(pauseState(twoHours, new Date('2026-11-30T13:59:59.999Z')), 'active');
  t.is(pauseState(twoHours, new Date('2026-11-30T14:00:00.000Z')), 'expired');
  t.is(pauseState(twoHours, new Date('2026-12-01T00:00:00.000Z')), 'expired');
});

test('newPause: an empty reason is no reason; describePause says who, when, until and why', (t) => {
  t.is(newPause('bob', NOW, null, '  ').reason, null);
  t.is(describePause(newPause('bob', NOW, null, null)), 'paused by bob at 2026-11-30T12:00:00.000Z, until nfgit resume');
  t.is(
    describePause(newPause('bob', NOW, 60_000, 'blocking 203.0.113.7')),
    'paused by bob at 2026-11-30T12:00:00.000Z, until 2026-11-30T12:01:00.000Z: blocking 203.0.113.7',
  );
});

test('written and read back (mode 0644, readable by status --local), removed once', async (t) => {
  await withTempDir('pause', async (dir) => {
    t.is(readPause(dir), undefined);
    const pause = newPause('alice', NOW, 3_600_000, 'incident 7');
    writePause(dir, pause);
    t.deepEqual(readPause(dir), pause);
    t.is(statSync(path.join(dir, 'pause.json')).mode & 0o777, 0o644);
    t.true(removePause(dir));
    t.false(existsSync(path.join(dir, 'pause.json')));
    t.false(removePause(dir));
  });
});

test('a pause file that cannot be used still counts as a pause, and says why (guessing "not paused" could revert a hand-made block)', async (t) => {
  await withTempDir('pause-bad', async (dir) => {
    for (const text of ['{"nfgitPause":1,', '{"nfgitPause":2,"at":"x"}', '{"nfgitPause":1,"at":"2026-11-30T12:00:00Z","until":"soon"}']) {
      writeFileSync(path.join(dir, 'pause.json'), text);
      const pause = readPause(dir);
      t.is(pauseState(pause, NOW), 'active', text);
      t.regex(pause?.reason ?? '', /pause\.json cannot be read \(.*\): paused until it is removed with nfgit resume/);
    }
  });
});
