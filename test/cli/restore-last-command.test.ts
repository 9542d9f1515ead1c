import test from 'ava';
import { execa } from 'execa';
import { chmodSync } from 'node:fs';
import path from 'node:path';
import { CLI } from '../helpers/paths.js';
import { SYSTEM_PATH } from '../apply/helpers/netns-apply.js';
import { withTempDir } from '../git/signing/tools.js';

test('restore-last as a user that is not root: an environment error (exit 3) saying to run it as root, not a bug (70)', async (t) => {
  await withTempDir('restore-nobody', async (dir) => {
    chmodSync(dir, 0o755);
    for (const stateDir of ['/var/lib/nfgit', path.join(dir, 'state')]) {
      const r = await execa(
        'setpriv',
        ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, CLI, 'restore-last', '--state-dir', stateDir],
        {
          env: { PATH: SYSTEM_PATH, LC_ALL: 'C' },
          extendEnv: false,
          reject: false,
        },
      );
      t.is(r.exitCode, 3, r.stderr);
      t.regex(
        r.stderr,
        new RegExp(
          `^nfgit: restore-last loads the firewall from the state directory ${stateDir}, which only root may do: run it as root \\(sudo nfgit restore-last\\); this process runs as uid \\d+$`,
        ),
      );
    }
  });
});
