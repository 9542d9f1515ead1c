import test from 'ava';
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NfgitError, NfgitErrors } from '../../src/errors/errors.js';
import { MAX_PACKS, branchHead, ensureCommit, extractRules, openRepository, packCount, relation } from '../../src/git/follower.js';
import { startGitServer } from '../helpers/git-server.js';
import { makeRulesRepo } from '../helpers/rules-repo.js';
import { withTempDir } from './signing/tools.js';

const spec = (url: string) => ({ url, branch: 'main', tokenFile: null });

test('a local bare repository is read in place: head, ancestry, the rules tree without a worktree', async (t) => {
  await withTempDir('follower-local', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const first = await repo.commit({ '10-base': 'iptables -P INPUT DROP\n', 'lib/helpers': 'x() { :; }\n' });
    const second = await repo.commit({ '20-more': 'iptables -A INPUT -j ACCEPT\n' });
    const r = await openRepository(spec(repo.bare), path.join(dir, 'state'), 1000);
    t.is(r.gitdir, repo.bare);
    t.is(await branchHead(r), second);
    t.is(await relation(r, first, second), 'ahead');
    t.is(await relation(r, second, first), 'behind');
    t.is(await relation(r, second, second), 'same');
    const out = path.join(dir, 'out');
    t.is(await extractRules(r, second, 'rules', out), 3);
    t.deepEqual(readdirSync(out).sort(), ['10-base', '20-more', 'lib']);
    t.is(readFileSync(path.join(out, 'lib/helpers'), 'utf8'), 'x() { :; }\n');
    // Nothing was written into the shared repository (no index, no worktree files).
    t.deepEqual(
      readdirSync(repo.bare).filter((n) => n === 'index'),
      [],
    );
    const missing = await t.throwsAsync(extractRules(r, second, 'firewall', path.join(dir, 'out2')));
    t.regex(missing?.message ?? '', /has no directory firewall\//);
    await t.throwsAsync(openRepository(spec(path.join(dir, 'nothing')), dir, 1000), { message: /is not a git repository/ });
  });
});

test('symlinks and submodules in the rules directory are refused with their paths', async (t) => {
  await withTempDir('follower-refuse', async (dir) => {
    const repo = await makeRulesRepo(dir);
    await repo.commit({ '10-base': 'iptables -P INPUT DROP\n' }, { push: false });
    mkdirSync(path.join(repo.work, 'rules/sub'), { recursive: true });
    symlinkSync('/etc/shadow', path.join(repo.work, 'rules/sub/evil'));
    writeFileSync(path.join(repo.work, 'README'), 'outside the rules path\n');
    await repo.git(['add', '-A']);
    await repo.git(['update-index', '--add', '--cacheinfo', `160000,${'a'.repeat(40)},rules/vendor`]);
    await repo.git(['commit', '-q', '-S', '-m', 'bad tree']);
    await repo.git(['push', '-q', 'origin', 'HEAD:refs/heads/main']);
    const r = await openRepository(spec(repo.bare), dir, 1000);
    const head = await branchHead(r);
    const err = await t.throwsAsync(extractRules(r, head, 'rules', path.join(dir, 'out')));
    t.true(err instanceof NfgitErrors);
    const lines = (err as NfgitErrors).errors.map((e: NfgitError) => e.format());
    t.deepEqual(lines, [
      'rules/sub/evil: is a symbolic link: nfgit refuses symlinks in the rules directory (they could reach files outside it); commit the file itself',
      'rules/vendor: is a git submodule: nfgit refuses submodules in the rules directory (their content is not in this commit); copy the files in',
    ]);
  });
});

test('the agent copy of an HTTPS remote is fetched only when needed, and made afresh when it has too many packs', async (t) => {
  await withTempDir('follower-http', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const c1 = await repo.commit({ '10-base': 'iptables -P INPUT DROP\n' });
    const server = await startGitServer({ root: dir });
    try {
      const state = path.join(dir, 'state');
      mkdirSync(state);
      const url = `${server.url}/fw.git`;
      const r = await openRepository(spec(url), state, 2000);
      t.is(r.gitdir, path.join(state, 'repo.git'));
      t.is(await branchHead(r), c1);
      await ensureCommit(r, c1);
      const fetches = server.requests.filter((q) => q.path.endsWith('git-upload-pack')).length;
      await ensureCommit(r, c1); // already here: no request
      t.is(server.requests.filter((q) => q.path.endsWith('git-upload-pack')).length, fetches);
      t.is(packCount(r.gitdir), 1);
      for (let i = 0; i < MAX_PACKS; i++) writeFileSync(path.join(r.gitdir, 'objects/pack', `pack-fake${i}.pack`), '');
      const again = await openRepository(spec(url), state, 2000);
      t.is(packCount(again.gitdir), 0);
      await ensureCommit(again, c1);
      t.is(packCount(again.gitdir), 1);
    } finally {
      await server.stop();
    }
  });
});
