import test from 'ava';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { NfgitError } from '../../src/errors/errors.js';
import { ensureCommit, extractRules, openRepository, readRawCommit, relation } from '../../src/git/follower.js';
import {
  CorruptObjectError,
  isAncestor,
  parseTree,
  readVerified,
  readVerifiedCommit,
  readVerifiedObject,
} from '../../src/git/verified-objects.js';
import { startGitServer } from '../helpers/git-server.js';
import { makeRulesRepo } from '../helpers/rules-repo.js';
import { mustRun, runTool, withTempDir } from './signing/tools.js';
import { removeLoose, writeForgedPack } from './helpers/forge-pack.js';

const spec = (url: string) => ({ url, branch: 'main', tokenFile: null });
const corrupt = (oid: string, repo: string, then = '; nothing was applied') =>
  new RegExp(
    `^object ${oid} in ${repo.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not hash to its id \\(.*\\): the repository is corrupt or was tampered with${then}$`,
  );

test('objects are read loose and packed, hashed: content, type and parsed commits agree with stock git', async (t) => {
  await withTempDir('verified-read', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const first = await repo.commit({ '10-base': 'iptables -P INPUT DROP\n', 'lib/x': 'x() { :; }\n' });
    const head = await repo.commit({ '20-more': 'iptables -A INPUT -j ACCEPT\n' }, { message: 'more rules\n\nbody' });
    const src = { gitdir: repo.bare, name: repo.bare };
    for (const packed of [false, true]) {
      if (packed) await mustRun('git', ['--git-dir', repo.bare, 'gc', '-q', '--prune=now']);
      t.is(existsSync(path.join(repo.bare, 'objects', head.slice(0, 2), head.slice(2))), !packed);
      const commit = await readVerifiedCommit(src, head);
      t.deepEqual(commit.raw, Buffer.from(await mustRun('git', ['--git-dir', repo.bare, 'cat-file', 'commit', head]), 'utf8'));
      t.deepEqual(commit.parents, [first]);
      t.is(commit.tree, (await mustRun('git', ['--git-dir', repo.bare, 'rev-parse', `${head}^{tree}`])).trim());
      t.is(commit.message, 'more rules\n\nbody\n');
      t.regex(commit.committer?.email ?? '', /@/);
      const rulesTree = (await mustRun('git', ['--git-dir', repo.bare, 'rev-parse', `${head}:rules`])).trim();
      const entries = parseTree(rulesTree, await readVerified(src, rulesTree, 'tree'), repo.bare);
      t.deepEqual(
        entries.map((e) => `${e.mode} ${e.type} ${e.path}`),
        ['100644 blob 10-base', '100644 blob 20-more', '40000 tree lib'],
      );
      const blob = entries[0]?.oid ?? '';
      t.deepEqual(await readVerifiedObject(src, blob), { type: 'blob', content: Buffer.from('iptables -P INPUT DROP\n') });
      await t.throwsAsync(readVerified(src, blob, 'tree'), {
        instanceOf: NfgitError,
        message: `object ${blob} in ${repo.bare} is a blob, not a tree`,
      });
      t.true(await isAncestor(src, first, head));
      t.false(await isAncestor(src, head, first));
    }
  });
});

test("a signed commit's blob swapped by a forged pack in a local repository: extracting it is refused, nothing is written", async (t) => {
  await withTempDir('verified-blob', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const head = await repo.commit({ '10-base': 'iptables -P INPUT DROP\n' });
    const blob = (await repo.git(['rev-parse', 'HEAD:rules/10-base'])).trim();
    removeLoose(repo.bare, blob);
    writeForgedPack(repo.bare, blob, 'blob', 'iptables -P INPUT ACCEPT\n');
    // The forgery is what isomorphic-git returns unchecked.
    const r = await openRepository(spec(repo.bare), path.join(dir, 'state'), 1000);
    const out = path.join(dir, 'out');
    const err = await t.throwsAsync(extractRules(r, head, 'rules', out), { instanceOf: CorruptObjectError });
    t.regex(err?.message ?? '', corrupt(blob, repo.bare));
    t.is(err?.code, 'RuleError');
    t.false(existsSync(path.join(out, '10-base')));
  });
});

test('a swapped tree, a swapped commit and a swapped ancestor are refused too', async (t) => {
  await withTempDir('verified-tree', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const first = await repo.commit({ '10-base': 'iptables -P INPUT DROP\n' });
    const middle = await repo.commit({ '20-more': 'iptables -A INPUT -j DROP\n' });
    const head = await repo.commit({ '30-last': 'iptables -A INPUT -j DROP\n' });
    const r = await openRepository(spec(repo.bare), path.join(dir, 'state'), 1000);
    // The rules tree of head swapped for the rules tree of first (a real tree, other content).
    const rulesTree = (await repo.git(['rev-parse', 'HEAD:rules'])).trim();
    const firstTree = (await runTool('git', ['--git-dir', repo.bare, 'cat-file', 'tree', `${first}:rules`])).stdout;
    removeLoose(repo.bare, rulesTree);
    writeForgedPack(repo.bare, rulesTree, 'tree', firstTree);
    await t.throwsAsync(extractRules(r, head, 'rules', path.join(dir, 'out')), {
      instanceOf: CorruptObjectError,
      message: corrupt(rulesTree, repo.bare),
    });
    // The middle commit swapped for one without parents: ancestry is not invented or hidden.
    const orphan = await mustRun('git', ['--git-dir', repo.bare, 'cat-file', 'commit', middle]);
    removeLoose(repo.bare, middle);
    writeForgedPack(repo.bare, middle, 'commit', orphan.replace(/^parent .*\n/m, ''));
    await t.throwsAsync(relation(r, first, head), { instanceOf: CorruptObjectError, message: corrupt(middle, repo.bare) });
    // The head commit itself.
    const raw = await mustRun('git', ['--git-dir', repo.bare, 'cat-file', 'commit', head]);
    removeLoose(repo.bare, head);
    writeForgedPack(repo.bare, head, 'commit', raw.replace('update rules', 'other rules'));
    await t.throwsAsync(readRawCommit(r, head), { instanceOf: CorruptObjectError, message: corrupt(head, repo.bare) });
  });
});

test("the agent's fetched copy (STATE/repo.git) is checked the same way", async (t) => {
  await withTempDir('verified-fetched', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const head = await repo.commit({ '10-base': 'iptables -P INPUT DROP\n' });
    const blob = (await repo.git(['rev-parse', 'HEAD:rules/10-base'])).trim();
    const server = await startGitServer({ root: dir });
    try {
      const state = path.join(dir, 'state');
      mkdirSync(state);
      const r = await openRepository(spec(`${server.url}/fw.git`), state, 2000);
      await ensureCommit(r, head);
      t.is(await extractRules(r, head, 'rules', path.join(dir, 'ok')), 1);
      // Whoever can write the state directory unpacks the fetched pack and swaps the blob.
      const packDir = path.join(r.gitdir, 'objects', 'pack');
      const pack = readdirSync(packDir).find((n) => n.endsWith('.pack')) ?? '';
      renameSync(path.join(packDir, pack), path.join(dir, 'fetched.pack'));
      rmSync(path.join(packDir, pack.replace(/\.pack$/, '.idx')));
      await mustRun('git', ['--git-dir', r.gitdir, 'unpack-objects', '-q'], { input: readFileSync(path.join(dir, 'fetched.pack')) });
      removeLoose(r.gitdir, blob);
      writeForgedPack(r.gitdir, blob, 'blob', 'iptables -P INPUT ACCEPT\n');
      await t.throwsAsync(extractRules(r, head, 'rules', path.join(dir, 'out')), {
        instanceOf: CorruptObjectError,
        message: corrupt(
          blob,
          r.name,
          `; nothing was applied \\(the agent's copy: remove ${r.gitdir} and run nfgit sync --retry to fetch it afresh\\)`,
        ),
      });
    } finally {
      await server.stop();
    }
  });
});
