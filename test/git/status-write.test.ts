import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseStatusMessage, type StatusRecord } from '../../src/git/status-message.js';
import { writeStatusTag, type StatusRemote } from '../../src/git/status-write.js';
import { authCallbacks, httpWithTimeout } from '../../src/git/transport.js';
import { wireCounters, wireRemote } from '../../src/git/wire/remote.js';
import { startGitServer } from '../helpers/git-server.js';
import { makeRulesRepo } from '../helpers/rules-repo.js';
import { hostKey } from '../helpers/host-key.js';
import { mustRun, withTempDir } from './signing/tools.js';

function record(commit: string, minute: number, extra: Partial<StatusRecord> = {}): StatusRecord {
  return {
    result: 'applied',
    host: 'fw1',
    commit,
    previous: null,
    rules: { ipv4: { rules: 1, digest: 'sha256:' + '1'.repeat(64) } },
    errors: [],
    agent: 'nfgit 0.1.0',
    time: new Date(Date.UTC(2025, 2, 1, 12, minute, 0)),
    ...extra,
  };
}

const refsIn = async (gitdir: string, pattern: string): Promise<string[]> =>
  (await mustRun('git', ['--git-dir', gitdir, 'for-each-ref', '--format=%(refname)', pattern])).split('\n').filter((l) => l !== '');

test('a fleet of 3,000 other hosts: each status push lists and sends only this host refs; heartbeats move the current ref alone; pruning works from a fresh copy', async (t) => {
  await withTempDir('status-write', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const commits: string[] = [];
    for (let i = 0; i < 5; i++) commits.push(await repo.commit({ '10-base': `iptables -A INPUT -p tcp --dport ${100 + i} -j ACCEPT\n` }));
    const first = commits[0] ?? '';
    // Other hosts' refs: their tags and current refs (lightweight here: only their number matters).
    const others = Array.from(
      { length: 3000 },
      (_, i) => `create refs/tags/nfgit/h${i}/x ${first}\ncreate refs/nfgit/hosts/h${i} ${first}`,
    );
    await mustRun('git', ['--git-dir', repo.bare, 'update-ref', '--stdin'], { input: others.join('\n') + '\n' });
    await mustRun('git', ['--git-dir', repo.bare, 'pack-refs', '--all']);
    const signersFile = path.join(dir, 'allowed_signers');
    writeFileSync(signersFile, '');
    const key = hostKey(dir, 'fw1', signersFile);
    const server = await startGitServer({ root: dir, token: 's3cret' });
    const credentials = { username: 'nfgit', password: 's3cret' };
    const url = `${server.url}/fw.git`;
    const copy = async (name: string): Promise<string> => {
      const gitdir = path.join(dir, `${name}.git`);
      await mustRun('git', ['clone', '-q', '--bare', '--single-branch', '--no-tags', repo.bare, gitdir]);
      return gitdir;
    };
    try {
      const http = httpWithTimeout(10_000);
      const wire = wireRemote(url, { http, credentials });
      const remote: StatusRemote = { url, http, auth: authCallbacks(credentials), wire };
      const agent = await copy('agent');
      const tagOf = (c: string): string => `refs/tags/nfgit/fw1/${c.slice(0, 12)}`;

      const r1 = await writeStatusTag({ gitdir: agent, remote, record: record(first, 0), key, keep: 3 });
      t.like(r1, { name: `nfgit/fw1/${first.slice(0, 12)}`, created: true, pushed: true, pruned: [] });
      const tag1 = (await mustRun('git', ['--git-dir', repo.bare, 'rev-parse', tagOf(first)])).trim();
      t.is((await mustRun('git', ['--git-dir', repo.bare, 'rev-parse', 'refs/nfgit/hosts/fw1'])).trim(), tag1);
      // Stock git verifies the tag on the server.
      await mustRun('git', [
        '--git-dir',
        repo.bare,
        '-c',
        `gpg.ssh.allowedSignersFile=${signersFile}`,
        'tag',
        '-v',
        `nfgit/fw1/${first.slice(0, 12)}`,
      ]);
      // No ref advertisement was read, and the bytes do not grow with the 6,000 refs of other hosts.
      t.false(
        server.requests.some((r) => r.path.includes('info/refs')),
        JSON.stringify(server.requests),
      );
      t.true(wireCounters(wire).received < 4000, `received ${wireCounters(wire).received} bytes`);

      // A heartbeat: the current ref moves to a new signed object that names the decision; no new tag.
      const hb = await writeStatusTag({ gitdir: agent, remote, record: record(first, 30, { heartbeat: true }), key, keep: 3 });
      t.like(hb, { name: 'refs/nfgit/hosts/fw1', pushed: true, pruned: [] });
      t.deepEqual(await refsIn(repo.bare, 'refs/tags/nfgit/fw1'), [tagOf(first)]);
      const current = (await mustRun('git', ['--git-dir', repo.bare, 'rev-parse', 'refs/nfgit/hosts/fw1'])).trim();
      t.not(current, tag1);
      const body = await mustRun('git', ['--git-dir', repo.bare, 'cat-file', 'tag', current]);
      const parsed = parseStatusMessage(body.slice(body.indexOf('\n\n') + 2).replace(/-----BEGIN SSH SIGNATURE-----[\s\S]*$/, ''));
      t.like(parsed, { heartbeat: true, previousTag: { name: `nfgit/fw1/${first.slice(0, 12)}`, oid: tag1 } });

      // Decisions from fresh copies each time (a reinstalled host, a re-clone): keep 3 holds on the server.
      for (const [i, c] of commits.slice(1).entries()) {
        const fresh = await copy(`fresh${i}`);
        await writeStatusTag({ gitdir: fresh, remote, record: record(c, 40 + i), key, keep: 3 });
      }
      t.deepEqual(await refsIn(repo.bare, 'refs/tags/nfgit/fw1'), commits.slice(2).map(tagOf).sort());
      // History links: the newest decision names the one before it.
      const newest = (await mustRun('git', ['--git-dir', repo.bare, 'rev-parse', 'refs/nfgit/hosts/fw1'])).trim();
      const text = await mustRun('git', ['--git-dir', repo.bare, 'cat-file', 'tag', newest]);
      t.true(text.includes(`Previous-Tag: nfgit/fw1/${(commits[3] ?? '').slice(0, 12)} `), text);
      // Others untouched.
      t.is((await refsIn(repo.bare, 'refs/nfgit/hosts')).length, 3001);
    } finally {
      await server.stop();
    }
  });
});

test('eight hosts publishing and pruning at once against packed refs: every push lands', async (t) => {
  await withTempDir('status-write-many', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const commits: string[] = [];
    for (let i = 0; i < 4; i++) commits.push(await repo.commit({ '10-base': `iptables -A INPUT -p tcp --dport ${100 + i} -j ACCEPT\n` }));
    const signersFile = path.join(dir, 'allowed_signers');
    writeFileSync(signersFile, '');
    const hosts = Array.from({ length: 8 }, (_, i) => `fw${i}`);
    const keys = new Map(hosts.map((h) => [h, hostKey(dir, h, signersFile)]));
    const server = await startGitServer({ root: dir });
    try {
      const url = `${server.url}/fw.git`;
      const gitdirs = new Map<string, string>();
      for (const h of hosts) {
        const gitdir = path.join(dir, `${h}.git`);
        await mustRun('git', ['clone', '-q', '--bare', '--single-branch', '--no-tags', repo.bare, gitdir]);
        gitdirs.set(h, gitdir);
      }
      const publish = (h: string, i: number): Promise<unknown> => {
        const http = httpWithTimeout(30_000);
        const remote: StatusRemote = { url, http, auth: authCallbacks(null) };
        const c = commits[i] ?? '';
        return writeStatusTag({
          gitdir: gitdirs.get(h) ?? '',
          remote,
          record: { ...record(c, i), host: h },
          key: keys.get(h) ?? (undefined as never),
          keep: 2,
        });
      };
      for (let i = 0; i < 2; i++) await Promise.all(hosts.map((h) => publish(h, i)));
      // Every tag packed: deleting one now rewrites packed-refs, under its lock.
      await mustRun('git', ['--git-dir', repo.bare, 'pack-refs', '--all']);
      for (let i = 2; i < 4; i++) {
        const results = await Promise.allSettled(hosts.map((h) => publish(h, i)));
        t.deepEqual(
          results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)),
          [],
        );
      }
      for (const h of hosts) t.is((await refsIn(repo.bare, `refs/tags/nfgit/${h}/`)).length, 2, h);
      t.is((await refsIn(repo.bare, 'refs/nfgit/hosts')).length, 8);
    } finally {
      await server.stop();
    }
  });
});
