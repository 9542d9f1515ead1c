import test from 'ava';
import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { statusRecord } from '../git/helpers/status-record.js';
import { writeStatusTag } from '../../src/git/status-tags.js';
import { startGitServer } from '../helpers/git-server.js';
import { CLI } from '../helpers/paths.js';
import { makeRulesRepo } from '../helpers/rules-repo.js';
import { mustRun, withTempDir } from '../git/signing/tools.js';
import { hostKey } from '../helpers/host-key.js';

const nfgit = (args: string[], cwd: string) =>
  execa('node', [CLI, ...args], { reject: false, cwd, env: { HOME: cwd, GIT_CONFIG_GLOBAL: '/dev/null', COLUMNS: '200' } });

interface JsonHost {
  host: string;
  running: { commit: string; signature: string } | null;
  last: { result: string; firstError: string | null; signature: string } | null;
  headApplied: boolean | null;
  ignored: Array<{ tag: string; signature: string }>;
}

test('nfgit status over HTTP (token), in a local bare repository and in a clone; a forged tag fails the status', async (t) => {
  await withTempDir('status-cli', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const c1 = await repo.commit({ '10-base': 'iptables -P INPUT ACCEPT\n' });
    const c2 = await repo.commit({ '10-base': 'iptables -P INPUT DROP\n' });
    const signers = path.join(dir, 'allowed_signers');
    writeFileSync(signers, '');
    const fw1 = hostKey(dir, 'fw1', signers);
    const fw2 = hostKey(dir, 'fw2', signers);
    await writeStatusTag({ gitdir: repo.bare, remote: null, record: statusRecord('fw1', c1, 0), key: fw1, keep: 5 });
    await writeStatusTag({ gitdir: repo.bare, remote: null, record: statusRecord('fw1', c2, 2), key: fw1, keep: 5 });
    await writeStatusTag({ gitdir: repo.bare, remote: null, record: statusRecord('fw2', c1, 1), key: fw2, keep: 5 });
    await writeStatusTag({
      gitdir: repo.bare,
      remote: null,
      record: statusRecord('fw2', c2, 3, { result: 'refused', previous: c1, errors: ['rules/10-base:1: bad policy'] }),
      key: fw2,
      keep: 5,
    });
    const token = path.join(dir, 'token');
    writeFileSync(token, 's3cret\n');
    const server = await startGitServer({ root: dir, token: 's3cret' });
    try {
      const url = `${server.url}/fw.git`;
      const r = await nfgit(['status', '--json', '--repo', url, '--token-file', token, '--allowed-signers', signers], dir);
      t.is(r.exitCode, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { head: string; signaturesChecked: boolean; hosts: JsonHost[] };
      t.is(out.head, c2);
      t.true(out.signaturesChecked);
      t.deepEqual(
        out.hosts.map((h) => [h.host, h.running?.commit, h.running?.signature, h.last?.result, h.last?.firstError, h.headApplied]),
        [
          ['fw1', c2, 'good', 'applied', null, true],
          ['fw2', c1, 'good', 'refused', 'rules/10-base:1: bad policy', false],
        ],
      );

      // Without a token: refused by the server, a usage problem (2). Server down: unreachable (3).
      const noToken = await nfgit(['status', '--repo', url], dir);
      t.is(noToken.exitCode, 2, noToken.stderr);
      t.regex(noToken.stderr, /refused the credentials.*--token-file/);
      // A wrong token too (isomorphic-git then ends with UserCanceledError, not an HTTP error).
      const wrong = path.join(dir, 'wrong-token');
      writeFileSync(wrong, 'not-the-token\n');
      const badToken = await nfgit(['status', '--repo', url, '--token-file', wrong], dir);
      t.is(badToken.exitCode, 2, badToken.stderr);
      t.regex(
        badToken.stderr,
        /refused the credentials while listing status refs \(HTTP 401\): give a token that may read the repository with --token-file/,
      );
      await server.stop();
      const down = await nfgit(['status', '--repo', url, '--token-file', token], dir);
      t.is(down.exitCode, 3, down.stderr);
      t.regex(down.stderr, new RegExp(`cannot reach ${url.replace(/[.]/g, '\\.')} while listing status refs: ECONNREFUSED`));
      await server.start();
    } finally {
      await server.stop();
    }

    // A local bare repository, read in place; the table shows both hosts.
    const table = await nfgit(['status', '--repo', repo.bare, '--allowed-signers', signers], dir);
    t.is(table.exitCode, 0, table.stderr);
    t.regex(table.stdout, /^fw1 +[0-9a-f]{12} +yes +applied +2025-03-01 12:02 +good +stale: is its agent running\?$/m);
    t.regex(table.stdout, /^fw2 +[0-9a-f]{12} +no +refused [0-9a-f]{12} +2025-03-01 12:03 +good +rules\/10-base:1: bad policy; stale/m);
    t.regex(table.stdout, /^2 hosts: 1 at head, 1 refused, 2 stale$/m);

    // A clone with the tags fetched, allowed signers from its git config; fw1's key writing for fw2 fails the status.
    const c3 = await repo.commit({ '10-base': 'iptables -P INPUT ACCEPT\n' });
    await writeStatusTag({ gitdir: repo.bare, remote: null, record: statusRecord('fw2', c3, 9), key: fw1, keep: 5 });
    const clone = path.join(dir, 'clone');
    await mustRun('git', ['clone', '-q', repo.bare, clone]);
    await mustRun('git', ['-C', clone, 'config', 'gpg.ssh.allowedSignersFile', signers]);
    const sub = path.join(clone, 'rules');
    // git clone does not fetch refs/nfgit/*: read from the tags, and told how to fetch the current refs.
    const forged = await nfgit(['status', '--json'], sub);
    t.regex(forged.stderr, /git fetch origin '\+refs\/nfgit\/\*:refs\/nfgit\/\*'/);
    t.is(forged.exitCode, 1, forged.stderr);
    const fo = JSON.parse(forged.stdout) as { head: string; hosts: JsonHost[] };
    t.is(fo.head, c3);
    const h2 = fo.hosts.find((h) => h.host === 'fw2');
    t.is(h2?.running?.commit, c1, 'the forged tag is not believed');
    t.deepEqual(
      h2?.ignored.map((i) => i.signature),
      ['wrong-host'],
    );

    // Not a repository; bad flags.
    const none = await nfgit(['status'], '/');
    t.is(none.exitCode, 2);
    t.regex(none.stderr, /not inside a git repository/);
  });
});
