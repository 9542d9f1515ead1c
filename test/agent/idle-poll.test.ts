import test from 'ava';
import { withNamedNetns } from '../helpers/named-netns.js';
import { withTempDir } from '../git/signing/tools.js';
import { makeAgentWorld } from './helpers/agent-env.js';
import { idlePoll } from '../../src/agent/idle-poll.js';
import { loadConfig } from '../../src/agent/config.js';
import { idleStateOf, SYNC_DEFAULTS, type PassFacts } from '../../src/agent/sync.js';
import { readPassRecord, type PassRecord } from '../../src/agent/pass-record.js';
import { newPause, removePause, writePause } from '../../src/agent/pause.js';
import { StateDir } from '../../src/apply/state-files.js';
import type { Logger } from '../../src/agent/log.js';

// What the lock-free look of a poll answers, and what it leaves to the full pass under agent.lock:
// every reason a pass has to act must send the poll to the lock (issue 15). The state is a real one,
// made by `nfgit sync` against a local repository and a scratch namespace.
test('idlePoll answers only a poll with nothing to do; every reason to act goes to the full pass', async (t) => {
  await withTempDir('idle-poll', async (dir) => {
    const world = await makeAgentWorld(dir, { local: true });
    try {
      await withNamedNetns(1, async ([ns]) => {
        const fw = await world.addHost('fw1', ns as string);
        const first = await world.repo.commit({ '10-base': 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n' });
        const synced = await fw.sync();
        t.is(synced.exitCode, 0, synced.stderr);
        const config = await loadConfig(fw.config);
        const said: string[] = [];
        const log: Logger = { log: (level, event) => said.push(`${level} ${event}`) };
        const poll = { ...SYNC_DEFAULTS, reconcile: false };
        const look = async (previous: PassRecord = readPassRecord(fw.stateDir), options = poll) => {
          const facts: PassFacts = {};
          const outcome = await idlePoll(config, options, log, previous, facts, idleStateOf(new StateDir(fw.stateDir)));
          return { outcome, facts };
        };

        const idle = await look();
        t.deepEqual(idle.outcome, { kind: 'current', commit: first, applied: first, drift: 'not-checked' });
        t.is(idle.facts.headSeen, first);
        t.false(idle.facts.paused);
        t.deepEqual(said, ['debug current']);

        const record = readPassRecord(fw.stateDir);
        t.is((await look(record, { ...poll, reconcile: true })).outcome, undefined, 'a pass that checks drift');
        t.is((await look(record, { ...poll, retry: true })).outcome, undefined, 'sync --retry');
        t.is((await look({ ...record, failures: 1 })).outcome, undefined, 'a retry after a failed pass');
        t.is((await look({ ...record, lastPass: null })).outcome, undefined, 'no pass recorded');
        const old = { ...record, reported: record.reported === null ? null : { ...record.reported, at: new Date(0).toISOString() } };
        t.is((await look(old)).outcome, undefined, 'a heartbeat due');
        t.is((await look({ ...record, running: null })).outcome, undefined, "the running commit's time to read");
        const held = { commit: first, why: 'w', key: 'k', since: new Date().toISOString(), reported: true };
        t.is((await look({ ...record, held })).outcome, undefined, 'a held rollout');

        // A pause in force is idle (the heartbeat that says paused is due first); one that ended is removed by the full pass.
        writePause(fw.stateDir, newPause('admin', new Date(), null, null));
        t.is((await look()).outcome, undefined, 'the heartbeat saying paused is due');
        const pausedRecord = { ...record, reported: record.reported === null ? null : { ...record.reported, paused: true } };
        const paused = await look(pausedRecord);
        t.deepEqual(paused.outcome, { kind: 'current', commit: first, applied: first, drift: 'not-checked' });
        t.true(paused.facts.paused);
        writePause(fw.stateDir, newPause('admin', new Date(Date.now() - 120_000), 60_000, null));
        t.is((await look()).outcome, undefined, 'an ended pause');
        removePause(fw.stateDir);

        // A new head is the full pass's, as is any problem (here the signing key gone).
        t.truthy((await look()).outcome);
        const broken = { ...config, signing: { ...config.signing, key: `${dir}/no-such-key` } };
        t.is(
          await idlePoll(broken, poll, log, record, {}, idleStateOf(new StateDir(fw.stateDir))),
          undefined,
          'a signing key that cannot be read',
        );
        await world.repo.commit({ '10-base': 'iptables -A INPUT -p tcp --dport 2022 -j ACCEPT\n' });
        t.is((await look()).outcome, undefined, 'a new head');
      });
    } finally {
      await world.server.stop();
    }
  });
});
