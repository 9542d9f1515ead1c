import test from 'ava';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { lockStateDir } from '../../src/apply/state-lock.js';
import { fillDisk, withSmallDisk } from './helpers/small-disk.js';

const withDir = async (fn: (dir: string) => Promise<void>): Promise<void> => {
  const dir = await mkdtemp(path.join(tmpdir(), 'nfgit-lock-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

test('a held lock makes the next taker wait, then fail naming the holder', (t) =>
  withDir(async (dir) => {
    const lock = await lockStateDir(dir, 'nfgit apply --rules a', 1000);
    const started = Date.now();
    const err = await t.throwsAsync(lockStateDir(dir, 'nfgit apply --rules b', 300));
    t.true(Date.now() - started >= 300);
    t.regex(err?.message ?? '', new RegExp(`in use by "nfgit apply --rules a" \\(pid ${process.pid}`));
    lock.release();
    await t.notThrowsAsync(lockStateDir(dir, 'nfgit apply --rules c', 1000).then((l) => l.release()));
  }));

test('a waiter gets the lock when it is released', (t) =>
  withDir(async (dir) => {
    const first = await lockStateDir(dir, 'first', 1000);
    setTimeout(() => first.release(), 200);
    const second = await lockStateDir(dir, 'second', 5000);
    t.is(JSON.parse(readFileSync(path.join(dir, 'lock'), 'utf8')).command, 'second');
    second.release();
  }));

test('a lock file left by a dead process does not block (the kernel freed its flock)', (t) =>
  withDir(async (dir) => {
    writeFileSync(path.join(dir, 'lock'), JSON.stringify({ pid: 999999, command: 'killed', since: 'then' }));
    const lock = await lockStateDir(dir, 'me', 100);
    t.is(JSON.parse(readFileSync(path.join(dir, 'lock'), 'utf8')).command, 'me');
    lock.release();
  }));

test('the lock dies with its holder, even on SIGKILL', (t) =>
  withDir(async (dir) => {
    const { execa } = await import('execa');
    const holder = execa(
      'node',
      [
        '--input-type=module',
        '-e',
        `import { lockStateDir } from ${JSON.stringify(new URL('../../src/apply/state-lock.js', import.meta.url).href)}; await lockStateDir(${JSON.stringify(dir)}, 'holder', 1000); console.log('held'); setInterval(() => {}, 1000);`,
      ],
      { reject: false },
    );
    await new Promise<void>((resolve) => holder.stdout?.on('data', (b: Buffer) => b.toString().includes('held') && resolve()));
    await t.throwsAsync(lockStateDir(dir, 'me', 200), { message: /in use by "holder"/ });
    holder.kill('SIGKILL');
    await holder;
    const lock = await lockStateDir(dir, 'me', 5000);
    lock.release();
    t.pass();
  }));

test('a lock taken on a full disk is held, then released: nfgit does not hang holding it', (t) =>
  withSmallDisk(64, async (dir) => {
    closeSync(openSync(path.join(dir, 'lock'), 'a', 0o600));
    await fillDisk(dir, 0);
    const { execa } = await import('execa');
    // In its own process: before the fix the holder text's ENOSPC escaped with the flock child still
    // holding the lock, and its pipes kept the process alive for ever.
    const script = `import { lockStateDir } from ${JSON.stringify(new URL('../../src/apply/state-lock.js', import.meta.url).href)}; const l = await lockStateDir(${JSON.stringify(dir)}, 'full', 1000); console.log('held'); l.release();`;
    const r = await execa('node', ['--input-type=module', '-e', script], { reject: false, timeout: 60_000 });
    t.is(r.exitCode, 0, String(r.stderr));
    t.is(r.stdout, 'held');
    const lock = await lockStateDir(dir, 'next', 1000);
    lock.release();
  }));
