// Egress as companies have it: an HTTPS git server with a certificate of their own CA
// (repository.caFile), reached through an HTTP CONNECT proxy (https_proxy, no_proxy). Real TLS (a CA
// and certificate made by openssl), git's http-backend, and a real proxy on loopback counting tunnels.
import test from 'ava';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { NfgitError } from '../../src/errors/errors.js';
import { branchHead, ensureCommit, openRepository } from '../../src/git/follower.js';
import { startConnectProxy } from '../helpers/connect-proxy.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { makeRulesRepo } from '../helpers/rules-repo.js';
import { makeTestCa, type TestCa } from '../helpers/test-ca.js';
import { withTempDir } from './signing/tools.js';

const PROXY_VARS = ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY', 'no_proxy', 'NO_PROXY'];

/** Runs fn with exactly these proxy variables in the environment (the agent reads process.env), then puts it back. */
async function withProxyEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = new Map(PROXY_VARS.map((k) => [k, process.env[k]]));
  for (const k of PROXY_VARS) delete process.env[k];
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

interface Setup {
  readonly dir: string;
  readonly ca: TestCa;
  readonly server: GitServer;
  readonly commit: string;
  readonly url: string;
}

/** A rules repository served over HTTPS as https://localhost:PORT/fw.git, with a certificate of a test CA. */
async function withHttpsServer(fn: (s: Setup) => Promise<void>): Promise<void> {
  await withTempDir('egress', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const commit = await repo.commit({ '10-base': 'iptables -P INPUT ACCEPT\n' });
    const ca = await makeTestCa(dir);
    const server = await startGitServer({ root: dir, tls: { key: ca.key, cert: ca.cert }, hostname: 'localhost' });
    try {
      await fn({ dir, ca, server, commit, url: `${server.url}/fw.git` });
    } finally {
      await server.stop();
    }
  });
}

let copies = 0;
/** Opens the agent's copy of url in a fresh state directory, lists the branch and fetches its commit. */
async function sync(s: Setup, caFile: string | null, idleMs = 5000): Promise<string> {
  const stateDir = path.join(s.dir, `state-${++copies}`);
  mkdirSync(stateDir);
  const repo = await openRepository({ url: s.url, branch: 'main', tokenFile: null, caFile }, stateDir, idleMs);
  const head = await branchHead(repo);
  await ensureCommit(repo, head);
  return head;
}

test.serial(
  'an HTTPS server of a private CA: refused without repository.caFile, with a message saying to set it; accepted with it',
  async (t) => {
    await withHttpsServer(async (s) => {
      await withProxyEnv({}, async () => {
        const err = await t.throwsAsync(sync(s, null));
        t.true(err instanceof NfgitError && err.code === 'UsageError', String(err));
        t.regex(
          err?.message ?? '',
          new RegExp(
            `^the certificate of ${s.url.replace(/\./g, '\\.')} is not accepted while listing its branches \\(UNABLE_TO_VERIFY_LEAF_SIGNATURE: .*\\): if the server has a certificate of a private CA, set repository\\.caFile to a PEM file of that CA$`,
          ),
        );
        t.is(await sync(s, s.ca.caFile), s.commit);
      });
    });
  },
);

test.serial(
  'https_proxy: the listing and the fetch go through CONNECT tunnels; no_proxy naming the host (curl’s rules) goes direct',
  async (t) => {
    await withHttpsServer(async (s) => {
      const proxy = await startConnectProxy();
      try {
        await withProxyEnv({ https_proxy: proxy.url }, async () => {
          t.is(await sync(s, s.ca.caFile), s.commit);
        });
        t.true(proxy.tunnels() > 0);
        t.true(proxy.connects.every((c) => c.target === `localhost:${s.server.port}` && c.status === 200));

        // Upper case, and a port that is not the server's: still through the proxy.
        const before = proxy.tunnels();
        await withProxyEnv({ HTTPS_PROXY: proxy.url, no_proxy: `localhost:1, example.com` }, async () => {
          t.is(await sync(s, s.ca.caFile), s.commit);
        });
        t.true(proxy.tunnels() > before);

        for (const noProxy of ['localhost', '.localhost', 'example.com,LOCALHOST.', `localhost:${s.server.port}`, '*']) {
          const tunnels = proxy.tunnels();
          const served = s.server.requests.length;
          await withProxyEnv({ https_proxy: proxy.url, NO_PROXY: noProxy }, async () => {
            t.is(await sync(s, s.ca.caFile), s.commit, noProxy);
          });
          t.is(proxy.tunnels(), tunnels, `no_proxy=${noProxy}: no tunnel`);
          t.true(s.server.requests.length > served, `no_proxy=${noProxy}: the server answered directly`);
        }
      } finally {
        await proxy.stop();
      }
    });
  },
);

test.serial('http_proxy for an http:// remote: through a tunnel too', async (t) => {
  await withTempDir('egress-http', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const commit = await repo.commit({ '10-base': 'iptables -P INPUT ACCEPT\n' });
    const server = await startGitServer({ root: dir, hostname: 'localhost' });
    const proxy = await startConnectProxy();
    try {
      await withProxyEnv({ http_proxy: proxy.url }, async () => {
        const s = { dir, ca: null as unknown as TestCa, server, commit, url: `${server.url}/fw.git` };
        t.is(await sync(s, null), commit);
      });
      t.true(proxy.tunnels() > 0);
    } finally {
      await proxy.stop();
      await server.stop();
    }
  });
});

test.serial(
  'a proxy that fails: down, wanting credentials, hung, forbidding the tunnel; each says which proxy and what to fix, never its password',
  async (t) => {
    await withHttpsServer(async (s) => {
      // Down: a port where nothing listens any more.
      const gone = await startConnectProxy();
      await gone.stop();
      await withProxyEnv({ https_proxy: gone.url }, async () => {
        const err = await t.throwsAsync(sync(s, s.ca.caFile));
        t.true(err instanceof NfgitError && err.code === 'RemoteError', String(err));
        t.is(
          err?.message,
          `cannot reach the proxy ${gone.url}/ (https_proxy) for ${s.url} while listing its branches: ECONNREFUSED; check https_proxy in nfgit's environment (systemctl edit nfgit: Environment=), or list the host in no_proxy; nfgit will retry`,
        );
      });

      // Credentials: wrong ones get 407 (and are never shown), right ones open the tunnel.
      const guarded = await startConnectProxy({ credentials: 'nfgit:pr0xy-pass' });
      try {
        const withPassword = (pass: string): string => guarded.url.replace('http://', `http://nfgit:${pass}@`);
        await withProxyEnv({ HTTPS_PROXY: withPassword('wr0ng-pass') }, async () => {
          const err = await t.throwsAsync(sync(s, s.ca.caFile));
          t.true(err instanceof NfgitError && err.code === 'UsageError', String(err));
          t.is(
            err?.message,
            `the proxy ${guarded.url}/ (HTTPS_PROXY) wants credentials (HTTP 407) for ${s.url} while listing its branches: put them in HTTPS_PROXY as http://USER:PASSWORD@HOST:PORT (systemctl edit nfgit: Environment=)`,
          );
          t.notRegex(JSON.stringify(err, Object.getOwnPropertyNames(err)) + String(err?.stack), /wr0ng|pr0xy/);
        });
        await withProxyEnv({ HTTPS_PROXY: withPassword('pr0xy-pass') }, async () => {
          t.is(await sync(s, s.ca.caFile), s.commit);
        });
        t.true(guarded.tunnels() > 0);
      } finally {
        await guarded.stop();
      }

      // Hung: the proxy takes the connection and never answers; cut by repository.timeout, naming the proxy.
      const hung = await startConnectProxy({ stall: true });
      try {
        await withProxyEnv({ https_proxy: hung.url }, async () => {
          const err = await t.throwsAsync(sync(s, s.ca.caFile, 1000));
          t.true(err instanceof NfgitError && err.code === 'RemoteError', String(err));
          t.is(
            err?.message,
            `${s.url} stopped answering while listing its branches (no answer from ${s.url}/git-upload-pack for 1 s through the proxy ${hung.url}/ (https_proxy)); check that the proxy can reach the server, or list its host in no_proxy; nfgit will retry`,
          );
        });
        t.is(hung.connects.length, 1);
        // The abandoned request's connection to the proxy is closed, not left waiting for an answer
        // (a generous bound, so that a leak fails here instead of hanging the suite).
        let bound: NodeJS.Timeout | undefined;
        const closed = await Promise.race([
          hung.idle().then(() => true),
          new Promise<boolean>((resolve) => (bound = setTimeout(() => resolve(false), 30_000))),
        ]);
        clearTimeout(bound);
        t.true(closed, 'the connection to the hung proxy was closed');
      } finally {
        await hung.stop();
      }

      // Forbidden: the proxy does not allow this destination.
      const strict = await startConnectProxy({ refuse: 403 });
      try {
        await withProxyEnv({ https_proxy: strict.url }, async () => {
          const err = await t.throwsAsync(sync(s, s.ca.caFile));
          t.true(err instanceof NfgitError && err.code === 'RemoteError', String(err));
          t.is(
            err?.message,
            `the proxy ${strict.url}/ (https_proxy) refused the tunnel to localhost:${s.server.port} (HTTP 403) for ${s.url} while listing its branches: allow that host and port on the proxy, or list the host in no_proxy; nfgit will retry`,
          );
        });
      } finally {
        await strict.stop();
      }
    });
  },
);
