/**
 * Staged rollout with real agents (issue 14): a canary (rollout.ring canary) and a host of ring 1
 * (rollout.after.ring canary) on one local bare repository, each applying to a scratch namespace.
 * The canary applies a new commit; ring 1 holds it (log, status --local, a held report) until the
 * canary's current status (refs/nfgit/hosts/fw1) says applied; a commit the canary rolls back (a probe made to fail)
 * stops ring 1 until a newer commit.
 */
import test from 'ava';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { savesOf, withNamedNetns } from '../helpers/named-netns.js';
import { mustRun, withTempDir } from '../git/signing/tools.js';
import { logEntries, makeAgentWorld, nfgit, type AgentHost, type AgentWorld } from './helpers/agent-env.js';

const rules = (port: number) => ({
  '10-rules': `iptables -A INPUT -p tcp --dport ${port} -j ACCEPT\nip6tables -A INPUT -p tcp --dport ${port} -j ACCEPT\n`,
});

/** The message of a host's current status (refs/nfgit/hosts/HOST, moved by the host's own agent at every report). */
async function current(world: AgentWorld, host: string): Promise<string> {
  const raw = await mustRun('git', ['--git-dir', world.repo.bare, 'cat-file', 'tag', `refs/nfgit/hosts/${host}`]);
  return raw.slice(raw.indexOf('\n\n') + 2);
}

async function runningSource(fw: AgentHost): Promise<string> {
  const r = await nfgit(['status', '--local', '--json', '--state-dir', fw.stateDir]);
  return (JSON.parse(r.stdout) as { running: { commit: string } | null }).running?.commit ?? 'none';
}

test('rings: the canary applies, ring 1 holds until the canary reports applied, and a canary rollback stops ring 1 until a newer commit', async (t) => {
  await withTempDir('agent-rollout', async (dir) => {
    const world = await makeAgentWorld(dir, { local: true });
    try {
      await withNamedNetns(2, async ([canaryNs, ringNs]) => {
        // The canary's probe fails while this file exists: how a commit gets rolled back here.
        const fail = path.join(dir, 'fail-probe');
        const canary = await world.addHost('fw1', canaryNs as string, {
          rollout: { ring: 'canary' },
          probes: { deadline: '1s', checks: [{ command: ['/bin/sh', '-c', `! test -e ${fail}`] }] },
        });
        const web = await world.addHost('web1', ringNs as string, {
          rollout: { ring: '1', after: { ring: 'canary', healthyFor: '0s' }, allowedSigners: world.tagSigners },
        });

        // No canary has reported yet: ring 1 holds even the first commit.
        const c1 = await world.repo.commit(rules(22), { message: 'ssh' });
        let r = await web.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        let held = logEntries(r.stdout).find((e) => e.event === 'rollout-held');
        t.is(held?.message, `held: no host of ring canary has reported; running nothing from git, not ${c1.slice(0, 12)}`, r.stdout);
        t.false(existsSync(path.join(web.stateDir, 'last-good.json')), 'nothing applied');

        r = await canary.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.regex(await current(world, 'fw1'), /^Ring: canary$/m, 'the canary says its ring in its reports');

        r = await web.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.is(
          logEntries(r.stdout).find((e) => e.event === 'rollout-open')?.message,
          `rollout: canary fw1 runs ${c1.slice(0, 12)}: applying ${c1.slice(0, 12)}`,
          r.stdout,
        );
        t.truthy(
          logEntries(r.stdout).find((e) => e.event === 'applied'),
          r.stdout,
        );
        t.is(await runningSource(web), c1);
        const ringSaves = await savesOf(ringNs as string);

        // A new commit: ring 1 holds it while the canary still runs c1, and says so everywhere.
        const c2 = await world.repo.commit(rules(443), { message: 'https' });
        r = await web.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        held = logEntries(r.stdout).find((e) => e.event === 'rollout-held');
        t.is(held?.level, 'info');
        t.is(held?.message, `held: waiting for canary fw1 (runs ${c1.slice(0, 12)}); running ${c1.slice(0, 12)}, not ${c2.slice(0, 12)}`);
        t.deepEqual(await savesOf(ringNs as string), ringSaves, 'ring 1 still runs c1');
        const local = await nfgit(['status', '--local', '--state-dir', web.stateDir]);
        t.regex(
          local.stdout,
          new RegExp(`^rollout +holding ${c2.slice(0, 12)} since .*: waiting for canary fw1 \\(runs ${c1.slice(0, 12)}\\)$`, 'm'),
        );
        t.regex(local.stdout, new RegExp(`^last pass .*: ok, held ${c2.slice(0, 12)}, `, 'm'));
        // The held report is the host's current status (no decision tag).
        const heldMessage = await current(world, 'web1');
        t.regex(heldMessage, /^Result: held$/m);
        t.regex(heldMessage, new RegExp(`^Held: waiting for canary fw1 \\(runs ${c1.slice(0, 12)}\\)$`, 'm'));
        t.regex(heldMessage, new RegExp(`^Previous: ${c1}$`, 'm'));
        t.regex(heldMessage, /^Ring: 1$/m);
        t.is(
          await mustRun('git', ['--git-dir', world.repo.bare, 'tag', '-l', `nfgit/web1/${c2.slice(0, 12)}*`]),
          '',
          'a held report is not a decision: no tag for c2',
        );

        // Held again at the next poll: said at debug, not reported again; `nfgit sync` (which checks drift) says it at info.
        r = await web.sync('--no-reconcile');
        t.is(logEntries(r.stdout).find((e) => e.event === 'rollout-held')?.level, undefined, 'debug entries are not logged at info');
        t.false(
          logEntries(r.stdout).some((e) => e.event === 'tagged'),
          r.stdout,
        );
        r = await web.sync();
        t.is(logEntries(r.stdout).find((e) => e.event === 'rollout-held')?.level, 'info', r.stdout);
        t.false(
          logEntries(r.stdout).some((e) => e.event === 'tagged'),
          r.stdout,
        );

        // The canary applies c2: ring 1 follows.
        r = await canary.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        r = await web.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.is(await runningSource(web), c2, r.stdout);
        t.notDeepEqual(await savesOf(ringNs as string), ringSaves);
        const c2Saves = await savesOf(ringNs as string);
        const afterC2 = await nfgit(['status', '--local', '--json', '--state-dir', web.stateDir]);
        t.is((JSON.parse(afterC2.stdout) as { held: unknown }).held, null, 'no longer held');

        // c3 fails the canary's probe: rolled back there, and ring 1 stops on it.
        writeFileSync(fail, '');
        const c3 = await world.repo.commit(rules(8443), { message: 'alt https' });
        r = await canary.sync();
        t.is(r.exitCode, 1, r.stdout + r.stderr);
        t.truthy(
          logEntries(r.stdout).find((e) => e.event === 'rolled-back'),
          r.stdout,
        );
        r = await web.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        held = logEntries(r.stdout).find((e) => e.event === 'rollout-held');
        t.is(held?.level, 'warn');
        t.regex(
          String(held?.message),
          new RegExp(
            `^held: canary fw1 rolled back ${c3.slice(0, 12)}: probe command /bin/sh -c ! test -e \\S+ failed.*; running ${c2.slice(0, 12)}, not ${c3.slice(0, 12)}$`,
          ),
        );
        t.deepEqual(await savesOf(ringNs as string), c2Saves, 'ring 1 still runs c2');
        t.is(await runningSource(web), c2);

        // Until a newer commit: c4 is waited for like any other, then applied once the canary runs it.
        rmSync(fail);
        const c4 = await world.repo.commit(rules(8080), { message: 'alt http' });
        r = await web.sync();
        held = logEntries(r.stdout).find((e) => e.event === 'rollout-held');
        t.is(
          held?.message,
          `held: waiting for canary fw1 (runs ${c2.slice(0, 12)}); running ${c2.slice(0, 12)}, not ${c4.slice(0, 12)}`,
          r.stdout,
        );
        r = await canary.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        r = await web.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.is(await runningSource(web), c4, r.stdout);
      });
    } finally {
      await world.server.stop();
    }
  });
});

test('rings: a canary report whose signature does not verify is not believed', async (t) => {
  await withTempDir('agent-rollout-sig', async (dir) => {
    const world = await makeAgentWorld(dir, { local: true });
    try {
      await withNamedNetns(2, async ([canaryNs, ringNs]) => {
        const canary = await world.addHost('fw1', canaryNs as string, { rollout: { ring: 'canary' } });
        // Ring 1 trusts an allowed_signers file without the canary's key.
        const signers = path.join(dir, 'ring1_signers');
        writeFileSync(signers, '');
        const web = await world.addHost('web1', ringNs as string, {
          rollout: { ring: '1', after: { ring: 'canary', healthyFor: '0s' }, allowedSigners: signers },
        });
        const c1 = await world.repo.commit(rules(22), { message: 'ssh' });
        let r = await canary.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        r = await web.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        const held = logEntries(r.stdout).find((e) => e.event === 'rollout-held');
        t.regex(
          String(held?.message),
          new RegExp(
            `^held: no host of ring canary has reported; not believed: fw1 \\(signature untrusted: .*\\); running nothing from git, not ${c1.slice(0, 12)}$`,
          ),
          r.stdout,
        );
      });
    } finally {
      await world.server.stop();
    }
  });
});

test("rings over HTTP: ring 1 lists the hosts' current status refs and fetches their tags from the server", async (t) => {
  await withTempDir('agent-rollout-http', async (dir) => {
    const world = await makeAgentWorld(dir);
    try {
      await withNamedNetns(2, async ([canaryNs, ringNs]) => {
        const canary = await world.addHost('fw1', canaryNs as string, { rollout: { ring: 'canary' } });
        const web = await world.addHost('web1', ringNs as string, {
          rollout: { ring: '1', after: { ring: 'canary', healthyFor: '0s' }, allowedSigners: world.tagSigners },
        });
        const c1 = await world.repo.commit(rules(22), { message: 'ssh' });
        let r = await canary.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        r = await web.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.is(await runningSource(web), c1, r.stdout);

        const c2 = await world.repo.commit(rules(443), { message: 'https' });
        r = await web.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.is(
          logEntries(r.stdout).find((e) => e.event === 'rollout-held')?.message,
          `held: waiting for canary fw1 (runs ${c1.slice(0, 12)}); running ${c1.slice(0, 12)}, not ${c2.slice(0, 12)}`,
          r.stdout,
        );
        t.regex(await current(world, 'web1'), /^Result: held$/m, 'the held report is pushed as the current status');
        r = await canary.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        r = await web.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.is(await runningSource(web), c2, r.stdout);
      });
    } finally {
      await world.server.stop();
    }
  });
});

test('rings: a ring given to a running host is said at its next pass (a heartbeat), not an hour later', async (t) => {
  await withTempDir('agent-rollout-ring', async (dir) => {
    const world = await makeAgentWorld(dir, { local: true });
    try {
      await withNamedNetns(1, async ([ns]) => {
        const canary = await world.addHost('fw1', ns as string);
        await world.repo.commit(rules(22), { message: 'ssh' });
        let r = await canary.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.notRegex(await current(world, 'fw1'), /^Ring:/m);
        r = await canary.sync();
        t.false(
          logEntries(r.stdout).some((e) => e.event === 'tagged'),
          'nothing to report',
        );
        const config = JSON.parse(readFileSync(canary.config, 'utf8')) as Record<string, unknown>;
        writeFileSync(canary.config, JSON.stringify({ ...config, rollout: { ring: 'canary' } }));
        r = await canary.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        const message = await current(world, 'fw1');
        t.regex(message, /^Heartbeat: yes$/m);
        t.regex(message, /^Ring: canary$/m);
      });
    } finally {
      await world.server.stop();
    }
  });
});
