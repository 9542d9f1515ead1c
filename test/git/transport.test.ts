import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import git from 'isomorphic-git';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { NfgitError } from '../../src/errors/errors.js';
import {
  StalledRequestError,
  TransportLimitError,
  authCallbacks,
  httpWithTimeout,
  readTokenFile,
  redactUrl,
  remoteError,
  withLimits,
} from '../../src/git/transport.js';
import { startGitServer } from '../helpers/git-server.js';
import { makeRulesRepo } from '../helpers/rules-repo.js';
import { withTempDir } from './signing/tools.js';

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
      t.deepEqual(
        refs.map((r) => [r.ref, r.oid]),
        [['refs/heads/main', oid]],
      );

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

test('a server dripping a byte at a time is cut by the total deadline, an endless ref advertisement and an oversized pack by the size caps', async (t) => {
  await withTempDir('transport-limits', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const oid = await repo.commit({ '10-base': 'iptables -P INPUT ACCEPT\n', '90-big': randomBytes(3 * 1024 * 1024).toString('base64') });
    // Bytes come every 50 ms: the idle limit (2 s) never fires, only the deadlines can end the requests.
    const server = await startGitServer({ root: dir, dripIntervalMs: 50 });
    const url = `${server.url}/fw.git`;
    const context = { url, doing: 'listing its branches', authHint: 'check the token', then: '; nfgit will retry' };
    const list = (http: ReturnType<typeof httpWithTimeout>) =>
      withLimits(http, () => git.listServerRefs({ http, url, prefix: 'refs/heads/main', protocolVersion: 2 }));
    const fetchInto = (http: ReturnType<typeof httpWithTimeout>, name: string) => {
      const gitdir = path.join(dir, name);
      mkdirSync(gitdir);
      return git
        .init({ fs, gitdir, bare: true })
        .then(() => git.addRemote({ fs, gitdir, remote: 'origin', url }))
        .then(() =>
          withLimits(http, () => git.fetch({ fs, http, gitdir, url, remote: 'origin', ref: 'main', singleBranch: true, tags: false })),
        );
    };
    try {
      // Listing: twice the idle limit unless given.
      server.setMode('drip');
      const dripped = await t.throwsAsync(list(httpWithTimeout({ idleMs: 2000, listDeadlineMs: 500 })));
      t.true(dripped instanceof TransportLimitError, String(dripped));
      t.is((dripped as TransportLimitError).limit, 'list-deadline');
      const e1 = remoteError(dripped, context);
      t.true(e1 instanceof NfgitError);
      t.is(e1.code, 'RemoteError');
      t.is(
        e1.message,
        `the git server at ${url} sent refs for longer than 0.5 s while listing its branches (a ref listing may take twice repository.timeout); nfgit will retry`,
      );

      // The default listing deadline is derived from the idle limit.
      const derived = await t.throwsAsync(list(httpWithTimeout({ idleMs: 400 })));
      // 400 ms of idle limit with a byte every 50 ms: the derived 0.8 s deadline ends it, not the idle limit.
      t.is((derived as TransportLimitError).limit, 'list-deadline', String(derived));

      // An endless advertisement: cut at the refs cap, in a listing and in a fetch's advertisement.
      server.setMode('endless-refs');
      const endless = await t.throwsAsync(list(httpWithTimeout({ idleMs: 2000, listDeadlineMs: 120_000, maxRefsBytes: 1024 * 1024 })));
      t.is((endless as TransportLimitError).limit, 'refs-size', String(endless));
      t.regex(
        remoteError(endless, context).message,
        /^the git server at \S+ sent more than 1 MiB of refs while listing its branches; nfgit will retry$/,
      );
      const endlessFetch = await t.throwsAsync(
        fetchInto(httpWithTimeout({ idleMs: 2000, listDeadlineMs: 120_000, maxRefsBytes: 1024 * 1024 }), 'endless.git'),
      );
      t.is((endlessFetch as TransportLimitError).limit, 'refs-size', String(endlessFetch));

      // A pack that drips: the listing is served, the pack is cut by the fetch deadline.
      server.setMode('drip-pack');
      const refs = await list(httpWithTimeout({ idleMs: 2000 }));
      t.is(refs[0]?.oid, oid);
      const slowPack = await t.throwsAsync(fetchInto(httpWithTimeout({ idleMs: 2000, fetchDeadlineMs: 700 }), 'drip.git'));
      t.is((slowPack as TransportLimitError).limit, 'fetch-deadline', String(slowPack));
      t.regex(
        remoteError(slowPack, { ...context, doing: 'fetching main' }).message,
        /sent objects for longer than 0.7 s while fetching main \(repository.fetchTimeout\); nfgit will retry$/,
      );

      // A pack larger than the cap.
      server.setMode('ok');
      const big = await t.throwsAsync(fetchInto(httpWithTimeout({ idleMs: 2000, maxPackBytes: 1024 * 1024 }), 'big.git'));
      t.is((big as TransportLimitError).limit, 'pack-size', String(big));
      t.regex(
        remoteError(big, { ...context, doing: 'fetching main' }).message,
        /sent more than 1 MiB of objects while fetching main \(repository.maxFetchMiB\)/,
      );
      // Within the limits, the same fetch succeeds.
      await fetchInto(httpWithTimeout({ idleMs: 2000 }), 'ok.git');
      t.true(await git.readObject({ fs, gitdir: path.join(dir, 'ok.git'), oid }).then(() => true));
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
