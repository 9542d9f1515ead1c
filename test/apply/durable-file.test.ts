import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { removeDurable, writeDurable } from '../../src/apply/durable-file.js';

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
