import test from 'ava';
import { execa } from 'execa';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NfgitError } from '../../src/errors/errors.js';
import { backupName, HOOK_LIB, packageHooksDir, planInstall, type HookFile, type HookStep } from '../../src/hooks/install.js';
import { CLI, ROOT } from '../helpers/paths.js';
import { mustRun, withTempDir } from '../git/signing/tools.js';

const nfgit = (args: string[], env: Record<string, string> = {}) => execa('node', [CLI, ...args], { reject: false, env });
const file = (name: string, content: string, existing: string | null): HookFile => ({
  name,
  content: Buffer.from(content),
  existing: existing === null ? null : Buffer.from(existing),
});
const none = (): boolean => false;

const plan = test.macro((t, files: HookFile[], force: boolean, expected: HookStep[]) => {
  t.deepEqual(planInstall(files, { force, hooksDir: '/r/hooks', taken: none }), expected);
});

test('a new hook is created, executable', plan, [file('pre-push', 'A', null)], false, [
  { name: 'pre-push', action: 'create', mode: 0o755 },
]);
test('the library is installed but not executable', plan, [file(HOOK_LIB, 'L', null)], false, [
  { name: HOOK_LIB, action: 'create', mode: 0o644 },
]);
test('identical content is left alone', plan, [file('pre-push', 'A', 'A')], false, [
  { name: 'pre-push', action: 'unchanged', mode: 0o755 },
]);
test('--force replaces different content, with a backup', plan, [file('pre-push', 'A', 'B')], true, [
  { name: 'pre-push', action: 'replace', mode: 0o755, backup: 'pre-push.nfgit-backup' },
]);

test('without --force, different content refuses the whole install, naming every file', (t) => {
  const err = t.throws(
    () =>
      planInstall([file('pre-receive', 'A', 'B'), file('post-receive', 'C', null), file('nfgit-hook-lib.sh', 'L', 'X')], {
        force: false,
        hooksDir: '/r/hooks',
        taken: none,
      }),
    {
      instanceOf: NfgitError,
    },
  );
  t.is(err?.code, 'UsageError');
  t.is(
    err?.message,
    "/r/hooks/pre-receive, /r/hooks/nfgit-hook-lib.sh exist and are not nfgit's; nothing was installed. Merge by hand, or run again with --force to replace (the old file is kept as NAME.nfgit-backup)",
  );
});

test('a backup never overwrites an older backup', (t) => {
  const taken = new Set(['x.nfgit-backup', 'x.nfgit-backup.2']);
  t.is(
    backupName('x', (f) => taken.has(f)),
    'x.nfgit-backup.3',
  );
  t.is(
    backupName('y', (f) => taken.has(f)),
    'y.nfgit-backup',
  );
});

test('the hooks folder is found beside dist/, or where NFGIT_HOOKS_DIR says', (t) => {
  t.is(packageHooksDir({}), path.join(ROOT, 'hooks'));
  t.is(packageHooksDir({ NFGIT_HOOKS_DIR: '/usr/share/nfgit/hooks' }), '/usr/share/nfgit/hooks');
});

const mode = (f: string): number => statSync(f).mode & 0o777;

test('install into a bare repository: pre-receive, post-receive and the library; again: nothing to do', (t) =>
  withTempDir('hooks-install', async (dir) => {
    const bare = path.join(dir, 'fw.git');
    await mustRun('git', ['init', '-q', '--bare', bare]);
    const r = await nfgit(['hooks', 'install', bare]);
    t.is(r.exitCode, 0, r.stderr);
    const hooks = path.join(bare, 'hooks');
    t.is(
      r.stdout,
      [
        `nfgit server-side hooks (pushes are checked here, then the local agent is triggered) in ${hooks}:`,
        `  installed ${hooks}/pre-receive`,
        `  installed ${hooks}/post-receive`,
        `  installed ${hooks}/nfgit-hook-lib.sh`,
        `  recorded how to run nfgit in git config nfgit.command: ${process.execPath} ${CLI}`,
      ].join('\n'),
    );
    // One value a word, so that a path with blanks stays one word (the hooks read it with --get-all).
    t.is(await mustRun('git', ['--git-dir', bare, 'config', '--get-all', 'nfgit.command']), `${process.execPath}\n${CLI}\n`);
    for (const name of ['pre-receive', 'post-receive']) {
      t.deepEqual(readFileSync(path.join(hooks, name)), readFileSync(path.join(ROOT, 'hooks', name)));
      t.is(mode(path.join(hooks, name)), 0o755);
    }
    t.is(mode(path.join(hooks, HOOK_LIB)), 0o644);
    const again = await nfgit(['hooks', 'install', bare]);
    t.is(again.exitCode, 0);
    t.regex(
      again.stdout,
      /pre-receive is up to date\n.*post-receive is up to date\n.*nfgit-hook-lib.sh is up to date\n {2}git config nfgit.command is up to date \(.*\)\n {2}nothing to do$/,
    );
    await mustRun('git', ['--git-dir', bare, 'config', '--replace-all', 'nfgit.command', 'nfgit']);
    const replaced = await nfgit(['hooks', 'install', bare]);
    t.true(
      replaced.stdout.endsWith(`  recorded how to run nfgit in git config nfgit.command: ${process.execPath} ${CLI} (it was nfgit)`),
      replaced.stdout,
    );
  }));

test('install into a clone: pre-push; --bare: the server hooks', (t) =>
  withTempDir('hooks-install', async (dir) => {
    const work = path.join(dir, 'work');
    await mustRun('git', ['init', '-q', work]);
    const r = await nfgit(['hooks', 'install', work]);
    t.is(r.exitCode, 0, r.stderr);
    t.regex(
      r.stdout,
      /^nfgit client-side hook \(pushes are checked before they leave\) in .*\/work\/\.git\/hooks:\n {2}installed .*\/pre-push\n {2}installed .*\/nfgit-hook-lib.sh\n {2}recorded how to run nfgit in git config nfgit.command: .*$/,
    );
    t.is(mode(path.join(work, '.git/hooks/pre-push')), 0o755);
    const server = await nfgit(['hooks', 'install', '--bare', work]);
    t.is(server.exitCode, 0, server.stderr);
    t.regex(server.stdout, /installed .*\/\.git\/hooks\/pre-receive\n/);
  }));

test('install follows core.hooksPath', (t) =>
  withTempDir('hooks-install', async (dir) => {
    const work = path.join(dir, 'work');
    await mustRun('git', ['init', '-q', work]);
    await mustRun('git', ['-C', work, 'config', 'core.hooksPath', 'githooks']);
    const r = await nfgit(['hooks', 'install', work]);
    t.is(r.exitCode, 0, r.stderr);
    t.is(mode(path.join(work, 'githooks/pre-push')), 0o755);
  }));

test('an existing different hook is never replaced silently; --force keeps a backup', (t) =>
  withTempDir('hooks-install', async (dir) => {
    const bare = path.join(dir, 'fw.git');
    await mustRun('git', ['init', '-q', '--bare', bare]);
    const mine = path.join(bare, 'hooks', 'pre-receive');
    writeFileSync(mine, '#!/bin/sh\necho mine\n', { mode: 0o755 });
    const r = await nfgit(['hooks', 'install', bare]);
    t.is(r.exitCode, 2);
    t.is(
      r.stderr,
      `nfgit: ${mine} exists and is not nfgit's; nothing was installed. Merge by hand, or run again with --force to replace (the old file is kept as NAME.nfgit-backup)`,
    );
    t.is(readFileSync(mine, 'utf8'), '#!/bin/sh\necho mine\n');
    t.throws(() => statSync(path.join(bare, 'hooks', 'post-receive')), undefined, 'nothing at all was installed');
    const forced = await nfgit(['hooks', 'install', '--force', bare]);
    t.is(forced.exitCode, 0, forced.stderr);
    t.true(
      forced.stdout.includes(
        `  replaced ${mine} (the old one is kept as pre-receive.nfgit-backup)\n  installed ${bare}/hooks/post-receive`,
      ),
      forced.stdout,
    );
    t.is(readFileSync(`${mine}.nfgit-backup`, 'utf8'), '#!/bin/sh\necho mine\n');
    t.deepEqual(readFileSync(mine), readFileSync(path.join(ROOT, 'hooks', 'pre-receive')));
  }));

test('NFGIT_HOOKS_DIR names where the hooks come from; an incomplete folder is an error', (t) =>
  withTempDir('hooks-install', async (dir) => {
    const bare = path.join(dir, 'fw.git');
    await mustRun('git', ['init', '-q', '--bare', bare]);
    const src = path.join(dir, 'share');
    mkdirSync(src);
    writeFileSync(path.join(src, 'pre-receive'), '#!/bin/sh\n');
    const r = await nfgit(['hooks', 'install', bare], { NFGIT_HOOKS_DIR: src });
    t.is(r.exitCode, 2);
    t.is(
      r.stderr,
      `nfgit: ${src}/post-receive: missing; nfgit's hooks folder is incomplete (set NFGIT_HOOKS_DIR to where the hooks are installed)`,
    );
    writeFileSync(path.join(src, 'post-receive'), '#!/bin/sh\n');
    writeFileSync(path.join(src, HOOK_LIB), '');
    const ok = await nfgit(['hooks', 'install', bare], { NFGIT_HOOKS_DIR: src });
    t.is(ok.exitCode, 0, ok.stderr);
    t.is(readFileSync(path.join(bare, 'hooks', 'pre-receive'), 'utf8'), '#!/bin/sh\n');
  }));

test('a directory that is not a repository is a usage error', (t) =>
  withTempDir('hooks-install', async (dir) => {
    const r = await nfgit(['hooks', 'install', dir]);
    t.is(r.exitCode, 2);
    t.regex(r.stderr, /^nfgit: .* is not a git repository \(git rev-parse: fatal: not a git repository/);
  }));
