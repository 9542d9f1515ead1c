import test from 'ava';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { withRulesDir } from '../helpers/rules-dir.js';
import { leftovers } from '../helpers/processes.js';
import { apply, withNetns, withTempDir } from './helpers/netns-apply.js';

// Issue 11, item 7: a process a host command leaves behind (`setsid … &` holding its output pipes)
// used to hold the apply for its whole life, past --host-command-timeout. A host command is done when
// it exits: what stayed in its process group is killed, a process that left the group runs on.

test('a host command that leaves a process behind does not hold the apply; its process group is killed, a detached daemon runs on', (t) =>
  withNetns((ns) =>
    withTempDir('nfgit-state-', async (tmp) => {
      const marker = path.join(tmp, 'ran');
      const detached = path.join(tmp, 'detached');
      // The daemon says it has left the group before the host command exits (under load, a bare
      // `setsid sleep &` may not have called setsid() yet when its group is killed).
      const rules = `iptables -A INPUT -i lo -j ACCEPT\nmain sh -c 'setsid sh -c "echo \\$\\$ > ${detached}; exec sleep 4151" & sleep 4152 & while [ ! -s ${detached} ]; do sleep 0.05; done; echo ran > ${marker}'\nmain sh -c 'ip netns identify >> ${marker}'\n`;
      await withRulesDir({ '10-rules': rules }, async (dir) => {
        const r = await apply(dir, ns, path.join(tmp, 'state'));
        t.is(r.exitCode, 0, String(r.stderr));
        t.is(String(r.stderr), '', 'no warning: both host commands succeeded');
        t.deepEqual(
          readFileSync(marker, 'utf8')
            .split('\n')
            .filter((l) => l !== ''),
          ['ran', ns],
          'both ran, in the namespace',
        );
        t.deepEqual(await leftovers('sleep 4152'), [], 'the background child in its group is gone');
        const daemons = await leftovers('sleep 4151');
        t.is(daemons.length, 1, 'the setsid one runs on, as a daemon would');
        for (const d of daemons) process.kill(Number(d.split(' ')[0]), 'SIGKILL');
      });
    }),
  ));
