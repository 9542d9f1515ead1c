// The hooks in hooks/ driven by real `git push`es: a bare repository with pre-receive and post-receive
// installed by `nfgit hooks install`, a working clone pushing to it, and the built nfgit checking.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI, ROOT } from '../helpers/paths.js';
import { makeRulesRepo, type RulesRepo } from '../helpers/rules-repo.js';
import { mustRun, runTool, withTempDir, type ToolResult } from '../signing/tools.js';

const GOOD = {
  '10-base': 'iptables -P INPUT DROP\niptables -A INPUT -i lo -j ACCEPT\n',
  '30-web': '# the web server\n\niptables -A INPUT -p tcp --dport 80 -j ACCEPT\n',
};
const BAD_WEB = '# the web server\n\niptables -A INPUT -p tcp --dporrt 80 -j ACCEPT\n';
const BAD_LINE = 'rules/30-web:3: iptables: unknown option "--dporrt"';

/** A bare repository with the server hooks, a clone, and what a push needs. */
interface Server {
  readonly repo: RulesRepo;
  /** The agent's state directory (nfgit.stateDir). */
  readonly state: string;
  /** TMPDIR of the hooks: empty again after every push. */
  readonly tmp: string;
  /** Runs `git push ARGS` in the clone, with NFGIT (or what env overrides) passed through git to the hooks. */
  push(args: readonly string[], env?: Record<string, string>): Promise<ToolResult>;
  /** A ref of the bare repository, or null. */
  ref(name: string): Promise<string | null>;
  /** Sets git config KEY VALUE in the bare repository. */
  config(key: string, value: string): Promise<void>;
}

/** Makes a server with the hooks installed and a good first commit on main, for fn. */
function withServer(fn: (s: Server) => Promise<void>): Promise<void> {
  return withTempDir('hooks', async (dir) => {
    const repo = await makeRulesRepo(dir);
    await mustRun('node', [CLI, 'hooks', 'install', repo.bare]);
    const state = path.join(dir, 'state');
    const tmp = path.join(dir, 'hook-tmp');
    mkdirSync(state);
    mkdirSync(tmp);
    const server: Server = {
      repo,
      state,
      tmp,
      push: (args, env = {}) => runTool('git', ['push', ...args], { cwd: repo.work, env: { NFGIT: `node ${CLI}`, TMPDIR: tmp, ...env } }),
      async ref(name) {
        const r = await runTool('git', ['--git-dir', repo.bare, 'rev-parse', '--verify', '-q', name]);
        return r.code === 0 ? r.stdout.toString('utf8').trim() : null;
      },
      async config(key, value) {
        await mustRun('git', ['--git-dir', repo.bare, 'config', key, value]);
      },
    };
    await server.config('nfgit.stateDir', state);
    await repo.commit(GOOD, { sign: false, push: false, message: 'good rules' });
    const first = await server.push(['origin', 'HEAD:refs/heads/main']);
    if (first.code !== 0) throw new Error(`the first, good push failed: ${first.stderr}`);
    rmSync(path.join(state, 'trigger'));
    await fn(server);
  });
}

test.serial('a push whose rules fail nfgit check is refused with FILE:LINE in git output, and the branch does not move', (t) =>
  withServer(async (s) => {
    const before = await s.ref('refs/heads/main');
    const bad = await s.repo.commit({ '30-web': BAD_WEB }, { sign: false, push: false, message: 'typo' });
    const r = await s.push(['origin', 'HEAD:refs/heads/main']);
    t.not(r.code, 0);
    t.true(r.stderr.includes(`remote: ${BAD_LINE}`), r.stderr);
    t.true(r.stderr.includes(`remote: nfgit: push refused: the rules of refs/heads/main (${bad.slice(0, 7)}) do not pass nfgit check (fix the lines above and push again)`), r.stderr);
    t.regex(r.stderr, /\[remote rejected\] HEAD -> main \(pre-receive hook declined\)/);
    t.is(await s.ref('refs/heads/main'), before);
    t.false(existsSync(path.join(s.state, 'trigger')), 'post-receive does not run for a refused push');
    t.deepEqual(readdirSync(s.tmp), [], 'the hook removed its temporary directory');
  }));

test.serial('a good push is accepted and creates the trigger file in nfgit.stateDir', (t) =>
  withServer(async (s) => {
    const good = await s.repo.commit({ '20-ssh': 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n' }, { sign: false, push: false });
    const r = await s.push(['origin', 'HEAD:refs/heads/main']);
    t.is(r.code, 0, r.stderr);
    t.is(await s.ref('refs/heads/main'), good);
    t.true(r.stderr.includes(`remote: nfgit: refs/heads/main (${good.slice(0, 7)}): the rules pass nfgit check`), r.stderr);
    t.true(r.stderr.includes(`remote: nfgit: asked the local nfgit agent to sync refs/heads/main now (created ${s.state}/trigger)`), r.stderr);
    t.true(existsSync(path.join(s.state, 'trigger')));
    t.deepEqual(readdirSync(s.tmp), []);
  }));

test.serial('post-receive says why it cannot trigger the agent, and the push still succeeds', (t) =>
  withServer(async (s) => {
    await s.config('nfgit.stateDir', path.join(s.state, 'missing'));
    await s.repo.commit({ '20-ssh': 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n' }, { sign: false, push: false });
    const r = await s.push(['origin', 'HEAD:refs/heads/main']);
    t.is(r.code, 0, r.stderr);
    t.true(r.stderr.includes(`remote: nfgit: no agent state directory ${s.state}/missing here (git config nfgit.stateDir): hosts apply refs/heads/main at their next poll`), r.stderr);
  }));

test.serial('a push of two branches, one bad, is refused naming the bad one; neither moves', (t) =>
  withServer(async (s) => {
    const good = await s.repo.commit({ '20-ssh': 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n' }, { sign: false, push: false });
    const bad = await s.repo.commit({ '30-web': BAD_WEB }, { sign: false, push: false });
    const before = await s.ref('refs/heads/main');
    const r = await s.push(['origin', `${good}:refs/heads/main`, `${bad}:refs/heads/next`]);
    t.not(r.code, 0);
    t.true(r.stderr.includes(`remote: nfgit: refs/heads/main (${good.slice(0, 7)}): the rules pass nfgit check`), r.stderr);
    t.true(r.stderr.includes(`remote: ${BAD_LINE}`), r.stderr);
    t.true(r.stderr.includes(`remote: nfgit: push refused: the rules of refs/heads/next (${bad.slice(0, 7)}) do not pass nfgit check`), r.stderr);
    t.is(await s.ref('refs/heads/main'), before);
    t.is(await s.ref('refs/heads/next'), null);
  }));

test.serial('a symbolic link in the rules directory is refused as the agent refuses it', (t) =>
  withServer(async (s) => {
    symlinkSync('/etc/passwd', path.join(s.repo.work, 'rules', '99-link'));
    await s.repo.commit({}, { sign: false, push: false, message: 'a link' });
    const r = await s.push(['origin', 'HEAD:refs/heads/main']);
    t.not(r.code, 0);
    t.true(
      r.stderr.includes('remote: rules/99-link: is a symbolic link: nfgit refuses symlinks in the rules directory (they could reach files outside it); commit the file itself'),
      r.stderr,
    );
    t.regex(r.stderr, /remote: nfgit: push refused: the rules of refs\/heads\/main \([0-9a-f]{7}\)/);
  }));

test.serial('tags, branch deletions and unwatched branches pass without a check', (t) =>
  withServer(async (s) => {
    // A checking nfgit that always refuses: anything checked would be refused.
    const refuse = { NFGIT: 'false' };
    t.is((await s.push(['origin', 'HEAD:refs/heads/old'])).code, 0);
    rmSync(path.join(s.state, 'trigger'));
    const bad = await s.repo.commit({ '30-web': BAD_WEB }, { sign: false, push: false });
    await s.repo.git(['tag', 'nfgit/gw1/abc', bad]);
    const tag = await s.push(['origin', 'refs/tags/nfgit/gw1/abc'], refuse);
    t.is(tag.code, 0, tag.stderr);
    t.is(await s.ref('refs/tags/nfgit/gw1/abc'), bad);
    const del = await s.push(['origin', ':refs/heads/old'], refuse);
    t.is(del.code, 0, del.stderr);
    t.is(await s.ref('refs/heads/old'), null);
    t.false(existsSync(path.join(s.state, 'trigger')), 'tags and deletions do not trigger the agent');
    await s.config('nfgit.branches', 'main production');
    const scratch = await s.push(['origin', 'HEAD:refs/heads/scratch'], refuse);
    t.is(scratch.code, 0, scratch.stderr);
    t.false(existsSync(path.join(s.state, 'trigger')));
    const main = await s.push(['origin', 'HEAD:refs/heads/main'], refuse);
    t.not(main.code, 0, 'main is watched, so it is checked');
  }));

test.serial('with nfgit.hosts, the rules are checked once per host and messages name the host', (t) =>
  withServer(async (s) => {
    await s.config('nfgit.hosts', 'gw1 gw2');
    await s.repo.commit({ '30-web': '# gw2 only\nif [[ $NFGIT_HOST == gw2 ]]; then\n  iptables -A INPUT -p tcp --dporrt 80 -j ACCEPT\nfi\n' }, { sign: false, push: false });
    const r = await s.push(['origin', 'HEAD:refs/heads/main']);
    t.not(r.code, 0);
    t.true(r.stderr.includes(`remote: gw2: ${BAD_LINE}`), r.stderr);
    t.false(r.stderr.includes('gw1: rules/'), r.stderr);
  }));

test.serial('when nfgit check cannot run (exit 3) the push is refused, unless nfgit.allowUnchecked', (t) =>
  withServer(async (s) => {
    const fake = path.join(s.tmp, '..', 'no-netns-nfgit');
    writeFileSync(fake, '#!/bin/sh\necho "nfgit: cannot create a network namespace" >&2\nexit 3\n', { mode: 0o755 });
    await s.repo.commit({ '20-ssh': 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n' }, { sign: false, push: false });
    const refused = await s.push(['origin', 'HEAD:refs/heads/main'], { NFGIT: fake });
    t.not(refused.code, 0);
    t.true(refused.stderr.includes('remote: nfgit: cannot create a network namespace'), refused.stderr);
    t.regex(refused.stderr, /remote: nfgit: push refused: the rules of refs\/heads\/main \([0-9a-f]{7}\) could not be checked here \(git config nfgit.allowUnchecked true accepts such pushes\)/);
    await s.config('nfgit.allowUnchecked', 'true');
    const accepted = await s.push(['origin', 'HEAD:refs/heads/main'], { NFGIT: fake });
    t.is(accepted.code, 0, accepted.stderr);
    t.regex(accepted.stderr, /remote: nfgit: warning: refs\/heads\/main \([0-9a-f]{7}\) accepted without a check/);
  }));

test.serial('nfgit.command names nfgit when NFGIT is not set', (t) =>
  withServer(async (s) => {
    await s.config('nfgit.command', `node ${CLI}`);
    await s.repo.commit({ '30-web': BAD_WEB }, { sign: false, push: false });
    const r = await s.push(['origin', 'HEAD:refs/heads/main'], { NFGIT: '' });
    t.not(r.code, 0);
    t.true(r.stderr.includes(`remote: ${BAD_LINE}`), r.stderr);
  }));

test.serial('pre-push in the working clone refuses a bad commit before anything is sent', (t) =>
  withServer(async (s) => {
    await mustRun('node', [CLI, 'hooks', 'install', s.repo.work]);
    const before = await s.ref('refs/heads/main');
    await s.repo.commit({ '30-web': BAD_WEB }, { sign: false, push: false });
    const r = await s.push(['origin', 'HEAD:refs/heads/main']);
    t.not(r.code, 0);
    // Printed by the local hook, so without git's `remote: ` prefix; the server's hook never ran.
    t.true(r.stderr.split('\n').includes(BAD_LINE), r.stderr);
    t.regex(r.stderr, /^nfgit: push refused: the rules of refs\/heads\/main \([0-9a-f]{7}\) do not pass nfgit check/m);
    t.false(r.stderr.includes('remote:'), r.stderr);
    t.is(await s.ref('refs/heads/main'), before);
    t.deepEqual(readdirSync(s.tmp), []);
    const skipped = await s.push(['--no-verify', 'origin', 'HEAD:refs/heads/main']);
    t.true(skipped.stderr.includes(`remote: ${BAD_LINE}`), 'the server still refuses it');
  }));

const HOOK_FILES = ['pre-receive', 'post-receive', 'pre-push', 'nfgit-hook-lib.sh'].map((f) => path.join(ROOT, 'hooks', f));
const hasShellcheck = spawnSync('shellcheck', ['--version']).status === 0;

(hasShellcheck ? test : test.skip)('the hooks are POSIX sh that shellcheck accepts', (t) => {
  const r = spawnSync('shellcheck', ['-x', '-s', 'sh', ...HOOK_FILES], { cwd: ROOT, encoding: 'utf8' });
  t.is(r.status, 0, r.stdout);
});
