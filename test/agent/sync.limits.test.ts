import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { withNamedNetns, savesOf } from '../helpers/named-netns.js';
import { withTempDir } from '../git/signing/tools.js';
import { logEntries, makeAgentWorld } from './helpers/agent-env.js';

const RULES = { '10-base': 'iptables -P INPUT DROP\nip6tables -P INPUT DROP\niptables -A INPUT -i lo -j ACCEPT\n' };

// Each case sets only the limit it shows, short, so that it ends quickly; the test server drips a
// byte every 100 ms, well within the idle limit, so only the total deadlines and the size caps can end
// these requests.
test('a git server that drips, advertises refs without end or sends too large a pack: sync ends with exit 3 and says which, the host untouched', async (t) => {
  await withTempDir('agent-limits', async (dir) => {
    const world = await makeAgentWorld(dir);
    try {
      await withNamedNetns(1, async ([ns]) => {
        const repository = { url: world.url, branch: 'main', path: 'rules', tokenFile: world.tokenFile, timeout: '30s' };
        const fw1 = await world.addHost('fw1', ns as string, { repository });
        const settings = JSON.parse(readFileSync(fw1.config, 'utf8')) as Record<string, unknown>;
        /** Sets the repository limits of the next sync (the others at their defaults). */
        const limits = (given: Record<string, unknown>): void =>
          writeFileSync(fw1.config, JSON.stringify({ ...settings, repository: { ...repository, ...given } }));
        await world.repo.commit(RULES, { message: 'base' });
        let r = await fw1.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        const applied = await savesOf(ns as string);

        // A new commit with a large file beside the rules (a pack of about 3 MiB).
        await world.repo.commit({ 'notes.txt': randomBytes(3 * 1024 * 1024).toString('base64') }, { dir: 'docs', message: 'big notes' });
        const failed = (message: RegExp, what: string): void => {
          t.is(r.exitCode, 3, `${what}: ${r.stdout}${r.stderr}`);
          t.true(
            logEntries(r.stdout).some((e) => e.level === 'error' && message.test(e.message)),
            `${what}: ${r.stdout}`,
          );
        };

        // The ref listing drips (a byte every 100 ms, within the idle limit): cut at twice repository.timeout.
        limits({ timeout: '1s' });
        world.server.setMode('drip');
        r = await fw1.sync();
        failed(
          /^nfgit: the git server at http:\/\/127\.0\.0\.1:\d+\/fw\.git sent refs for longer than 2 s while listing its branches \(a ref listing may take twice repository\.timeout\); nfgit will retry/,
          'drip',
        );

        // An endless ref advertisement: cut at the refs cap (16 MiB); the listing deadline (twice 30 s)
        // is far enough that only the cap can end it, however loaded the machine.
        limits({});
        world.server.setMode('endless-refs');
        r = await fw1.sync();
        failed(/^nfgit: the git server at \S+ sent more than 16 MiB of refs while listing its branches; nfgit will retry/, 'endless refs');

        // The pack drips: cut at repository.fetchTimeout.
        limits({ fetchTimeout: '5s' });
        world.server.setMode('drip-pack');
        r = await fw1.sync();
        failed(
          /^nfgit: the git server at \S+ sent objects for longer than 5 s while fetching main \(repository\.fetchTimeout\); nfgit will retry/,
          'drip pack',
        );

        // The pack is larger than repository.maxFetchMiB.
        limits({ maxFetchMiB: 1 });
        world.server.setMode('ok');
        r = await fw1.sync();
        failed(
          /^nfgit: the git server at \S+ sent more than 1 MiB of objects while fetching main \(repository\.maxFetchMiB\); nfgit will retry/,
          'big pack',
        );
        t.deepEqual(await savesOf(ns as string), applied);

        // Within the limits, the same commit is fetched (nothing in the rules changed: the host stays as it was).
        limits({});
        r = await fw1.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.deepEqual(await savesOf(ns as string), applied);
        t.deepEqual(await savesOf(ns as string), applied);
      });
    } finally {
      await world.server.stop();
    }
  });
});
