import test from 'ava';
import { chmodSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { withStateDir } from '../helpers/state-dir.js';
import { leanStateReader, sha256, type ValidatedLastGood } from '../../src/agent/lean-state.js';
import { fileStamp } from '../../src/util/state-security.js';

// The daemon's idle poll reads last-good.json without zod (issue 15): only the very bytes the last full
// pass validated are believed; anything else throws, which leaves the poll to a full pass.

const SUMMARY = { source: 'git:1234', appliedAt: '2026-12-01T00:00:00.000Z', families: { ipv4: { rules: 3 } } };

test('last-good.json is believed only as the last full pass validated it', async (t) => {
  await withStateDir(async (state, dir) => {
    const file = path.join(state, 'last-good.json');
    let validated: ValidatedLastGood | undefined;
    const reader = leanStateReader(state, () => validated);
    t.notThrows(() => reader.checkDir());

    t.throws(() => reader.readLastGood(), undefined, 'no full pass yet');
    validated = null;
    t.is(reader.readLastGood(), undefined, 'none then, none now');
    writeFileSync(file, '{"nfgitLastGood":1}\n', { mode: 0o600 });
    t.throws(() => reader.readLastGood(), undefined, 'one written since');

    validated = { sha256: sha256('{"nfgitLastGood":1}\n'), summary: SUMMARY };
    t.deepEqual(reader.readLastGood(), SUMMARY);
    writeFileSync(file, '{"nfgitLastGood":1} \n');
    t.throws(() => reader.readLastGood(), undefined, 'changed since');
    writeFileSync(file, '{"nfgitLastGood":1}\n');
    chmodSync(file, 0o622);
    t.throws(() => reader.readLastGood(), undefined, 'others can write it');
    chmodSync(file, 0o600);
    rmSync(file);
    t.throws(() => reader.readLastGood(), undefined, 'gone since');

    chmodSync(state, 0o755);
    t.throws(() => reader.checkDir(), undefined, 'a directory checkStateDir would tighten is its to tighten');
    t.is(statSync(state).mode & 0o777, 0o755, 'and left as it is');
    chmodSync(state, 0o700);
    chmodSync(dir, 0o777);
    t.throws(() => reader.checkDir(), undefined, 'a parent others can write');
    chmodSync(dir, 0o1777);
    t.notThrows(() => reader.checkDir(), 'a sticky parent (/tmp)');
    chmodSync(dir, 0o700);
  });
});

test('a last-good.json that matched is not hashed again while it is the same write; any change to it is seen', async (t) => {
  await withStateDir(async (state) => {
    const file = path.join(state, 'last-good.json');
    const good = '{"nfgitLastGood":1,"source":"a"}\n';
    writeFileSync(file, good, { mode: 0o600 });
    const validated: ValidatedLastGood = { sha256: sha256(good), summary: SUMMARY };
    const reader = leanStateReader(state, () => validated);
    t.deepEqual(reader.readLastGood(), SUMMARY);
    t.deepEqual(reader.readLastGood(), SUMMARY, 'the same write again');
    // Changed in place, same size, its modification time put back: the change time (which only the kernel sets) tells.
    const before = statSync(file);
    // Past the kernel's timestamp granularity (a jiffy where timestamps are coarse), so the change time moves.
    while (Date.now() < before.ctimeMs + 50) await new Promise((r) => setTimeout(r, 10));
    writeFileSync(file, good.replace('"a"', '"b"'));
    utimesSync(file, before.atime, before.mtime);
    t.throws(() => reader.readLastGood(), undefined, 'an edit in place, same size and mtime');
    // Put back by a rename (a new inode, as nfgit writes): read and hashed again, and believed.
    writeFileSync(path.join(state, 'next'), good, { mode: 0o600 });
    renameSync(path.join(state, 'next'), file);
    t.deepEqual(reader.readLastGood(), SUMMARY, 'the validated bytes again, in a new file');
    chmodSync(file, 0o622);
    t.throws(() => reader.readLastGood(), undefined, 'the checks run on every poll, read or not');
    chmodSync(file, 0o600);
    t.deepEqual(reader.readLastGood(), SUMMARY);
  });
});

test('the write of last-good.json the full pass validated (its stamp) is believed without being read', async (t) => {
  await withStateDir(async (state) => {
    const file = path.join(state, 'last-good.json');
    writeFileSync(file, '{"nfgitLastGood":1}\n', { mode: 0o600 });
    // A sha256 these bytes do not have: only a reader that does not read the file believes it.
    const validated: ValidatedLastGood = { sha256: sha256('other bytes'), stamp: fileStamp(statSync(file)), summary: SUMMARY };
    const reader = leanStateReader(state, () => validated);
    t.deepEqual(reader.readLastGood(), SUMMARY, 'the validated write: not read');
    while (Date.now() < statSync(file).ctimeMs + 50) await new Promise((r) => setTimeout(r, 10));
    chmodSync(file, 0o600);
    t.throws(
      () => reader.readLastGood(),
      undefined,
      'another stamp (its change time moved): read, and its bytes are not the validated ones',
    );
  });
});
