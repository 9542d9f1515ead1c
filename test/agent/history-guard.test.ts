import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyRefusal, hostFloor } from '../../src/agent/history-guard.js';
import type { StatusRecord } from '../../src/git/status-message.js';
import { openRepository, readCommit } from '../../src/git/follower.js';
import { writeStatusTag } from '../../src/git/status-tags.js';
import { hostKey } from '../helpers/host-key.js';
import { makeRulesRepo } from '../helpers/rules-repo.js';
import { withTempDir } from '../git/signing/tools.js';

const record = (commit: string, result: StatusRecord['result'], minute: number): StatusRecord => ({
  result,
  host: 'fw1',
  commit,
  previous: null,
  rules: {},
  errors: result === 'applied' ? [] : ['no'],
  agent: 'nfgit test',
  time: new Date(Date.UTC(2025, 2, 1, 12, minute, 0)),
});

test("the floor is the newest applied tag signed by the host's own key; ancestors of it and commits dated before it are refused", async (t) => {
  await withTempDir('history-floor', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const dated = (iso: string) => ({ env: { GIT_COMMITTER_DATE: iso, GIT_AUTHOR_DATE: iso } });
    const c1 = await repo.commit({ '10-a': 'iptables -P INPUT DROP\n' });
    await repo.git(['commit', '-q', '-S', '--allow-empty', '-m', 'two'], dated('2030-01-01T00:00:00Z'));
    await repo.git(['push', '-q', 'origin', 'HEAD:refs/heads/main']);
    const c2 = (await repo.git(['rev-parse', 'HEAD'])).trim();
    await repo.git(['commit', '-q', '-S', '--allow-empty', '-m', 'three'], dated('2032-01-01T00:00:00Z'));
    await repo.git(['push', '-q', 'origin', 'HEAD:refs/heads/main']);
    const c3 = (await repo.git(['rev-parse', 'HEAD'])).trim();
    // Two side branches from c1: one dated before c2, one after.
    await repo.git(['checkout', '-q', '-b', 'side', c1]);
    await repo.git(['commit', '-q', '-S', '--allow-empty', '-m', 'early'], dated('2029-06-01T00:00:00Z'));
    const early = (await repo.git(['rev-parse', 'HEAD'])).trim();
    await repo.git(['commit', '-q', '-S', '--allow-empty', '-m', 'late'], dated('2031-06-01T00:00:00Z'));
    const late = (await repo.git(['rev-parse', 'HEAD'])).trim();
    await repo.git(['push', '-q', 'origin', 'side']);

    const signers = path.join(dir, 'allowed_signers');
    writeFileSync(signers, '');
    const key = hostKey(dir, 'fw1', signers);
    const other = hostKey(dir, 'fw2', signers);
    const r = await openRepository({ url: repo.bare, branch: 'main', tokenFile: null }, path.join(dir, 'state'), 1000);
    t.is(await hostFloor(r, 'fw1', key, false), null);
    await writeStatusTag({ gitdir: r.gitdir, remote: null, record: record(c1, 'applied', 0), key, keep: 50 });
    await writeStatusTag({ gitdir: r.gitdir, remote: null, record: record(c2, 'applied', 5), key, keep: 50 });
    // Not floors: a refused decision, and a tag in fw1's name signed by another host's key.
    await writeStatusTag({ gitdir: r.gitdir, remote: null, record: record(c3, 'refused', 9), key, keep: 50 });
    await writeStatusTag({ gitdir: r.gitdir, remote: null, record: record(late, 'applied', 10), key: other, keep: 50 });
    const floor = await hostFloor(r, 'fw1', key, false);
    const tag = `nfgit/fw1/${c2.slice(0, 12)}`;
    t.deepEqual(floor, { commit: c2, tag });

    const refusal = async (oid: string) => historyRefusal({ repo: r, head: await readCommit(r, oid), running: null, floor });
    t.is(
      await refusal(c1),
      `main moved back to ${c1.slice(0, 12)}, an ancestor of ${c2.slice(0, 12)}, which this host's signed status tag ${tag} says it applied: nfgit never goes backwards (revert with a new commit, or run nfgit sync --allow-rewrite)`,
    );
    t.is(
      await refusal(early),
      `commit ${early.slice(0, 12)} is dated 2029-06-01T00:00:00.000Z (its committer date), before commit ${c2.slice(0, 12)}, which this host's signed status tag ${tag} says it applied, dated 2030-01-01T00:00:00.000Z: ` +
        'nfgit refuses commits dated before what the host runs, so that a key retired with valid-before in allowed_signers cannot sign a backdated commit; ' +
        'commit again with the current date (git commit --amend --no-edit, then push), or run nfgit sync --allow-rewrite',
    );
    t.is(await refusal(late), null);
    t.is(await refusal(c3), null);
    t.is(await refusal(c2), null);
    // With agent.json's running commit, the same history rules hold first.
    t.regex(
      (await historyRefusal({ repo: r, head: await readCommit(r, c2), running: c3, floor })) ?? '',
      /^main moved back to .*an ancestor of the running commit/,
    );
    t.regex((await historyRefusal({ repo: r, head: await readCommit(r, late), running: c3, floor })) ?? '', /^main was rewritten/);
  });
});
