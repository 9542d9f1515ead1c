// The hooks in hooks/ driven by real `git push`es: a bare repository with pre-receive and post-receive
// installed by `nfgit hooks install`, a working clone pushing to it with stock git (commits signed
// with the admin's SSH key unless a test says otherwise), and the built nfgit verifying and checking.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI, ROOT } from '../helpers/paths.js';
import { makeRulesRepo, type RulesRepo } from '../helpers/rules-repo.js';
import { mustRun, runTool, sshKeygen, withTempDir, type ToolResult } from '../git/signing/tools.js';
import { SYSTEM_PATH } from '../apply/helpers/netns-apply.js';

const GOOD = {
  '10-base': 'iptables -P INPUT DROP\niptables -A INPUT -i lo -j ACCEPT\n',
  '30-web': '# the web server\n\niptables -A INPUT -p tcp --dport 80 -j ACCEPT\n',
};
const SSH = { '20-ssh': 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n' };
const BAD_WEB = '# the web server\n\niptables -A INPUT -p tcp --dporrt 80 -j ACCEPT\n';
const BAD_LINE = 'rules/30-web:3: iptables: unknown option "--dporrt"';
/**
 * A rule file that tells which user nfgit check runs as on the machine: in its user namespace every
 * process is root (`id` says uid 0 either way), but uid_map names the user outside. It then fails, so
 * that nfgit prints what it said.
 */
const WHOAMI = { '90-whoami': 'echo "outer uid: $(awk \'{ print $2 }\' /proc/self/uid_map)" >&2\nfalse\n' };
const NOT_RUN = 'outer uid:';

/** A bare repository with the server hooks, a clone, and what a push needs. */
interface Server {
  readonly repo: RulesRepo;
  /** The agent's trigger file (nfgit.trigger), in a directory of its own. */
  readonly trigger: string;
  /** TMPDIR of the hooks: empty again after every push. */
  readonly tmp: string;
  /** Runs `git push ARGS` in the clone, with NFGIT (or what env overrides) passed through git to the hooks. */
  push(args: readonly string[], env?: Record<string, string>): Promise<ToolResult>;
  /** A ref of the bare repository, or null. */
  ref(name: string): Promise<string | null>;
  /** Sets git config KEY VALUE in the bare repository. */
  config(key: string, value: string): Promise<void>;
  /** Unsets git config KEY in the bare repository. */
  unset(key: string): Promise<void>;
}

/** Makes a server with the hooks installed, trusting the admin's key, and a good first commit on main, for fn. */
function withServer(fn: (s: Server) => Promise<void>): Promise<void> {
  return withTempDir('hooks', async (dir) => {
    // The hooks run as root here, and run nfgit check as nobody, in a directory under TMPDIR: nobody
    // must be able to pass through the test's directory (mkdtemp makes it 0700).
    chmodSync(dir, 0o711);
    const repo = await makeRulesRepo(dir);
    await mustRun('node', [CLI, 'hooks', 'install', repo.bare]);
    const run = path.join(dir, 'run');
    const tmp = path.join(dir, 'hook-tmp');
    mkdirSync(run);
    mkdirSync(tmp);
    const server: Server = {
      repo,
      trigger: path.join(run, 'trigger'),
      tmp,
      push: (args, env = {}) => runTool('git', ['push', ...args], { cwd: repo.work, env: { NFGIT: `node ${CLI}`, TMPDIR: tmp, ...env } }),
      async ref(name) {
        const r = await runTool('git', ['--git-dir', repo.bare, 'rev-parse', '--verify', '-q', name]);
        return r.code === 0 ? r.stdout.toString('utf8').trim() : null;
      },
      async config(key, value) {
        await mustRun('git', ['--git-dir', repo.bare, 'config', key, value]);
      },
      async unset(key) {
        await mustRun('git', ['--git-dir', repo.bare, 'config', '--unset-all', key]);
      },
    };
    await server.config('nfgit.trigger', server.trigger);
    await server.config('nfgit.allowedSigners', repo.allowedSigners);
    await repo.commit(GOOD, { push: false, message: 'good rules' });
    const first = await server.push(['origin', 'HEAD:refs/heads/main']);
    if (first.code !== 0) throw new Error(`the first, good push failed: ${first.stderr}`);
    rmSync(server.trigger);
    await fn(server);
  });
}

test.serial('a push whose rules fail nfgit check is refused with FILE:LINE in git output, and the branch does not move', (t) =>
  withServer(async (s) => {
    const before = await s.ref('refs/heads/main');
    const bad = await s.repo.commit({ '30-web': BAD_WEB }, { push: false, message: 'typo' });
    const r = await s.push(['origin', 'HEAD:refs/heads/main']);
    t.not(r.code, 0);
    t.true(r.stderr.includes(`remote: ${BAD_LINE}`), r.stderr);
    t.true(
      r.stderr.includes(
        `remote: nfgit: push refused: the rules of refs/heads/main (${bad.slice(0, 7)}) do not pass nfgit check (fix the lines above and push again)`,
      ),
      r.stderr,
    );
    t.regex(r.stderr, /\[remote rejected\] HEAD -> main \(pre-receive hook declined\)/);
    t.is(await s.ref('refs/heads/main'), before);
    t.false(existsSync(s.trigger), 'post-receive does not run for a refused push');
    t.deepEqual(readdirSync(s.tmp), [], 'the hook removed its temporary directory');
  }),
);

test.serial('a good push signed by a trusted key is accepted and creates the trigger file of nfgit.trigger', (t) =>
  withServer(async (s) => {
    const good = await s.repo.commit(SSH, { push: false });
    const r = await s.push(['origin', 'HEAD:refs/heads/main']);
    t.is(r.code, 0, r.stderr);
    t.is(await s.ref('refs/heads/main'), good);
    t.true(r.stderr.includes(`remote: nfgit: refs/heads/main (${good.slice(0, 7)}): 1 commit(s) signed by trusted keys`), r.stderr);
    t.true(r.stderr.includes(`remote: nfgit: refs/heads/main (${good.slice(0, 7)}): the rules pass nfgit check`), r.stderr);
    t.true(r.stderr.includes(`remote: nfgit: asked the local nfgit agent to sync refs/heads/main now (created ${s.trigger})`), r.stderr);
    t.true(existsSync(s.trigger));
    t.deepEqual(readdirSync(s.tmp), []);
  }),
);

test.serial('post-receive says why it cannot trigger the agent, and the push still succeeds', (t) =>
  withServer(async (s) => {
    const missing = path.join(path.dirname(s.trigger), 'missing');
    await s.config('nfgit.trigger', path.join(missing, 'trigger'));
    await s.repo.commit(SSH, { push: false });
    const r = await s.push(['origin', 'HEAD:refs/heads/main']);
    t.is(r.code, 0, r.stderr);
    t.true(
      r.stderr.includes(
        `remote: nfgit: no agent trigger directory ${missing} here (git config nfgit.trigger): hosts apply refs/heads/main at their next poll`,
      ),
      r.stderr,
    );
  }),
);

test.serial('a push of two branches, one bad, is refused naming the bad one; neither moves', (t) =>
  withServer(async (s) => {
    const good = await s.repo.commit(SSH, { push: false });
    const bad = await s.repo.commit({ '30-web': BAD_WEB }, { push: false });
    const before = await s.ref('refs/heads/main');
    const r = await s.push(['origin', `${good}:refs/heads/main`, `${bad}:refs/heads/next`]);
    t.not(r.code, 0);
    t.true(r.stderr.includes(`remote: nfgit: refs/heads/main (${good.slice(0, 7)}): the rules pass nfgit check`), r.stderr);
    t.true(r.stderr.includes(`remote: ${BAD_LINE}`), r.stderr);
    t.true(
      r.stderr.includes(`remote: nfgit: push refused: the rules of refs/heads/next (${bad.slice(0, 7)}) do not pass nfgit check`),
      r.stderr,
    );
    t.is(await s.ref('refs/heads/main'), before);
    t.is(await s.ref('refs/heads/next'), null);
  }),
);

test.serial('a symbolic link in the rules directory is refused as the agent refuses it', (t) =>
  withServer(async (s) => {
    symlinkSync('/etc/passwd', path.join(s.repo.work, 'rules', '99-link'));
    await s.repo.commit({}, { push: false, message: 'a link' });
    const r = await s.push(['origin', 'HEAD:refs/heads/main']);
    t.not(r.code, 0);
    t.true(
      r.stderr.includes(
        'remote: rules/99-link: is a symbolic link: nfgit refuses symlinks in the rules directory (they could reach files outside it); commit the file itself',
      ),
      r.stderr,
    );
    t.regex(r.stderr, /remote: nfgit: push refused: the rules of refs\/heads\/main \([0-9a-f]{7}\)/);
  }),
);

test.serial('tags, branch deletions and unwatched branches pass without a check', (t) =>
  withServer(async (s) => {
    // A checking nfgit that always refuses: anything checked would be refused.
    const refuse = { NFGIT: 'false' };
    t.is((await s.push(['origin', 'HEAD:refs/heads/old'])).code, 0);
    rmSync(s.trigger);
    const bad = await s.repo.commit({ '30-web': BAD_WEB }, { push: false });
    await s.repo.git(['tag', 'nfgit/gw1/abc', bad]);
    const tag = await s.push(['origin', 'refs/tags/nfgit/gw1/abc'], refuse);
    t.is(tag.code, 0, tag.stderr);
    t.is(await s.ref('refs/tags/nfgit/gw1/abc'), bad);
    const del = await s.push(['origin', ':refs/heads/old'], refuse);
    t.is(del.code, 0, del.stderr);
    t.is(await s.ref('refs/heads/old'), null);
    t.false(existsSync(s.trigger), 'tags and deletions do not trigger the agent');
    await s.config('nfgit.branches', 'main production');
    const scratch = await s.push(['origin', 'HEAD:refs/heads/scratch'], refuse);
    t.is(scratch.code, 0, scratch.stderr);
    t.false(existsSync(s.trigger));
    const main = await s.push(['origin', 'HEAD:refs/heads/main'], refuse);
    t.not(main.code, 0, 'main is watched, so it is checked');
  }),
);

test.serial('with nfgit.hosts, the rules are checked once per host and messages name the host', (t) =>
  withServer(async (s) => {
    await s.config('nfgit.hosts', 'gw1 gw2');
    await s.repo.commit(
      { '30-web': '# gw2 only\nif [[ $NFGIT_HOST == gw2 ]]; then\n  iptables -A INPUT -p tcp --dporrt 80 -j ACCEPT\nfi\n' },
      { push: false },
    );
    const r = await s.push(['origin', 'HEAD:refs/heads/main']);
    t.not(r.code, 0);
    t.true(r.stderr.includes(`remote: gw2: ${BAD_LINE}`), r.stderr);
    t.false(r.stderr.includes('gw1: rules/'), r.stderr);
  }),
);

test.serial('when nfgit check cannot run (exit 3) the push is refused, unless nfgit.allowUnchecked', (t) =>
  withServer(async (s) => {
    const fake = path.join(s.tmp, '..', 'no-netns-nfgit');
    // The real nfgit verifies the signatures; only its check cannot run.
    writeFileSync(
      fake,
      `#!/bin/sh\n[ "$1" != verify-commits ] || exec node ${CLI} "$@"\necho "nfgit: cannot create a network namespace" >&2\nexit 3\n`,
      { mode: 0o755 },
    );
    await s.repo.commit(SSH, { push: false });
    const refused = await s.push(['origin', 'HEAD:refs/heads/main'], { NFGIT: fake });
    t.not(refused.code, 0);
    t.true(refused.stderr.includes('remote: nfgit: cannot create a network namespace'), refused.stderr);
    t.regex(
      refused.stderr,
      /remote: nfgit: push refused: the rules of refs\/heads\/main \([0-9a-f]{7}\) could not be checked here \(git config nfgit.allowUnchecked true accepts such pushes\)/,
    );
    await s.config('nfgit.allowUnchecked', 'true');
    const accepted = await s.push(['origin', 'HEAD:refs/heads/main'], { NFGIT: fake });
    t.is(accepted.code, 0, accepted.stderr);
    t.regex(accepted.stderr, /remote: nfgit: warning: refs\/heads\/main \([0-9a-f]{7}\) accepted without a check/);
  }),
);

test.serial(
  "hooks install records the nfgit that installed it (node and the checkout's script): pushes use it without NFGIT or PATH",
  (t) =>
    withServer(async (s) => {
      const recorded = await mustRun('git', ['--git-dir', s.repo.bare, 'config', '--get-all', 'nfgit.command']);
      t.is(recorded, `${process.execPath}\n${CLI}\n`);
      await s.repo.commit({ '30-web': BAD_WEB }, { push: false });
      // No NFGIT and no nfgit on the system's PATH: only the recorded command can run it.
      t.not(spawnSync('sh', ['-c', 'command -v nfgit'], { env: { PATH: SYSTEM_PATH } }).status, 0, 'nfgit is not on PATH');
      const r = await s.push(['origin', 'HEAD:refs/heads/main'], { NFGIT: '', PATH: SYSTEM_PATH });
      t.not(r.code, 0);
      t.true(r.stderr.includes(`remote: ${BAD_LINE}`), r.stderr);
    }),
);

test.serial('nfgit.command holds one word per value, so paths with blanks work; a single value is split at blanks', (t) =>
  withServer(async (s) => {
    const dir = path.join(path.dirname(s.tmp), "my nfgit's bin");
    mkdirSync(dir);
    const wrapper = path.join(dir, 'run nfgit');
    writeFileSync(wrapper, `#!/bin/sh\nexec node ${CLI} "$@"\n`, { mode: 0o755 });
    await s.unset('nfgit.command');
    await mustRun('git', ['--git-dir', s.repo.bare, 'config', '--add', 'nfgit.command', '/bin/sh']);
    await mustRun('git', ['--git-dir', s.repo.bare, 'config', '--add', 'nfgit.command', wrapper]);
    await s.repo.commit({ '30-web': BAD_WEB }, { push: false });
    const words = await s.push(['origin', 'HEAD:refs/heads/main'], { NFGIT: '' });
    t.not(words.code, 0);
    t.true(words.stderr.includes(`remote: ${BAD_LINE}`), words.stderr);
    await s.unset('nfgit.command');
    await s.config('nfgit.command', `node ${CLI}`);
    const split = await s.push(['origin', 'HEAD:refs/heads/main'], { NFGIT: '' });
    t.true(split.stderr.includes(`remote: ${BAD_LINE}`), split.stderr);
  }),
);

test.serial('an unsigned push is refused before anything of it runs, naming the commit', (t) =>
  withServer(async (s) => {
    const before = await s.ref('refs/heads/main');
    const unsigned = await s.repo.commit({ ...SSH, ...WHOAMI }, { sign: false, push: false, message: 'unsigned' });
    const r = await s.push(['origin', 'HEAD:refs/heads/main']);
    t.not(r.code, 0);
    t.true(
      r.stderr.includes(`remote: nfgit: commit ${unsigned.slice(0, 7)} is not signed, and trust.requireSignedCommits is true`),
      r.stderr,
    );
    t.true(
      r.stderr.includes(
        `remote: nfgit: push refused: refs/heads/main (${unsigned.slice(0, 7)}) brings commits that are not signed by a trusted key (above), so nothing of it was run or checked;`,
      ),
      r.stderr,
    );
    t.false(r.stderr.includes(NOT_RUN), 'the rule files did not run');
    t.regex(r.stderr, /\[remote rejected\] HEAD -> main \(pre-receive hook declined\)/);
    t.is(await s.ref('refs/heads/main'), before);
    t.false(existsSync(s.trigger));
    t.deepEqual(readdirSync(s.tmp), []);
  }),
);

test.serial('every new commit is verified, not only the tip: an unsigned commit under a signed one is refused', (t) =>
  withServer(async (s) => {
    const unsigned = await s.repo.commit(WHOAMI, { sign: false, push: false, message: 'unsigned' });
    const tip = await s.repo.commit({ '90-whoami': null }, { push: false, message: 'signed on top' });
    const r = await s.push(['origin', 'HEAD:refs/heads/main']);
    t.not(r.code, 0);
    t.true(
      r.stderr.includes(`remote: nfgit: commit ${unsigned.slice(0, 7)} is not signed, and trust.requireSignedCommits is true`),
      r.stderr,
    );
    t.false(r.stderr.includes(`commit ${tip.slice(0, 7)} is`), 'the signed tip is not named');
    t.regex(r.stderr, /pre-receive hook declined/);
  }),
);

test.serial('a long unsigned history is named commit by commit up to 20, then summed up', (t) =>
  withServer(async (s) => {
    for (let i = 1; i <= 22; i++) await s.repo.git(['commit', '-q', '--allow-empty', '-m', `unsigned ${i}`]);
    const r = await s.push(['origin', 'HEAD:refs/heads/main']);
    t.not(r.code, 0);
    t.is(r.stderr.split('\n').filter((l) => / is not signed, and trust.requireSignedCommits is true/.test(l)).length, 20, r.stderr);
    t.true(r.stderr.includes('remote: nfgit: … and 2 more'), r.stderr);
  }),
);

test.serial('a push signed by a key that is not in the trust list is refused', (t) =>
  withServer(async (s) => {
    const other = await sshKeygen(path.dirname(s.repo.allowedSigners), 'mallory', 'ed25519');
    await s.repo.commit(WHOAMI, { push: false, sign: false });
    await s.repo.git(['-c', `user.signingkey=${other.file}`, 'commit', '-q', '--amend', '--no-edit', '-S']);
    const oid = (await s.repo.git(['rev-parse', 'HEAD'])).trim();
    const r = await s.push(['origin', 'HEAD:refs/heads/main']);
    t.not(r.code, 0);
    t.regex(r.stderr, new RegExp(`remote: nfgit: commit ${oid.slice(0, 7)} has an untrusted SSH signature: `), r.stderr);
    t.false(r.stderr.includes(NOT_RUN), 'the rule files did not run');
    t.regex(r.stderr, /pre-receive hook declined/);
  }),
);

test.serial('without a trust list (nfgit.allowedSigners or nfgit.config) every checked push is refused, saying how to set one', (t) =>
  withServer(async (s) => {
    await s.unset('nfgit.allowedSigners');
    await s.repo.commit(WHOAMI, { push: false });
    const r = await s.push(['origin', 'HEAD:refs/heads/main']);
    t.not(r.code, 0);
    t.true(
      r.stderr.includes(
        'remote: nfgit: push refused: this repository has no trust list, and nfgit runs nothing pushed that is not signed by a trusted key.',
      ),
      r.stderr,
    );
    t.true(r.stderr.includes('remote: nfgit:   git config nfgit.allowedSigners /etc/nfgit/allowed_signers'), r.stderr);
    t.true(r.stderr.includes('remote: nfgit:   git config nfgit.config /etc/nfgit/config.yaml'), r.stderr);
    t.false(r.stderr.includes(NOT_RUN));
  }),
);

test.serial('nfgit.config takes the trust: section of an agent configuration, requireSignedCommits included', (t) =>
  withServer(async (s) => {
    const config = path.join(path.dirname(s.tmp), 'agent.yaml');
    const write = (require: boolean): void =>
      writeFileSync(
        config,
        `repository: { url: ${s.repo.bare} }\ntrust:\n  requireSignedCommits: ${require}\n  allowedSigners: ${s.repo.allowedSigners}\n`,
      );
    write(true);
    await s.unset('nfgit.allowedSigners');
    await s.config('nfgit.config', config);
    const unsigned = await s.repo.commit(SSH, { sign: false, push: false });
    const refused = await s.push(['origin', 'HEAD:refs/heads/main']);
    t.true(
      refused.stderr.includes(`remote: nfgit: commit ${unsigned.slice(0, 7)} is not signed, and trust.requireSignedCommits is true`),
      refused.stderr,
    );
    write(false);
    const accepted = await s.push(['origin', 'HEAD:refs/heads/main']);
    t.is(accepted.code, 0, accepted.stderr);
    t.true(accepted.stderr.includes('the rules pass nfgit check'), accepted.stderr);
    await s.config('nfgit.allowedSigners', s.repo.allowedSigners);
    await s.repo.commit({ '20-ssh': null }, { push: false });
    const both = await s.push(['origin', 'HEAD:refs/heads/main']);
    t.not(both.code, 0);
    t.true(both.stderr.includes('remote: nfgit: give --allowed-signers FILE or --config FILE, not both'), both.stderr);
  }),
);

test.serial('run as root, the hook runs nfgit check as nobody: a signed rule file sees an unprivileged user outside its namespace', (t) =>
  withServer(async (s) => {
    t.is(process.getuid?.(), 0, 'the tests run as root');
    await s.repo.commit(WHOAMI, { push: false, message: 'who runs me?' });
    const r = await s.push(['origin', 'HEAD:refs/heads/main']);
    t.not(r.code, 0);
    t.true(r.stderr.includes('remote: rules/90-whoami:2: a command failed with exit status 1 (it said: outer uid: 65534)'), r.stderr);
    await s.config('nfgit.checkUser', 'root');
    const root = await s.push(['origin', 'HEAD:refs/heads/main']);
    t.true(
      root.stderr.includes(
        "remote: nfgit: nfgit.checkUser 'root' is root: name an unprivileged user; pushed rule files are never run as root",
      ),
      root.stderr,
    );
    t.false(root.stderr.includes(NOT_RUN), root.stderr);
    t.deepEqual(readdirSync(s.tmp), []);
  }),
);

test.serial('pre-push in the working clone refuses a bad commit before anything is sent', (t) =>
  withServer(async (s) => {
    await mustRun('node', [CLI, 'hooks', 'install', s.repo.work]);
    const before = await s.ref('refs/heads/main');
    await s.repo.commit({ '30-web': BAD_WEB }, { push: false });
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
  }),
);

const HOOK_FILES = ['pre-receive', 'post-receive', 'pre-push', 'nfgit-hook-lib.sh'].map((f) => path.join(ROOT, 'hooks', f));
const hasShellcheck = spawnSync('shellcheck', ['--version']).status === 0;

(hasShellcheck ? test : test.skip)('the hooks are POSIX sh that shellcheck accepts', (t) => {
  const r = spawnSync('shellcheck', ['-x', '-s', 'sh', ...HOOK_FILES], { cwd: ROOT, encoding: 'utf8' });
  t.is(r.status, 0, r.stdout);
});
