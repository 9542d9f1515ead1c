import test from 'ava';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { withRulesDir } from '../helpers/rules-dir.js';
import { leftovers } from '../helpers/processes.js';
import { apply, withNetns, withTempDir } from './helpers/netns-apply.js';

// Issue 11, item 7: a process a host command leaves behind (`setsid … &` holding its output pipes)
// used to hold the apply for its whole life, past --host-command-timeout. Host commands run in a PID
// namespace of their own: what they leave is killed when they exit.

test('a host command that leaves a process behind does not hold the apply, and the process is gone', (t) =>
  withNetns((ns) =>
    withTempDir('nfgit-state-', async (tmp) => {
      const marker = path.join(tmp, 'ran');
      const rules = `iptables -A INPUT -i lo -j ACCEPT\nmain sh -c 'setsid sleep 4151 & sleep 4152 & echo ran > ${marker}'\nmain sh -c 'ip netns identify >> ${marker}'\n`;
      await withRulesDir({ '10-rules': rules }, async (dir) => {
        const r = await apply(dir, ns, path.join(tmp, 'state'));
        t.is(r.exitCode, 0, String(r.stderr));
        t.is(String(r.stderr), '', 'no warning: both host commands succeeded');
        t.deepEqual(readFileSync(marker, 'utf8').split('\n').filter((l) => l !== ''), ['ran', ns], 'both ran, in the namespace');
        t.deepEqual(await leftovers('sleep 415[12]'), []);
      });
    }),
  ),
);
