import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import git from 'isomorphic-git';
import { StalledRequestError, authCallbacks, httpWithTimeout, readTokenFile, redactUrl } from '../../src/git/transport.js';
import { startGitServer } from '../helpers/git-server.js';
import { makeRulesRepo } from '../helpers/rules-repo.js';
import { withTempDir } from '../signing/tools.js';

test('the test server serves a token-protected repository to isomorphic-git; stalls and outages end in errors, not hangs', async (t) => {
  await withTempDir('transport', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const oid = await repo.commit({ '10-base': 'iptables -P INPUT ACCEPT\n' });
    const server = await startGitServer({ root: dir, token: 's3cret' });
    try {
      const url = `${server.url}/fw.git`;
      const http = httpWithTimeout(1500);
      const auth = authCallbacks({ username: 'nfgit', password: 's3cret' });
      const refs = await git.listServerRefs({ http, url, prefix: 'refs/heads/main', protocolVersion: 2, ...auth });
      t.deepEqual(refs.map((r) => [r.ref, r.oid]), [['refs/heads/main', oid]]);

      // A wrong token is refused, not asked again forever.
      const bad = authCallbacks({ username: 'nfgit', password: 'wrong' });
      await t.throwsAsync(git.listServerRefs({ http, url, prefix: 'refs/heads/main', protocolVersion: 2, ...bad }));

      // Stalled: abandoned after the idle limit.
      server.setMode('stall');
      const started = Date.now();
      const err = await t.throwsAsync(git.listServerRefs({ http, url, prefix: 'refs/heads/main', protocolVersion: 2, ...auth }));
      t.true(err instanceof StalledRequestError, String(err));
      t.true(Date.now() - started < 10_000);
      server.setMode('ok');

      // Down: connection refused.
      await server.stop();
      const down = await t.throwsAsync(git.listServerRefs({ http, url, prefix: 'refs/heads/main', protocolVersion: 2, ...auth }));
      t.regex(String((down as NodeJS.ErrnoException).code ?? down?.message), /ECONNREFUSED/);
      await server.start();
      const again = await git.listServerRefs({ http, url, prefix: 'refs/heads/main', protocolVersion: 2, ...auth });
      t.is(again[0]?.oid, oid);
    } finally {
      await server.stop();
    }
  });
});

test('token files: TOKEN or USER:TOKEN on one line; problems name the file', async (t) => {
  await withTempDir('token', async (dir) => {
    const f = path.join(dir, 'token');
    writeFileSync(f, 'abc123\n');
    t.deepEqual(readTokenFile(f), { username: 'nfgit', password: 'abc123' });
    writeFileSync(f, 'deploy:xyz\n');
    t.deepEqual(readTokenFile(f), { username: 'deploy', password: 'xyz' });
    writeFileSync(f, 'a\nb\n');
    t.throws(() => readTokenFile(f), { message: /must hold one line/ });
    t.throws(() => readTokenFile(path.join(dir, 'none')), { message: /cannot read the token file .*none.*no such file/ });
  });
  t.is(redactUrl('https://u:p@git.example.net/fw.git'), 'https://git.example.net/fw.git');
});
