import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fetchCurrentStatuses, readCurrentStatuses } from '../../src/git/current-status.js';
import { readLocalHostHistory, fetchHostHistory } from '../../src/git/status-history.js';
import { statusTagName, type StatusRecord } from '../../src/git/status-message.js';
import { writeDecision } from './helpers/write-decision.js';
import { writeStatusTag } from '../../src/git/status-write.js';
import { statusRecord } from './helpers/status-record.js';
import { loadAllowedSigners } from '../../src/git/signing/allowed-signers.js';
import type { HostKey } from '../../src/git/signing/openssh-key.js';
import * as wire from '../../src/git/wire/remote.js';
import { startGitServer } from '../helpers/git-server.js';
import { hostKey } from '../helpers/host-key.js';
import { makeRulesRepo } from '../helpers/rules-repo.js';
import { mustRun, runTool, withTempDir } from './signing/tools.js';

/** A report no refs/tags/ names (a heartbeat or held report): the current ref alone moves to it. */
async function report(gitdir: string, r: StatusRecord, key: HostKey): Promise<{ name: string; oid: string }> {
  await writeStatusTag({ gitdir, remote: null, record: r, key, keep: 50 });
  return {
    name: statusTagName(r.host, r.commit),
    oid: (await mustRun('git', ['--git-dir', gitdir, 'rev-parse', `refs/nfgit/hosts/${r.host}`])).trim(),
  };
}

test('current statuses from a local repository: each host ref read, verified against HOST@nfgit; a forged host, a missing object, a filter; stock git tag -v still verifies the decision tags', async (t) => {
  await withTempDir('current-status', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const c1 = await repo.commit({ '10-base': 'iptables -P INPUT ACCEPT\n' });
    const c2 = await repo.commit({ '10-base': 'iptables -P INPUT DROP\n' });
    const signersFile = path.join(dir, 'allowed_signers');
    writeFileSync(signersFile, '');
    const fw1 = hostKey(dir, 'fw1', signersFile);
    const fw2 = hostKey(dir, 'fw2', signersFile);
    const signers = loadAllowedSigners(signersFile);

    const d1 = await writeDecision(repo.bare, statusRecord('fw1', c1, 0), fw1);
    const hb = await report(repo.bare, statusRecord('fw1', c1, 60, { heartbeat: true }), fw1);
    const r2 = await writeDecision(
      repo.bare,
      statusRecord('fw2', c2, 3, { result: 'refused', previous: c1, errors: ['rules/10-base:1: bad'] }),
      fw2,
    );
    // fw1's key speaking for fw3; fw4's ref names an object that is not there.
    const forged = await writeDecision(repo.bare, statusRecord('fw3', c2, 4), fw1);
    await mustRun('git', ['--git-dir', repo.bare, 'pack-refs', '--all']);
    const gone = 'e'.repeat(40);
    // A loose ref next to the packed ones (git update-ref refuses an object that is not there).
    mkdirSync(path.join(repo.bare, 'refs', 'nfgit', 'hosts'), { recursive: true });
    writeFileSync(path.join(repo.bare, 'refs', 'nfgit', 'hosts', 'fw4'), `${gone}\n`);

    const all = await readCurrentStatuses({ gitdir: repo.bare }, { signers });
    t.deepEqual(
      all.map((s) => [s.host, s.name, s.signature, 'error' in s.record ? s.record.error : s.record.result]),
      [
        ['fw1', hb.name, 'good', 'applied'],
        ['fw2', r2.name, 'good', 'refused'],
        ['fw3', forged.name, 'wrong-host', 'applied'],
        ['fw4', null, 'bad', `the tag object ${gone} is missing (fetch the status refs again)`],
      ],
    );
    t.is(all[0]?.oid, hb.oid);
    t.like(all[0]?.record, { heartbeat: true, previousTag: d1 });
    t.regex(all[2]?.signatureDetail ?? '', /lists for fw1@nfgit, not fw3@nfgit/);

    const some = await readCurrentStatuses({ gitdir: repo.bare }, { signers: null, hosts: (h) => h === 'fw2' });
    t.deepEqual(
      some.map((s) => [s.host, s.signature]),
      [['fw2', 'not-checked']],
    );

    // The decision tags stay readable and verifiable with stock git.
    const v = await runTool('git', ['--git-dir', repo.bare, '-c', `gpg.ssh.allowedSignersFile=${signersFile}`, 'tag', '-v', r2.name]);
    t.is(v.code, 0, v.stderr);
    t.regex(v.stderr, /Good "git" signature for fw2@nfgit/);
  });
});

test("a host's history: from its current ref through Previous-Tag links (a pruned tag's object still read), then its older tags without links; the same over HTTP", async (t) => {
  await withTempDir('status-history', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const c0 = await repo.commit({ '10-base': 'iptables -P INPUT ACCEPT\n' });
    const c1 = await repo.commit({ '10-base': 'iptables -P INPUT DROP\n' });
    const c2 = await repo.commit({ '10-base': 'iptables -P FORWARD DROP\n' });
    const signersFile = path.join(dir, 'allowed_signers');
    writeFileSync(signersFile, '');
    const fw1 = hostKey(dir, 'fw1', signersFile);
    const signers = loadAllowedSigners(signersFile);

    // The first decision links to none; each later one to the one before (the writer adds Previous-Tag).
    const d0 = await writeDecision(repo.bare, statusRecord('fw1', c0, 0), fw1);
    const d1 = await writeDecision(repo.bare, statusRecord('fw1', c1, 10, { previous: c0 }), fw1);
    const d2 = await writeDecision(
      repo.bare,
      statusRecord('fw1', c2, 20, { result: 'rolled-back', previous: c1, errors: ['lost the link\ncheck'] }),
      fw1,
    );
    const hb = await report(repo.bare, statusRecord('fw1', c1, 80, { heartbeat: true }), fw1);
    // The heartbeat follows the rolled-back decision (about another commit): that decision is read with it.
    const now = (await readCurrentStatuses({ gitdir: repo.bare }, { signers }))[0];
    t.like(now, {
      oid: hb.oid,
      record: { previousTag: d2 },
      followed: { oid: d2.oid, name: d2.name, signature: 'good', record: { result: 'rolled-back' } },
    });
    // Another host's tags are not in fw1's history.
    await writeDecision(repo.bare, statusRecord('fw10', c1, 30), hostKey(dir, 'fw10', signersFile));
    // d1 pruned: its tag ref is gone, its object stays in this repository.
    await mustRun('git', ['--git-dir', repo.bare, 'update-ref', '-d', `refs/tags/${d1.name}`]);

    const local = await readLocalHostHistory(repo.bare, 'fw1', signers);
    t.deepEqual(
      local.map((e) => [e.name, e.via, e.signature, 'error' in e.record ? e.record.error : e.record.result]),
      [
        [hb.name, 'current', 'good', 'applied'],
        [d2.name, 'link', 'good', 'rolled-back'],
        [d1.name, 'link', 'good', 'applied'],
        [d0.name, 'link', 'good', 'applied'],
      ],
    );

    // Over HTTP the pruned tag's object cannot be fetched: the walk stops at d2's link, the listing gives d0.
    const server = await startGitServer({ root: dir });
    try {
      const url = `${server.url}/fw.git`;
      const source = { remote: wire.wireRemote(url), wire, url };
      const remote = await fetchHostHistory(source, 'fw1', signers);
      t.deepEqual(
        remote.map((e) => [e.name, e.via]),
        [
          [hb.name, 'current'],
          [d2.name, 'link'],
          [d0.name, 'tag'],
        ],
      );
      const listing = await wire.listRefs(source.remote, ['refs/nfgit/hosts/', 'refs/heads/main']);
      t.deepEqual([...listing.keys()].sort(), ['refs/heads/main', 'refs/nfgit/hosts/fw1', 'refs/nfgit/hosts/fw10']);
      const current = await fetchCurrentStatuses(source, listing, { signers, hosts: (h) => h !== 'fw10' });
      t.deepEqual(
        current.map((s) => [s.host, s.oid, s.signature, s.followed?.oid]),
        [['fw1', hb.oid, 'good', d2.oid]],
      );
    } finally {
      await server.stop();
    }
  });
});
