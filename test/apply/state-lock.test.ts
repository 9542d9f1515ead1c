import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { lockStateDir } from '../../src/apply/state-lock.js';

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
    t.false(existsSync(path.join(dir, 'lock')));
  }));

test('a waiter gets the lock when it is released', (t) =>
  withDir(async (dir) => {
    const first = await lockStateDir(dir, 'first', 1000);
    setTimeout(() => first.release(), 200);
    const second = await lockStateDir(dir, 'second', 5000);
    t.is(JSON.parse(readFileSync(path.join(dir, 'lock'), 'utf8')).command, 'second');
    second.release();
  }));

test('a lock left by a dead process is taken over', (t) =>
  withDir(async (dir) => {
    writeFileSync(path.join(dir, 'lock'), JSON.stringify({ pid: 999999, start: '1', command: 'killed', since: 'then' }));
    const lock = await lockStateDir(dir, 'me', 100);
    t.is(JSON.parse(readFileSync(path.join(dir, 'lock'), 'utf8')).command, 'me');
    lock.release();
  }));

test('a lock whose pid was reused by another process is taken over', (t) =>
  withDir(async (dir) => {
    writeFileSync(path.join(dir, 'lock'), JSON.stringify({ pid: process.pid, start: 'not-my-start-time', command: 'old', since: 'then' }));
    const lock = await lockStateDir(dir, 'me', 100);
    t.is(JSON.parse(readFileSync(path.join(dir, 'lock'), 'utf8')).command, 'me');
    lock.release();
  }));
