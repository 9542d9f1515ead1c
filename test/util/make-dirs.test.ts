import test from 'ava';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { makeDirs, makeDirsSync } from '../../src/util/make-dirs.js';
import { CLI } from '../helpers/paths.js';

test('nested directories are made with the mode; existing ones are fine', async (t) => {
  const base = mkdtempSync(path.join(tmpdir(), 'nfgit-make-dirs-'));
  try {
    makeDirsSync(path.join(base, 'a/b/c'), 0o700);
    t.is(statSync(path.join(base, 'a/b/c')).mode & 0o777, 0o700);
    makeDirsSync(path.join(base, 'a/b/c'), 0o700);
    await makeDirs(path.join(base, 'x/y'));
    t.true(statSync(path.join(base, 'x/y')).isDirectory());
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

// Node's recursive mkdir loops forever under /proc; these throw at once.
test('a directory that cannot be made under /proc is an error, not a hang', async (t) => {
  t.throws(() => makeDirsSync('/proc/nfgit-no-such/dir'), { code: 'ENOENT' });
  await t.throwsAsync(makeDirs('/proc/nfgit-no-such/dir'), { code: 'ENOENT' });
});

test('nfgit keygen --key under /proc says it cannot make the directory (exit 2)', async (t) => {
  const r = await execa('node', [CLI, 'keygen', '--key', '/proc/nfgit-no-such/key'], { reject: false, timeout: 60_000 });
  t.is(r.exitCode, 2, String(r.stderr));
  t.regex(String(r.stderr), /cannot make the directory of \/proc\/nfgit-no-such\/key/);
});
