// `nfgit verify-commits`: the agent's trust verdict on commits read with stock git, as the pre-receive
// hook uses it. Real repositories made with stock git and ssh-keygen.

import test from 'ava';
import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI } from '../helpers/paths.js';
import { makeRulesRepo, type RulesRepo } from '../helpers/rules-repo.js';
import { sshFingerprint, withTempDir } from '../git/signing/tools.js';

const verify = (args: string[], options: { cwd?: string; input?: string } = {}) =>
  execa('node', [CLI, 'verify-commits', ...args], {
    reject: false,
    ...options,
    env: { GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
  });

/** A repository with a signed commit and an unsigned one on top. */
function withCommits(fn: (repo: RulesRepo, signed: string, unsigned: string) => Promise<void>): Promise<void> {
  return withTempDir('verify-commits', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const signed = await repo.commit({ '10-a': 'iptables -A INPUT -j ACCEPT\n' }, { message: 'signed' });
    const unsigned = await repo.commit({ '10-a': 'iptables -A INPUT -j DROP\n' }, { sign: false, message: 'unsigned' });
    await fn(repo, signed, unsigned);
  });
}

test('a trusted commit: exit 0 and who signed it, on stdout; an unsigned one: exit 1 and why, on stderr', (t) =>
  withCommits(async (repo, signed, unsigned) => {
    const fp = await sshFingerprint(`${repo.key}.pub`);
    const ok = await verify(['--allowed-signers', repo.allowedSigners, signed], { cwd: repo.work });
    t.is(ok.exitCode, 0, ok.stderr);
    t.is(ok.stdout, `commit ${signed.slice(0, 7)} is signed by alice@example.net with SSH key ${fp}`);
    const bad = await verify(['--allowed-signers', repo.allowedSigners, '--git-dir', repo.bare, signed, unsigned]);
    t.is(bad.exitCode, 1);
    t.is(bad.stderr, `commit ${unsigned.slice(0, 7)} is not signed, and trust.requireSignedCommits is true`);
  }));

test('commits are read from stdin when none is given, by any name git takes', (t) =>
  withCommits(async (repo, signed, unsigned) => {
    const r = await verify(['--allowed-signers', repo.allowedSigners], { cwd: repo.work, input: `${signed}\n\nHEAD\n` });
    t.is(r.exitCode, 1);
    t.regex(r.stdout, new RegExp(`^commit ${signed.slice(0, 7)} is signed by alice@example.net`));
    t.is(r.stderr, `commit ${unsigned.slice(0, 7)} is not signed, and trust.requireSignedCommits is true`);
  }));

test('the allowed_signers options are judged as the agent judges them: a key expired before the commit is untrusted', (t) =>
  withCommits(async (repo, signed) => {
    const expired = path.join(path.dirname(repo.allowedSigners), 'expired');
    writeFileSync(expired, `alice@example.net namespaces="git",valid-before="20000101Z" ${repo.pub}\n`);
    const r = await verify(['--allowed-signers', expired, signed], { cwd: repo.work });
    t.is(r.exitCode, 1);
    t.regex(r.stderr, new RegExp(`^commit ${signed.slice(0, 7)} has an untrusted SSH signature: `));
  }));

test('--config takes the trust: section of an agent configuration, requireSignedCommits included', (t) =>
  withCommits(async (repo, _signed, unsigned) => {
    const config = path.join(path.dirname(repo.allowedSigners), 'agent.yaml');
    writeFileSync(config, `repository: { url: ${repo.bare} }\ntrust: { requireSignedCommits: false }\n`);
    const r = await verify(['--config', config, unsigned], { cwd: repo.work });
    t.is(r.exitCode, 0, r.stderr);
    t.is(r.stdout, `commit ${unsigned.slice(0, 7)} is not signed (allowed: trust.requireSignedCommits is false)`);
  }));

const usage = test.macro(async (t, args: (repo: RulesRepo) => string[], message: (repo: RulesRepo) => string) =>
  withCommits(async (repo) => {
    const r = await verify(args(repo), { cwd: repo.work });
    t.is(r.exitCode, 2);
    t.is(r.stderr, message(repo));
  }),
);

test(
  'no trust list is a usage error',
  usage,
  () => ['HEAD'],
  () =>
    'nfgit: no trust list: give --allowed-signers FILE (an allowed_signers file, as trust.allowedSigners) or --config FILE (an agent configuration: its trust: section is used)',
);
test(
  'two trust lists are a usage error',
  usage,
  (r) => ['--allowed-signers', r.allowedSigners, '--config', '/etc/nfgit/config.yaml', 'HEAD'],
  () => 'nfgit: give --allowed-signers FILE or --config FILE, not both: the trust list must be one, as on the hosts',
);
test(
  'a name that is not a commit is a usage error',
  usage,
  (r) => ['--allowed-signers', r.allowedSigners, 'HEAD^{tree}', 'nosuch'],
  () => 'nfgit: HEAD^{tree}: is a tree, not a commit\nnosuch: no such commit in the repository (git cat-file: nosuch missing)',
);
test(
  'an unreadable allowed_signers file is a usage error',
  usage,
  () => ['--allowed-signers', '/nonexistent/allowed_signers', 'HEAD'],
  () => 'nfgit: /nonexistent/allowed_signers: cannot read the allowed signers file (trust.allowedSigners): it does not exist',
);
