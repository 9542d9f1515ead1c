import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { removeLoose, writeForgedPack } from '../git/helpers/forge-pack.js';
import { savesOf, withNamedNetns } from '../helpers/named-netns.js';
import { mustRun, withTempDir } from '../signing/tools.js';
import { logEntries, makeAgentWorld, type AgentHost, type AgentWorld } from './helpers/agent-env.js';

const GOOD = {
  '10-base': 'iptables -P INPUT DROP\nip6tables -P INPUT DROP\niptables -A INPUT -i lo -j ACCEPT\nip6tables -A INPUT -i lo -j ACCEPT\n',
};
// The commit the admin signs opens one port; the content swapped under its blob's id opens everything.
const SIGNED = { '30-web': 'iptables -A INPUT -p tcp --dport 443 -j ACCEPT\n' };
const SWAPPED = 'iptables -P INPUT ACCEPT\nip6tables -P INPUT ACCEPT\n';

/** The commit agent.json says the host runs. */
const running = (host: AgentHost): string | undefined =>
  (JSON.parse(readFileSync(path.join(host.stateDir, 'agent.json'), 'utf8')) as { applied?: { commit: string } }).applied?.commit;

/** Checks that a pass over a commit whose blob was swapped refuses it, names the object and applies nothing. */
async function refusesSwap(t: import('ava').ExecutionContext, world: AgentWorld, fw1: AgentHost, ns: string, good: string, blob: string, where: string): Promise<void> {
  const before = await savesOf(ns);
  const r = await fw1.sync();
  t.is(r.exitCode, 1, r.stdout + r.stderr);
  const entries = logEntries(r.stdout);
  // The commit itself is genuine (its signature verifies); the tree it names is what cannot be read.
  t.true(entries.some((e) => e.event === 'verified'), r.stdout);
  const refused = entries.find((e) => e.event === 'refused');
  t.deepEqual(refused?.['errors'], [`nfgit: object ${blob} in ${where} does not hash to its id (its blob content hashes to ${(await mustRun('git', ['hash-object', '--stdin'], { input: SWAPPED })).trim()}): the repository is corrupt or was tampered with; nothing was applied`]);
  t.deepEqual(await savesOf(ns), before);
  t.is(running(fw1), good);
  void world;
}

test('a signed commit whose blob is swapped by a forged pack in the shared bare repository is refused, the host keeps its rules', async (t) => {
  await withTempDir('sync-swap-local', async (dir) => {
    const world = await makeAgentWorld(dir, { local: true });
    try {
      await withNamedNetns(1, async ([ns]) => {
        const fw1 = await world.addHost('fw1', ns as string);
        const good = await world.repo.commit(GOOD);
        t.is((await fw1.sync()).exitCode, 0);
        await world.repo.commit(SIGNED, { message: 'https' });
        const blob = (await world.repo.git(['rev-parse', 'HEAD:rules/30-web'])).trim();
        // Someone who can write objects/ but holds no signing key.
        removeLoose(world.repo.bare, blob);
        writeForgedPack(world.repo.bare, blob, 'blob', SWAPPED);
        await refusesSwap(t, world, fw1, ns as string, good, blob, world.repo.bare);
      });
    } finally {
      await world.server.stop();
    }
  });
});

test('a forged pack in the agent\'s own copy of an HTTPS remote (STATE/repo.git) is refused the same way', async (t) => {
  await withTempDir('sync-swap-fetched', async (dir) => {
    const world = await makeAgentWorld(dir);
    try {
      await withNamedNetns(1, async ([ns]) => {
        const fw1 = await world.addHost('fw1', ns as string);
        const good = await world.repo.commit(GOOD);
        t.is((await fw1.sync()).exitCode, 0);
        await world.repo.commit(SIGNED, { message: 'https' });
        const blob = (await world.repo.git(['rev-parse', 'HEAD:rules/30-web'])).trim();
        // Whoever can write the state directory puts the new commit there first, blob swapped: the
        // agent finds the commit present and does not fetch.
        const copy = path.join(fw1.stateDir, 'repo.git');
        await mustRun('git', ['--git-dir', copy, '-c', 'transfer.unpackLimit=100000', 'fetch', '-q', world.repo.bare, 'main']);
        removeLoose(copy, blob);
        writeForgedPack(copy, blob, 'blob', SWAPPED);
        await refusesSwap(t, world, fw1, ns as string, good, blob, world.url);
      });
    } finally {
      await world.server.stop();
    }
  });
});
