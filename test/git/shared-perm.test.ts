import test from 'ava';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseSharedRepository, PERM_EVERYBODY, PERM_GROUP, PERM_UMASK, sharedWrites } from '../../src/git/shared-perm.js';
import { mustRun, withTempDir } from './signing/tools.js';

const parses = test.macro({
  exec(t, value: string | boolean | null, expected: number | RegExp) {
    const got = parseSharedRepository(value);
    if (expected instanceof RegExp) t.regex(typeof got === 'number' ? String(got) : got.problem, expected);
    else t.is(got, expected);
  },
  title: (_, value) => `core.sharedRepository ${JSON.stringify(value)}`,
});

test(parses, null, PERM_UMASK);
test(parses, 'umask', PERM_UMASK);
test(parses, 'false', PERM_UMASK);
test(parses, 'Off', PERM_UMASK);
test(parses, '0', PERM_UMASK);
test(parses, true, PERM_GROUP);
test(parses, 'true', PERM_GROUP);
test(parses, 'group', PERM_GROUP);
test(parses, '1', PERM_GROUP);
test(parses, 'yes', PERM_GROUP);
test(parses, 'all', PERM_EVERYBODY);
test(parses, 'world', PERM_EVERYBODY);
test(parses, 'everybody', PERM_EVERYBODY);
test(parses, '2', PERM_EVERYBODY);
test(parses, '0640', -0o640);
test(parses, '0777', -0o666);
test(parses, '0440', /owner of files must always have read and write/);
test(parses, 'groups', /"groups", which git does not understand/);

const octal = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0');

// The oracle: git itself, under the same umask, in a repository made with each --shared value. What
// nfgit writes (seeing only the configuration and objects/) must get the modes git's own writes get.
const likeGit = test.macro({
  async exec(t, shared: string | null, umask: string) {
    await withTempDir('shared-perm', async (dir) => {
      const bare = path.join(dir, 'r.git');
      const inUmask = (cmd: string): Promise<string> => mustRun('sh', ['-c', `umask ${umask} && ${cmd}`, 'sh', bare]);
      await inUmask(`git init -q --bare ${shared === null ? '' : `--shared=${shared}`} "$1"`);
      const oid = (await inUmask('echo nfgit | git --git-dir "$1" hash-object -w --stdin')).trim();
      await inUmask(`git --git-dir "$1" update-ref refs/tags/nfgit/fw1/x ${oid}`);
      const value = /sharedrepository = (\S+)/.exec(readFileSync(path.join(bare, 'config'), 'utf8'))?.[1] ?? null;
      const perm = parseSharedRepository(value);
      if (typeof perm !== 'number') return t.fail(perm.problem);
      const writes = sharedWrites(perm, statSync(path.join(bare, 'objects')));
      const mode = (p: string): string => octal(statSync(path.join(bare, p)).mode);
      t.deepEqual(
        {
          dir: octal(writes.dirMode),
          refsDir: octal(writes.dirMode),
          object: octal(writes.fileMode(true)),
          ref: octal(writes.fileMode(false)),
        },
        {
          dir: mode(`objects/${oid.slice(0, 2)}`),
          refsDir: mode('refs/tags/nfgit/fw1'),
          object: mode(`objects/${oid.slice(0, 2)}/${oid.slice(2)}`),
          ref: mode('refs/tags/nfgit/fw1/x'),
        },
      );
    });
  },
  title: (_, shared, umask) => `modes as git's own under umask ${umask} with --shared=${shared ?? '(unset)'}`,
});

for (const umask of ['022', '077', '007']) {
  for (const shared of [null, 'umask', 'group', 'all', '0640', '0660', '0600', '0664']) test(likeGit, shared, umask);
}
