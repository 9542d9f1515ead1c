import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { removeDurable, stageFile, stageFileAsync, writeDurable } from '../../src/util/durable-file.js';
import type { NfgitError } from '../../src/errors/errors.js';
import { fillDisk, withSmallDisk } from '../apply/helpers/small-disk.js';

test('writeDurable replaces the file whole, leaves no temporary file, and keeps it private', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'nfgit-durable-'));
  try {
    const f = path.join(dir, 'journal.json');
    writeDurable(f, 'one');
    writeDurable(f, 'two');
    t.is(readFileSync(f, 'utf8'), 'two');
    t.deepEqual(readdirSync(dir), ['journal.json']);
    t.is(statSync(f).mode & 0o777, 0o600);
    removeDurable(f);
    removeDurable(f);
    t.deepEqual(readdirSync(dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('on a full disk writeDurable fails naming the disk, keeps the old file whole and leaves no temporary file (a short write is not success)', (t) =>
  withSmallDisk(256, async (dir) => {
    const f = path.join(dir, 'last-good.json');
    writeDurable(f, JSON.stringify({ old: true }));
    await fillDisk(dir, 64 * 1024);
    // Bigger than what is left: write(2) writes what fits and returns a short count, then ENOSPC.
    const big = JSON.stringify({ text: 'x'.repeat(200 * 1024) });
    const err = t.throws(() => writeDurable(f, big, 0o600, { json: true }));
    t.is(err?.message, `could not write ${f}: the disk holding ${dir} is full`);
    t.is((err as NfgitError).code, 'SandboxError');
    t.is(readFileSync(f, 'utf8'), '{"old":true}');
    t.deepEqual(readdirSync(dir).sort(), ['filler', 'last-good.json']);
  }));

test('stageFile writes every byte under a temporary name; discard leaves the old file', (t) =>
  withSmallDisk(256, async (dir) => {
    const f = path.join(dir, 'rules.v4');
    writeDurable(f, 'old\n');
    const s = stageFile(f, 'new\n', 0o600, { noSync: true });
    t.is(readFileSync(f, 'utf8'), 'old\n');
    s.discard();
    t.deepEqual(readdirSync(dir), ['rules.v4']);
    stageFile(f, 'new\n').commit();
    t.is(readFileSync(f, 'utf8'), 'new\n');
  }));

test('stageFileAsync writes every byte under a temporary name of its own; on a full disk it fails naming the disk and leaves nothing', (t) =>
  withSmallDisk(256, async (dir) => {
    const f = path.join(dir, 'journal.v4');
    writeDurable(f, 'old\n');
    const s = await stageFileAsync(f, 'new\n', 0o600, { json: true });
    t.deepEqual(readdirSync(dir).sort(), [`.journal.v4.tmp-${process.pid}-early`, 'journal.v4']);
    t.is(readFileSync(f, 'utf8'), 'old\n');
    s.commit();
    t.is(readFileSync(f, 'utf8'), 'new\n');
    t.is(statSync(f).mode & 0o777, 0o600);
    await fillDisk(dir, 64 * 1024);
    const err = await t.throwsAsync(stageFileAsync(f, 'x'.repeat(200 * 1024)));
    t.is(err?.message, `could not write ${f}: the disk holding ${dir} is full`);
    t.deepEqual(readdirSync(dir).sort(), ['filler', 'journal.v4']);
  }));
