import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { NfgitError } from '../../src/errors/errors.js';
import type { StatusRecord } from '../../src/git/status-message.js';
import { readStatusTags, writeStatusTag, type StatusRemote } from '../../src/git/status-tags.js';
import { authCallbacks, httpWithTimeout } from '../../src/git/transport.js';
import { loadAllowedSigners } from '../../src/git/signing/allowed-signers.js';
import { generateHostKey, loadHostKey } from '../../src/git/signing/openssh-key.js';
import { startGitServer } from '../helpers/git-server.js';
import { makeRulesRepo } from '../helpers/rules-repo.js';
import { mustRun, runTool, withTempDir } from './signing/tools.js';
import { hostKey } from '../helpers/host-key.js';
import { nfgit } from '../agent/helpers/agent-env.js';
import { removeLoose, writeForgedPack } from './helpers/forge-pack.js';

function record(host: string, commit: string, minute: number, extra: Partial<StatusRecord> = {}): StatusRecord {
  return {
    result: 'applied',
    host,
    commit,
    previous: null,
    rules: { ipv4: { rules: 1, digest: 'sha256:' + '1'.repeat(64) }, ipv6: { rules: 0, digest: 'sha256:' + '2'.repeat(64) } },
    errors: [],
    agent: 'nfgit 0.1.0',
    time: new Date(Date.UTC(2025, 2, 1, 12, minute, 0)),
    ...extra,
  };
}

const tagsIn = async (gitdir: string, pattern = 'refs/tags/nfgit'): Promise<string[]> =>
  (await mustRun('git', ['--git-dir', gitdir, 'for-each-ref', '--format=%(refname:short)', pattern])).split('\n').filter((l) => l !== '');

test('a status tag in a local bare repository: stock git tag -v accepts it, a second write does not move it, nfgit reads it as good', async (t) => {
  await withTempDir('status-local', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const c1 = await repo.commit({ '10-base': 'iptables -P INPUT ACCEPT\n' });
    const signersFile = path.join(dir, 'allowed_signers');
    writeFileSync(signersFile, '');
    const key = hostKey(dir, 'fw1', signersFile);

    const first = await writeStatusTag({ gitdir: repo.bare, remote: null, record: record('fw1', c1, 0), key, keep: 5 });
    t.deepEqual(first, { name: `nfgit/fw1/${c1.slice(0, 12)}`, created: true, pushed: false, pruned: [] });
    t.deepEqual(await tagsIn(repo.bare), [first.name]);
    const verified = await runTool('git', [
      '--git-dir',
      repo.bare,
      '-c',
      `gpg.ssh.allowedSignersFile=${signersFile}`,
      'tag',
      '-v',
      first.name,
    ]);
    t.is(verified.code, 0, verified.stderr);
    t.regex(verified.stderr, /Good "git" signature for fw1@nfgit with ED25519 key/);
    t.regex(verified.stdout.toString(), /^fw1: applied [0-9a-f]{12}\n\nResult: applied\n/m);
    const before = await mustRun('git', ['--git-dir', repo.bare, 'rev-parse', first.name]);

    const second = await writeStatusTag({
      gitdir: repo.bare,
      remote: null,
      record: record('fw1', c1, 5, { result: 'rolled-back' }),
      key,
      keep: 5,
    });
    t.deepEqual(second, { name: first.name, created: false, pushed: false, pruned: [] });
    t.is(await mustRun('git', ['--git-dir', repo.bare, 'rev-parse', first.name]), before);

    const read = await readStatusTags({ gitdir: repo.bare, signers: loadAllowedSigners(signersFile) });
    t.is(read.length, 1);
    t.like(read[0], { name: first.name, host: 'fw1', target: c1, signature: 'good', record: record('fw1', c1, 0) });
    t.deepEqual(read[0]?.taggerTime, new Date(Date.UTC(2025, 2, 1, 12, 0, 0)));
    const unchecked = await readStatusTags({ gitdir: repo.bare, signers: null });
    t.is(unchecked[0]?.signature, 'not-checked');
    await t.throwsAsync(writeStatusTag({ gitdir: repo.bare, remote: null, record: record('fw1', c1, 0), key, keep: 0 }), {
      message: /at least 1/,
    });
  });
});

test("a host cannot write status for another: a tag naming fw2 signed with fw1's key is wrong-host; unknown keys are untrusted; unsigned tags are unsigned; a message changed after signing is bad", async (t) => {
  await withTempDir('status-identity', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const c1 = await repo.commit({ '10-base': 'iptables -P INPUT ACCEPT\n' });
    const signersFile = path.join(dir, 'allowed_signers');
    writeFileSync(signersFile, '');
    const fw1 = hostKey(dir, 'fw1', signersFile);
    hostKey(dir, 'fw2', signersFile);
    const stranger = loadHostKey((generateHostKey(path.join(dir, 'x.key'), 'x'), path.join(dir, 'x.key')));
    await writeStatusTag({ gitdir: repo.bare, remote: null, record: record('fw2', c1, 0), key: fw1, keep: 5 });
    await writeStatusTag({ gitdir: repo.bare, remote: null, record: record('fw3', c1, 0), key: stranger, keep: 5 });
    await mustRun('git', ['--git-dir', repo.bare, 'tag', '-a', '-m', 'fw4: applied', `nfgit/fw4/${c1.slice(0, 12)}`, c1]);
    // fw1's own tag with its message changed after signing
    const own = await writeStatusTag({
      gitdir: repo.bare,
      remote: null,
      record: record('fw1', c1, 0, { result: 'refused' }),
      key: fw1,
      keep: 5,
    });
    const raw = await mustRun('git', ['--git-dir', repo.bare, 'cat-file', 'tag', own.name]);
    const tampered = (
      await mustRun('git', ['--git-dir', repo.bare, 'hash-object', '-t', 'tag', '-w', '--stdin'], {
        input: raw.replace(/refused/g, 'applied'),
      })
    ).trim();
    await mustRun('git', ['--git-dir', repo.bare, 'update-ref', `refs/tags/${own.name}`, tampered]);
    const read = await readStatusTags({ gitdir: repo.bare, signers: loadAllowedSigners(signersFile) });
    t.deepEqual(
      read.map((r) => [r.name.split('/')[1], r.signature]),
      [
        ['fw1', 'bad'],
        ['fw2', 'wrong-host'],
        ['fw3', 'untrusted'],
        ['fw4', 'unsigned'],
      ],
    );
    t.like(read[0]?.record, { result: 'applied' }, 'the message parses; only the signature shows the change');
    t.regex(read[1]?.signatureDetail ?? '', /signed by SHA256:\S+, which allowed_signers lists for fw1@nfgit, not fw2@nfgit/);
    t.regex(read[2]?.signatureDetail ?? '', /not in allowed_signers/);
    t.like(read[3]?.record, { error: 'the message has no trailer block (a blank line, then Key: value lines)' });
    // only the prefix asked for
    t.deepEqual(
      (await readStatusTags({ gitdir: repo.bare, signers: null, prefix: 'nfgit/fw3/' })).map((r) => r.host),
      ['fw3'],
    );
  });
});

test('push over HTTP with a token, prune beyond keep remotely and locally without touching another host, survive an outage', async (t) => {
  await withTempDir('status-push', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const commits: string[] = [];
    for (let i = 0; i < 6; i++) commits.push(await repo.commit({ '10-base': `iptables -A INPUT -p tcp --dport ${100 + i} -j ACCEPT\n` }));
    const signersFile = path.join(dir, 'allowed_signers');
    writeFileSync(signersFile, '');
    const fw1 = hostKey(dir, 'fw1', signersFile);
    const fw2 = hostKey(dir, 'fw2', signersFile);
    const agent1 = path.join(dir, 'agent1.git');
    const agent2 = path.join(dir, 'agent2.git');
    await mustRun('git', ['clone', '-q', '--bare', repo.bare, agent1]);
    await mustRun('git', ['clone', '-q', '--bare', repo.bare, agent2]);
    const server = await startGitServer({ root: dir, token: 's3cret' });
    try {
      const remote: StatusRemote = {
        url: `${server.url.replace('http://', 'http://nfgit:s3cret@')}/fw.git`,
        http: httpWithTimeout(2000),
        auth: authCallbacks({ username: 'nfgit', password: 's3cret' }),
      };
      const short = (c: string | undefined): string => (c ?? '').slice(0, 12);
      for (const [i, c] of commits.slice(0, 2).entries()) {
        const r = await writeStatusTag({ gitdir: agent2, remote, record: record('fw2', c, i), key: fw2, keep: 5 });
        t.like(r, { created: true, pushed: true, pruned: [] });
      }
      for (const [i, c] of commits.slice(0, 4).entries()) {
        const r = await writeStatusTag({ gitdir: agent1, remote, record: record('fw1', c, 10 + i), key: fw1, keep: 2 });
        t.like(r, { created: true, pushed: true });
        if (i === 3) t.deepEqual(r.pruned, [`nfgit/fw1/${short(commits[1])}`]);
      }
      const fw1Kept = [`nfgit/fw1/${short(commits[2])}`, `nfgit/fw1/${short(commits[3])}`].sort();
      const fw2Tags = [`nfgit/fw2/${short(commits[0])}`, `nfgit/fw2/${short(commits[1])}`].sort();
      t.deepEqual(await tagsIn(repo.bare), [...fw1Kept, ...fw2Tags].sort());
      t.deepEqual(await tagsIn(agent1), fw1Kept);

      // Server down: the tag is written locally, the error names the URL without the token, and the next call pushes it.
      await server.stop();
      const err = await t.throwsAsync(
        writeStatusTag({ gitdir: agent1, remote, record: record('fw1', commits[4] ?? '', 20), key: fw1, keep: 2 }),
      );
      t.true(err instanceof NfgitError && err.code === 'RemoteError', String(err));
      t.true(err?.message.includes(`${server.url}/fw.git`), err?.message);
      t.false(err?.message.includes('s3cret'), err?.message);
      t.deepEqual(await tagsIn(repo.bare, 'refs/tags/nfgit/fw1'), fw1Kept);
      t.deepEqual(await tagsIn(agent1), [...fw1Kept, `nfgit/fw1/${short(commits[4])}`].sort());
      await server.start();
      const retry = await writeStatusTag({ gitdir: agent1, remote, record: record('fw1', commits[4] ?? '', 20), key: fw1, keep: 2 });
      t.like(retry, { created: false, pushed: true, pruned: [`nfgit/fw1/${short(commits[2])}`] });
      const after = [`nfgit/fw1/${short(commits[3])}`, `nfgit/fw1/${short(commits[4])}`].sort();
      t.deepEqual(await tagsIn(repo.bare), [...after, ...fw2Tags].sort());
      t.deepEqual(await tagsIn(agent1), after);
      const verified = await runTool('git', [
        '--git-dir',
        repo.bare,
        '-c',
        `gpg.ssh.allowedSignersFile=${signersFile}`,
        'tag',
        '-v',
        `nfgit/fw1/${short(commits[4])}`,
      ]);
      t.is(verified.code, 0, verified.stderr);
    } finally {
      await server.stop();
    }
  });
});

test('a status tag whose object was swapped for another signed tag of the host is reported bad, not read as that record', async (t) => {
  await withTempDir('status-swapped', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const c1 = await repo.commit({ '10-base': 'iptables -P INPUT ACCEPT\n' });
    const signersFile = path.join(dir, 'allowed_signers');
    writeFileSync(signersFile, '');
    const key = hostKey(dir, 'fw1', signersFile);
    const refused = await writeStatusTag({
      gitdir: repo.bare,
      remote: null,
      record: record('fw1', c1, 0, { result: 'refused', errors: ['rules/10-base:1: bad'] }),
      key,
      keep: 5,
    });
    const retried = await writeStatusTag({ gitdir: repo.bare, remote: null, record: record('fw1', c1, 5), key, keep: 5, again: true });
    t.is(retried.name, `${refused.name}.2`);
    // The refused tag's id now maps to the applied tag's (genuinely signed) content.
    const oid = (await mustRun('git', ['--git-dir', repo.bare, 'rev-parse', refused.name])).trim();
    const other = (await runTool('git', ['--git-dir', repo.bare, 'cat-file', 'tag', retried.name])).stdout;
    removeLoose(repo.bare, oid);
    writeForgedPack(repo.bare, oid, 'tag', other);
    const read = await readStatusTags({ gitdir: repo.bare, signers: loadAllowedSigners(signersFile) });
    t.like(read[0], {
      name: refused.name,
      signature: 'bad',
      signatureDetail: 'the tag object does not hash to its id: the repository is corrupt or was tampered with',
      record: {
        error: `object ${oid} in ${repo.bare} does not hash to its id (its tag content hashes to ${(await mustRun('git', ['--git-dir', repo.bare, 'rev-parse', retried.name])).trim()}): the repository is corrupt or was tampered with; the status tag is not trusted`,
      },
    });
    t.like(read[1], { name: retried.name, signature: 'good', record: { result: 'applied' } });
    // nfgit status reads the current report (the retried one); the host's history reaches the swapped tag, says so and fails.
    const status = await nfgit(['status', '--repo', repo.bare, '--allowed-signers', signersFile, '--host', 'fw1', '--history']);
    t.is(status.exitCode, 1, status.stdout + status.stderr);
    t.regex(status.stdout + status.stderr, /does not hash to its id/);
  });
});
