import test from 'ava';
import { inPrivateMounts } from '../helpers/private-mounts.js';
import { CLI } from '../helpers/paths.js';
import { withNamedNetns } from '../helpers/named-netns.js';
import { SYSTEM_PATH } from '../apply/helpers/netns-apply.js';
import { withTempDir } from '../git/signing/tools.js';
import { logEntries, makeAgentWorld } from './helpers/agent-env.js';

test('under systemd, a local repository on a read-only path: the status tag failure says to add ReadWritePaths with systemctl edit', async (t) => {
  await withTempDir('sync-rofs', async (dir) => {
    const world = await makeAgentWorld(dir, { local: true });
    try {
      await withNamedNetns(1, async ([ns]) => {
        const fw = await world.addHost('fw1', ns as string);
        const first = await world.repo.commit({ '10-base': 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n' });
        // What ProtectSystem=strict does to a repository not in ReadWritePaths: a read-only bind mount,
        // here in a mount namespace of its own; INVOCATION_ID is what systemd sets for a unit.
        const bare = world.repo.bare;
        const script = `mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"`;
        const r = await inPrivateMounts(script, [bare, process.execPath, CLI, 'sync', '--config', fw.config, '--log-format', 'json'], {
          PATH: SYSTEM_PATH,
          LC_ALL: 'C',
          INVOCATION_ID: '0b3c5e0d6f8a4a8e9c1d2e3f4a5b6c7d',
        });
        const entries = logEntries(String(r.stdout));
        t.true(
          entries.some((e) => e.event === 'applied' && e['commit'] === first),
          String(r.stdout) + String(r.stderr),
        );
        const failed = entries.find((e) => e.event === 'tag-failed');
        t.regex(
          failed?.message ?? '',
          new RegExp(`cannot write the status tag into ${bare}: .*add ReadWritePaths=${bare} with systemctl edit nfgit`),
        );
      });
    } finally {
      await world.server.stop();
    }
  });
});
