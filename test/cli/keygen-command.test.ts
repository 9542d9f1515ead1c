import test from 'ava';
import { execa } from 'execa';
import { mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CLI } from '../helpers/paths.js';

// `nfgit keygen --if-missing` (issue 13, images): a host cloned from an image must make its own key at
// first boot, and the unit or postinst that runs it again must keep the key it made.

const nfgit = (args: string[]) => execa('node', [CLI, ...args], { reject: false });

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'nfgit-t-keygen-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('keygen --if-missing makes the key when there is none, then keeps it and prints the same line (exit 0)', (t) =>
  withDir(async (dir) => {
    const key = path.join(dir, 'etc/nfgit/signing_key');
    const first = await nfgit(['keygen', '--if-missing', '--key', key, '--host', 'img1']);
    t.is(first.exitCode, 0, first.stderr);
    t.regex(first.stdout, /^img1@nfgit namespaces="git" ssh-ed25519 \S+$/);
    const private1 = await readFile(key, 'utf8');

    const again = await nfgit(['keygen', '--if-missing', '--key', key]);
    t.is(again.exitCode, 0, again.stderr);
    t.is(again.stdout, first.stdout, 'the host comes from the key comment, and the key is the same');
    t.regex(again.stderr, /exists: kept \(--if-missing\)/);
    t.is(await readFile(key, 'utf8'), private1, 'the private key was not touched');

    // Without --if-missing it still refuses (exit 2).
    const plain = await nfgit(['keygen', '--key', key]);
    t.is(plain.exitCode, 2);
    t.regex(plain.stderr, /already exists/);
  }));

test('keygen --if-missing puts back a missing .pub, and refuses a file that is not a key (exit 2, not replaced)', (t) =>
  withDir(async (dir) => {
    const key = path.join(dir, 'signing_key');
    const made = await nfgit(['keygen', '--key', key, '--host', 'h2']);
    t.is(made.exitCode, 0, made.stderr);
    const pub = await readFile(`${key}.pub`, 'utf8');
    await rm(`${key}.pub`);
    const r = await nfgit(['keygen', '--if-missing', '--key', key]);
    t.is(r.exitCode, 0, r.stderr);
    t.is(r.stdout, made.stdout);
    t.is(await readFile(`${key}.pub`, 'utf8'), pub);

    const junk = path.join(dir, 'junk_key');
    await writeFile(junk, 'not a key\n', { mode: 0o600 });
    const bad = await nfgit(['keygen', '--if-missing', '--key', junk]);
    t.is(bad.exitCode, 2, bad.stderr);
    t.is(await readFile(junk, 'utf8'), 'not a key\n');
  }));

test('keygen --if-missing does not follow a dangling symbolic link to make a key elsewhere', (t) =>
  withDir(async (dir) => {
    const key = path.join(dir, 'signing_key');
    const elsewhere = path.join(dir, 'elsewhere');
    await symlink(elsewhere, key);
    const r = await nfgit(['keygen', '--if-missing', '--key', key]);
    t.not(r.exitCode, 0);
    t.false(existsSync(elsewhere));
  }));

test('keygen writes the .pub readable by all (0644) under a umask of 077, as in nfgit-keygen.service', (t) =>
  withDir(async (dir) => {
    const key = path.join(dir, 'signing_key');
    const r = await execa('sh', ['-c', 'umask 077 && exec "$@"', 'sh', 'node', CLI, 'keygen', '--if-missing', '--key', key], {
      reject: false,
    });
    t.is(r.exitCode, 0, r.stderr);
    t.is((await stat(key)).mode & 0o777, 0o600);
    t.is((await stat(`${key}.pub`)).mode & 0o777, 0o644);
  }));
