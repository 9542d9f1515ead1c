import test from 'ava';
import { existsSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fetchVerifyExtract } from '../../src/git/commit-rules.js';
import { openRepository } from '../../src/git/follower.js';
import { loadTrust } from '../../src/git/signing/commit-trust.js';
import { makeRulesRepo } from '../helpers/rules-repo.js';
import { withTempDir } from './signing/tools.js';

// The one fetch → verify → extract: rules come out only of a trusted commit the guard lets through,
// into a temporary directory that remove() deletes.

const spec = (url: string) => ({ url, branch: 'main', tokenFile: null });

test('a trusted commit is extracted (and removed); an untrusted one and one the guard refuses are not', async (t) => {
  await withTempDir('commit-rules', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const signed = await repo.commit({ '10-base': 'iptables -P INPUT DROP\n' });
    const unsigned = await repo.commit({ '20-more': 'iptables -A INPUT -j ACCEPT\n' }, { sign: false });
    const r = await openRepository(spec(repo.bare), path.join(dir, 'state'), 1000);
    const trust = await loadTrust({ requireSignedCommits: true, allowedSigners: repo.allowedSigners, pgpKeys: [] });
    const options = { trust, rulesPath: 'rules', tempPrefix: 'nfgit-test-' };

    const ok = await fetchVerifyExtract(r, signed, options);
    if (ok.kind !== 'extracted') return t.fail(ok.kind);
    t.is(ok.rules.commit, signed);
    t.true(ok.verdict.trusted);
    t.is(readFileSync(path.join(ok.rules.dir, '10-base'), 'utf8'), 'iptables -P INPUT DROP\n');
    await ok.rules.remove();
    t.false(existsSync(path.dirname(ok.rules.dir)));

    const untrusted = await fetchVerifyExtract(r, unsigned, options);
    t.is(untrusted.kind, 'untrusted');

    let guarded: string | undefined;
    const refused = await fetchVerifyExtract(r, signed, { ...options, guard: async (c) => ((guarded = c.oid), 'not a descendant') });
    t.deepEqual(refused, { kind: 'refused', why: 'not a descendant' });
    t.is(guarded, signed);
  });
});

test('a rules directory with a symlink is unextractable, its temporary directory gone', async (t) => {
  await withTempDir('commit-rules-link', async (dir) => {
    const repo = await makeRulesRepo(dir);
    await repo.commit({ '10-base': 'iptables -P INPUT DROP\n' }, { push: false });
    symlinkSync('/etc/passwd', path.join(repo.work, 'rules', '20-link'));
    const head = await repo.commit({});
    const r = await openRepository(spec(repo.bare), path.join(dir, 'state'), 1000);
    const trust = await loadTrust({ requireSignedCommits: true, allowedSigners: repo.allowedSigners, pgpKeys: [] });
    const prefix = `nfgit-test-link-${process.pid}-`;
    const out = await fetchVerifyExtract(r, head, { trust, rulesPath: 'rules', tempPrefix: prefix });
    if (out.kind !== 'unextractable') return t.fail(out.kind);
    t.regex((out.error as Error).message, /symbolic link/);
    t.deepEqual(
      readdirSync(tmpdir()).filter((n) => n.startsWith(prefix)),
      [],
    );
  });
});
