/**
 * Probes in the agent (issue 6): a commit whose rules cut the host off from what its probes reach is
 * rolled back, tagged `Result: rolled-back` with `Error: probe … failed`, and not tried again until
 * a newer commit arrives. The host is a scratch namespace joined to a peer by a veth pair.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { savesOf } from '../helpers/named-netns.js';
import { connectFrom, listen, PEER4, withPair } from '../apply/helpers/veth-pair.js';
import { mustRun, withTempDir } from '../git/signing/tools.js';
import { logEntries, makeAgentWorld } from './helpers/agent-env.js';

const PORT = 7101;
const HARMLESS = { '10-rules': 'iptables -A OUTPUT -p tcp --dport 7102 -j DROP\nip6tables -A OUTPUT -p tcp --dport 7102 -j DROP\n' };
const CUT_OFF = { '10-rules': `iptables -A OUTPUT -p tcp --dport ${PORT} -j DROP\nip6tables -A OUTPUT -p tcp --dport ${PORT} -j DROP\n` };

test('a commit that fails its probes is rolled back, tagged rolled-back with the probe, and held until a newer commit', async (t) => {
  await withTempDir('agent-probes', async (dir) => {
    const world = await makeAgentWorld(dir);
    try {
      await withPair(async ({ host, peer }) => {
        await listen(peer, PORT);
        const fw = await world.addHost('fw1', host, { probes: { deadline: '2s', checks: [{ tcp: `${PEER4}:${PORT}` }, { git: true }] } });
        const tag = (commit: string) =>
          mustRun('git', ['--git-dir', world.repo.bare, 'tag', '-l', '--format=%(contents)', `nfgit/fw1/${commit.slice(0, 12)}`]);

        const good = await world.repo.commit(HARMLESS, { message: 'drop 7102' });
        let r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.regex(await tag(good), /^Result: applied$/m);
        const applied = await savesOf(host);

        const bad = await world.repo.commit(CUT_OFF, { message: 'drop 7101 by mistake' });
        r = await fw.sync();
        t.is(r.exitCode, 1, r.stdout + r.stderr);
        const decided = logEntries(r.stdout).find((e) => e.event === 'rolled-back');
        t.truthy(decided, r.stdout);
        const message = await tag(bad);
        t.regex(message, /^Result: rolled-back$/m);
        t.regex(message, /^Error: probe tcp 10\.251\.0\.2:7101 failed \(no answer within [\d.]+ s; \d+ tr(y|ies) within 2 s\)$/m);
        t.deepEqual(await savesOf(host), applied, 'the host runs the good commit again');
        t.is(await connectFrom(host, PEER4, PORT), 'open');
        t.is(JSON.parse(readFileSync(path.join(fw.stateDir, 'last-good.json'), 'utf8')).source, `git:${good}`);

        // Not retried until a newer commit arrives.
        r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.true(
          logEntries(r.stdout).some((e) => e.event === 'held'),
          r.stdout,
        );
        t.deepEqual(await savesOf(host), applied);
      });
    } finally {
      await world.server.stop();
    }
  });
});
