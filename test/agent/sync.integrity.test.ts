import test from 'ava';
import { appendFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { removeLoose, writeForgedPack } from '../git/helpers/forge-pack.js';
import { savesOf, withNamedNetns } from '../helpers/named-netns.js';
import { mustRun, sshKeygen, withTempDir } from '../git/signing/tools.js';
import { logEntries, makeAgentWorld, nfgit, type AgentHost, type AgentWorld } from './helpers/agent-env.js';

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
async function refusesSwap(
  t: import('ava').ExecutionContext,
  world: AgentWorld,
  fw1: AgentHost,
  ns: string,
  good: string,
  blob: string,
  where: string,
  hint = '',
): Promise<void> {
  const before = await savesOf(ns);
  const r = await fw1.sync();
  t.is(r.exitCode, 1, r.stdout + r.stderr);
  const entries = logEntries(r.stdout);
  // The commit itself is genuine (its signature verifies); the tree it names is what cannot be read.
  t.true(
    entries.some((e) => e.event === 'verified'),
    r.stdout,
  );
  const refused = entries.find((e) => e.event === 'refused');
  t.deepEqual(refused?.['errors'], [
    `nfgit: object ${blob} in ${where} does not hash to its id (its blob content hashes to ${(await mustRun('git', ['hash-object', '--stdin'], { input: SWAPPED })).trim()}): the repository is corrupt or was tampered with; nothing was applied${hint}`,
  ]);
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

test("a forged pack in the agent's own copy of an HTTPS remote (STATE/repo.git) is refused the same way", async (t) => {
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
        await refusesSwap(
          t,
          world,
          fw1,
          ns as string,
          good,
          blob,
          world.url,
          ` (the agent's copy: remove ${copy} and run nfgit sync --retry to fetch it afresh)`,
        );
        // What the message says to do: the genuine commit is fetched afresh and applied.
        rmSync(copy, { recursive: true });
        const r = await fw1.sync('--retry');
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.is(running(fw1), (await world.repo.git(['rev-parse', 'HEAD'])).trim());
        const saves = await savesOf(ns as string);
        t.regex(saves.ipv4, /--dport 443 -j ACCEPT/);
        t.regex(saves.ipv4, /:INPUT DROP/);
      });
    } finally {
      await world.server.stop();
    }
  });
});

test('a key retired with valid-before cannot sign a backdated commit: a commit dated before the running one is refused', async (t) => {
  await withTempDir('sync-backdated', async (dir) => {
    const world = await makeAgentWorld(dir, { local: true });
    try {
      await withNamedNetns(1, async ([ns]) => {
        const fw1 = await world.addHost('fw1', ns as string);
        // Bob's key was retired at the start of 2020; whoever holds it now signs with a 2019 date.
        const bob = await sshKeygen(dir, 'bob', 'ed25519');
        appendFileSync(world.repo.allowedSigners, `bob@example.net namespaces="git",valid-before="20200101" ${bob.pub}\n`);
        const good = await world.repo.commit(GOOD);
        t.is((await fw1.sync()).exitCode, 0);
        const before = await savesOf(ns as string);
        writeFileSync(path.join(world.repo.work, 'rules/30-open'), SWAPPED);
        await world.repo.git(['add', '-A']);
        const date = '2019-06-01T12:00:00Z';
        await world.repo.git(['-c', `user.signingkey=${bob.file}`, 'commit', '-q', '-S', '-m', 'open up'], {
          env: { GIT_COMMITTER_DATE: date, GIT_AUTHOR_DATE: date },
        });
        await world.repo.git(['push', '-q', 'origin', 'HEAD:refs/heads/main']);
        const backdated = (await world.repo.git(['rev-parse', 'HEAD'])).trim();
        // git itself accepts the signature: the key was valid at the (claimed) committer date.
        t.regex(await world.repo.git(['log', '-1', '--format=%G?']), /^G/);
        const r = await fw1.sync();
        t.is(r.exitCode, 1, r.stdout + r.stderr);
        const refused = logEntries(r.stdout).find((e) => e.event === 'refused');
        const goodDate = new Date(Number((await world.repo.git(['log', '-1', '--format=%ct', good])).trim()) * 1000).toISOString();
        t.deepEqual(refused?.['errors'], [
          `commit ${backdated.slice(0, 12)} is dated 2019-06-01T12:00:00.000Z (its committer date), before the running commit ${good.slice(0, 12)}, dated ${goodDate}: ` +
            'nfgit refuses commits dated before what the host runs, so that a key retired with valid-before in allowed_signers cannot sign a backdated commit; ' +
            'commit again with the current date (git commit --amend --no-edit, then push), or run nfgit sync --allow-rewrite',
        ]);
        t.deepEqual(await savesOf(ns as string), before);
        t.is(running(fw1), good);
      });
    } finally {
      await world.server.stop();
    }
  });
});

test("with the state directory lost, the host's newest signed status tag is the floor: an older commit is refused (fetched from the remote)", async (t) => {
  await withTempDir('sync-floor', async (dir) => {
    const world = await makeAgentWorld(dir);
    try {
      await withNamedNetns(1, async ([ns]) => {
        const fw1 = await world.addHost('fw1', ns as string);
        const old = await world.repo.commit(GOOD, { message: 'base' });
        t.is((await fw1.sync()).exitCode, 0);
        const newer = await world.repo.commit(SIGNED, { message: 'https' });
        t.is((await fw1.sync()).exitCode, 0);
        const before = await savesOf(ns as string);
        // A reinstall: the state directory (agent.json, last-good.json, repo.git) is gone; then the
        // branch is moved back to the old signed commit.
        rmSync(fw1.stateDir, { recursive: true });
        mkdirSync(fw1.stateDir);
        await world.repo.git(['push', '-q', '-f', 'origin', `${old}:refs/heads/main`]);
        const r = await fw1.sync();
        t.is(r.exitCode, 1, r.stdout + r.stderr);
        const refused = logEntries(r.stdout).find((e) => e.event === 'refused');
        t.deepEqual(refused?.['errors'], [
          `main moved back to ${old.slice(0, 12)}, an ancestor of ${newer.slice(0, 12)}, which this host's signed status tag nfgit/fw1/${newer.slice(0, 12)} says it applied: nfgit never goes backwards (revert with a new commit, or run nfgit sync --allow-rewrite)`,
        ]);
        t.deepEqual(await savesOf(ns as string), before);
        // An admin who means it.
        const again = await fw1.sync('--retry', '--allow-rewrite');
        t.is(again.exitCode, 0, again.stdout + again.stderr);
        t.is(running(fw1), old);
      });
    } finally {
      await world.server.stop();
    }
  });
});

test('an agent.json that exists but cannot be parsed holds the agent, naming the file and the fix', async (t) => {
  await withTempDir('sync-agent-json', async (dir) => {
    const world = await makeAgentWorld(dir, { local: true });
    try {
      await withNamedNetns(1, async ([ns]) => {
        const fw1 = await world.addHost('fw1', ns as string);
        const old = await world.repo.commit(GOOD, { message: 'base' });
        t.is((await fw1.sync()).exitCode, 0);
        const newer = await world.repo.commit(SIGNED, { message: 'https' });
        t.is((await fw1.sync()).exitCode, 0);
        const before = await savesOf(ns as string);
        // Rules applied by hand since (the same ones: last-good.json no longer names a commit), and agent.json damaged.
        const byHand = path.join(dir, 'by-hand');
        mkdirSync(byHand);
        for (const [name, text] of Object.entries({ ...GOOD, ...SIGNED })) writeFileSync(path.join(byHand, name), text);
        const manual = await nfgit(['apply', '--rules', byHand, '--netns', ns as string, '--state-dir', fw1.stateDir]);
        t.is(manual.exitCode, 0, manual.stdout + manual.stderr);
        t.notRegex(readFileSync(path.join(fw1.stateDir, 'last-good.json'), 'utf8'), /"git:[0-9a-f]{40}"/);
        const file = path.join(fw1.stateDir, 'agent.json');
        writeFileSync(file, '{"nfgitAgent": 1, "applied": {"comm');
        await world.repo.git(['push', '-q', '-f', 'origin', `${old}:refs/heads/main`]);
        const r = await fw1.sync();
        t.is(r.exitCode, 2, r.stdout + r.stderr);
        t.regex(
          r.stdout + r.stderr,
          new RegExp(
            `${file.replace(/[.]/g, '\\.')} cannot be used \\(it is not valid JSON: .*\\): nfgit does not know which commit this host runs, so it decides nothing until this is fixed\\. Restore the file from a backup, or move it away to start afresh`,
          ),
        );
        t.deepEqual(await savesOf(ns as string), before);
        // Moved away: the status tags keep it from going back.
        rmSync(file);
        const r2 = await fw1.sync();
        t.is(r2.exitCode, 1, r2.stdout + r2.stderr);
        t.regex(
          r2.stdout,
          new RegExp(
            `an ancestor of ${newer.slice(0, 12)}, which this host's signed status tag nfgit/fw1/${newer.slice(0, 12)} says it applied`,
          ),
        );
        t.deepEqual(await savesOf(ns as string), before);
      });
    } finally {
      await world.server.stop();
    }
  });
});
