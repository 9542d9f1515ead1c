import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { hostStatusRef } from '../../src/git/status-message.js';
import { readStatusTags } from '../../src/git/status-tags.js';
import { loadAllowedSigners } from '../../src/git/signing/allowed-signers.js';
import { fleetHostName, generateFleetStatus } from '../bench/fleet-generate.js';
import { makeRulesRepo } from '../helpers/rules-repo.js';
import { mustRun, withTempDir } from './signing/tools.js';

// The fleet bench (test/bench/fleet-bench.ts) measures repositories written by its own generator,
// not by the agent: this checks that what it writes is what agents write, readable by stock git and nfgit.

test('the fleet generator writes signed status tags git tag -v accepts, each host current ref, and nfgit reads every tag as good', async (t) => {
  await withTempDir('fleet-generate', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const c1 = await repo.commit({ '10-base': 'iptables -P INPUT ACCEPT\n' });
    const c2 = await repo.commit({ '10-base': 'iptables -P INPUT DROP\n' });
    const signers = path.join(dir, 'allowed_signers');
    writeFileSync(signers, '');
    const fleet = generateFleetStatus({ bare: repo.bare, commits: [c1, c2], hosts: 3, allowedSigners: signers, keep: 5 });
    t.deepEqual(fleet.hosts, [fleetHostName(1), fleetHostName(2), fleetHostName(3)]);
    t.is(fleet.tags, 15);

    const git = (...args: string[]): Promise<string> =>
      mustRun('git', ['--git-dir', repo.bare, '-c', `gpg.ssh.allowedSignersFile=${signers}`, ...args]);
    const current = (await git('for-each-ref', '--format=%(refname) %(objectname) %(objecttype)', 'refs/nfgit/hosts')).trim().split('\n');
    t.is(current.length, 3);
    // With fewer commits than tags.keep, the first commit is decided on again: nfgit/HOST/C1, .2, .3, .4, then C2.
    const host1 = (await git('for-each-ref', '--format=%(refname:short)', `refs/tags/nfgit/${fleetHostName(1)}/`)).trim().split('\n');
    t.is(host1.length, 5);
    t.true(host1.includes(`nfgit/${fleetHostName(1)}/${c1.slice(0, 12)}.4`));
    const newest = `nfgit/${fleetHostName(1)}/${c2.slice(0, 12)}`;
    await t.notThrowsAsync(git('tag', '-v', newest));
    t.is((await git('rev-parse', hostStatusRef(fleetHostName(1)))).trim(), (await git('rev-parse', `refs/tags/${newest}`)).trim());
    t.is((await git('rev-parse', `${hostStatusRef(fleetHostName(1))}^{commit}`)).trim(), c2);
    await t.notThrowsAsync(git('fsck', '--strict', '--no-dangling'));

    const tags = await readStatusTags({ gitdir: repo.bare, signers: loadAllowedSigners(signers) });
    t.is(tags.length, 15);
    t.deepEqual(
      tags.filter((tag) => tag.signature !== 'good' || 'error' in tag.record),
      [],
    );
    // Each message names the decision before it: the walk from the current ref goes back through all five.
    const byName = new Map(tags.map((tag) => [tag.name, tag]));
    let at = byName.get(newest);
    let walked = 0;
    while (at !== undefined && !('error' in at.record)) {
      walked++;
      at = at.record.previousTag === undefined ? undefined : byName.get(at.record.previousTag.name);
    }
    t.is(walked, 5);
  });
});
