// Bug 4 of issue 13: nfgit.service runs with UMask=0077, so the status tags it wrote into a local bare
// repository that a `git` user serves were root's alone, and that user's `git clone` failed. Real
// users, real git, the umask of the service.
import test from 'ava';
import { chmodSync, existsSync, lstatSync, readdirSync, rmSync, writeFileSync, type Stats } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeStatusTag } from '../../src/git/status-tags.js';
import { hostKey } from '../helpers/host-key.js';
import { appliedRecord } from './helpers/status-record.js';
import { makeRulesRepo } from '../helpers/rules-repo.js';
import { withSystemUser, type SystemUser } from '../helpers/system-user.js';
import { mustRun, runTool, withTempDir } from './signing/tools.js';

/** Every path under dir with its lstat, dir first. */
function walk(dir: string): Array<[string, Stats]> {
  const out: Array<[string, Stats]> = [[dir, lstatSync(dir)]];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = lstatSync(p);
    if (st.isDirectory()) out.push(...walk(p));
    else out.push([p, st]);
  }
  return out;
}

/** The paths under dir that did not exist in before. */
function added(dir: string, before: ReadonlyArray<[string, Stats]>): Array<[string, Stats]> {
  const known = new Set(before.map(([p]) => p));
  return walk(dir).filter(([p]) => !known.has(p));
}

/**
 * The group test's repository is root's, as one set up for a team by an administrator: git refuses a
 * repository owned by another user unless its global configuration says it is safe (the command line's
 * `-c` does not reach the upload-pack of a local clone).
 */
function safeConfig(dir: string): { env: Record<string, string> } {
  const file = path.join(dir, 'gitconfig-safe');
  writeFileSync(file, '[safe]\n\tdirectory = *\n', { mode: 0o644 });
  return { env: { GIT_CONFIG_GLOBAL: file } };
}

const octal = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0');

/** Writes fw1's status tag into bare as nfgit.service would: as root, under its umask of 077. */
async function writeAsService(dir: string, bare: string, commit: string): Promise<string> {
  const signers = path.join(dir, 'allowed_signers');
  writeFileSync(signers, '');
  const key = hostKey(dir, 'fw1', signers);
  const old = process.umask(0o077);
  try {
    return (await writeStatusTag({ gitdir: bare, remote: null, record: appliedRecord(commit), key, keep: 1 })).name;
  } finally {
    process.umask(old);
  }
}

/** Clones bare as user into dir/clone-NAME and returns the tags the clone got. */
async function cloneAs(user: SystemUser, dir: string, bare: string): Promise<{ code: number | null; stderr: string; tags: string }> {
  const home = path.join(dir, `home-${user.name}`);
  await mustRun('install', ['-d', '-o', String(user.uid), '-g', String(user.gid), home]);
  // --no-local: read objects as a server's upload-pack does, not by linking files.
  const clone = await user.run('git', ['clone', '-q', '--bare', '--no-local', bare, path.join(home, 'clone.git')], {
    cwd: home,
    ...safeConfig(dir),
  });
  if (clone.code !== 0) return { code: clone.code, stderr: clone.stderr, tags: '' };
  const tags = await user.run('git', ['--git-dir', path.join(home, 'clone.git'), 'tag', '-l', 'nfgit/*'], {
    cwd: home,
    ...safeConfig(dir),
  });
  return { code: tags.code, stderr: tags.stderr, tags: tags.stdout.toString().trim() };
}

test.serial(
  'a repository shared with a group (git init --shared=group): the status tag written under umask 077 is the group’s to read and write',
  async (t) => {
    await withTempDir('shared-group', async (dir) => {
      chmodSync(dir, 0o755);
      await withSystemUser('nfgit-shr', async (user) => {
        const repo = await makeRulesRepo(dir);
        const commit = await repo.commit({ '10-base': 'iptables -P INPUT ACCEPT\n' });
        // Made by root under the usual umask 022 and handed to the group, as an administrator sets up a
        // repository for a team: git then makes directories 2775, loose objects 0444 and refs 0664.
        const bare = path.join(dir, 'shared.git');
        await mustRun('sh', ['-c', 'umask 022 && exec git init -q --bare --shared=group -b main "$0"', bare]);
        await repo.git(['push', '-q', bare, 'HEAD:refs/heads/main']);
        await mustRun('chgrp', ['-R', String(user.gid), bare]);
        const before = walk(bare);

        const name = await writeAsService(dir, bare, commit);

        const clone = await cloneAs(user, dir, bare);
        t.is(clone.code, 0, clone.stderr);
        t.is(clone.tags, name);
        const made = added(bare, before);
        t.true(made.length >= 4, 'a tag object, its directory, the tag ref and its directories');
        t.deepEqual(
          made.filter(([p]) => p.includes('nfgit-tmp')),
          [],
          'no temporary file is left',
        );
        for (const [p, st] of made) {
          const rel = path.relative(bare, p);
          t.is(st.gid, user.gid, `${rel} belongs to the repository's group`);
          if (st.isDirectory()) t.is(octal(st.mode), '2775', `${rel}: group rwx and set-group-ID, as git makes them`);
          else if (rel.startsWith('objects/')) t.is(octal(st.mode), '0444', `${rel}: a loose object, read-only as git makes them`);
          else t.is(octal(st.mode), '0664', `${rel}: a ref, group-writable`);
        }
        // The group can still manage what nfgit wrote: move its ref, and pack and prune its loose objects.
        const moved = await user.run('git', ['--git-dir', bare, 'update-ref', `refs/tags/${name}`, commit], {
          cwd: bare,
          ...safeConfig(dir),
        });
        t.is(moved.code, 0, moved.stderr);
        const gc = await user.run('git', ['--git-dir', bare, 'gc', '-q', '--prune=now'], { cwd: bare, ...safeConfig(dir) });
        t.is(gc.code, 0, gc.stderr);
        t.deepEqual(
          added(bare, before).filter(([p]) => /objects\/[0-9a-f]{2}\/./.test(p)),
          [],
          'no loose object is left that the group could not remove',
        );
      });
    });
  },
);

test.serial(
  'a repository of one user, sharing unset: what nfgit writes is that user’s, with the modes of its objects/ directory',
  async (t) => {
    await withTempDir('shared-owner', async (dir) => {
      chmodSync(dir, 0o755);
      await withSystemUser('nfgit-own', async (user) => {
        const repo = await makeRulesRepo(dir);
        const commit = await repo.commit({ '10-base': 'iptables -P INPUT ACCEPT\n' });
        const bare = path.join(dir, 'own.git');
        await mustRun('git', ['init', '-q', '--bare', '-b', 'main', bare]);
        await repo.git(['push', '-q', bare, 'HEAD:refs/heads/main']);
        await mustRun('chown', ['-R', `${user.uid}:${user.gid}`, bare]);
        const objectsMode = octal(lstatSync(path.join(bare, 'objects')).mode);
        const before = walk(bare);

        const name = await writeAsService(dir, bare, commit);

        const clone = await cloneAs(user, dir, bare);
        t.is(clone.code, 0, clone.stderr);
        t.is(clone.tags, name);
        for (const [p, st] of added(bare, before)) {
          const rel = path.relative(bare, p);
          t.deepEqual([st.uid, st.gid], [user.uid, user.gid], `${rel} belongs to the repository's owner`);
          if (st.isDirectory()) t.is(octal(st.mode), objectsMode, `${rel}: as objects/`);
        }
        const gc = await user.run('git', ['--git-dir', bare, 'gc', '-q', '--prune=now'], { cwd: bare, ...safeConfig(dir) });
        t.is(gc.code, 0, gc.stderr);
      });
    });
  },
);

test.serial('a core.sharedRepository that git refuses is refused with the file to fix, before anything is written', async (t) => {
  await withTempDir('shared-bad', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const commit = await repo.commit({ '10-base': 'iptables -P INPUT ACCEPT\n' });
    await mustRun('git', ['--git-dir', repo.bare, 'config', 'core.sharedRepository', '0440']);
    const before = walk(repo.bare);
    const err = await t.throwsAsync(writeAsService(dir, repo.bare, commit));
    t.is(
      err?.message,
      `${repo.bare}/config: core.sharedRepository is 0440, but the owner of files must always have read and write permissions: fix it with git config`,
    );
    t.deepEqual(added(repo.bare, before), []);
  });
});

/** The capabilities nfgit.service keeps (CapabilityBoundingSet=): no CAP_CHOWN, CAP_FOWNER, CAP_FSETID or CAP_DAC_OVERRIDE. */
const SERVICE_CAPS = '-all,+net_admin,+net_raw,+sys_admin';
const WRITER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'helpers', 'write-status-tag.js');

/** Writes fw1's status tag as root with only nfgit.service's capabilities, in the groups given (SupplementaryGroups=). */
async function writeAsHardenedService(
  dir: string,
  bare: string,
  commit: string,
  groups: readonly number[],
): Promise<{ name?: string; code?: string; message?: string }> {
  const key = path.join(dir, 'fw1.key');
  if (!existsSync(key)) {
    const signers = path.join(dir, 'allowed_signers');
    writeFileSync(signers, '');
    hostKey(dir, 'fw1', signers);
  }
  const r = await runTool('setpriv', [
    `--bounding-set=${SERVICE_CAPS}`,
    '--inh-caps=-all',
    groups.length === 0 ? '--clear-groups' : `--groups=${groups.join(',')}`,
    '--',
    process.execPath,
    WRITER,
    bare,
    key,
    commit,
  ]);
  if (r.code !== 0) throw new Error(`the writer failed: ${r.stderr}`);
  return JSON.parse(r.stdout.toString()) as { name?: string; code?: string; message?: string };
}

test.serial(
  'under nfgit.service’s capabilities (no CAP_CHOWN, CAP_FSETID, CAP_DAC_OVERRIDE): in the repository’s group, the tag is the group’s; outside it, a clear error',
  async (t) => {
    await withTempDir('shared-service', async (dir) => {
      chmodSync(dir, 0o755);
      await withSystemUser('nfgit-svc', async (user) => {
        const repo = await makeRulesRepo(dir);
        const commit = await repo.commit({ '10-base': 'iptables -P INPUT ACCEPT\n' });
        // Others get nothing here (umask 007): only the group can read, so the group is what must be right.
        const bare = path.join(dir, 'team.git');
        await mustRun('sh', ['-c', 'umask 007 && exec git init -q --bare --shared=group -b main "$0"', bare]);
        await repo.git(['push', '-q', bare, 'HEAD:refs/heads/main']);
        await mustRun('chgrp', ['-R', String(user.gid), bare]);
        const before = walk(bare);

        // Outside the group, with set-group-ID directories: what nfgit makes inherits the group (the owner
        // may stay nfgit's: the group may write), so the tag is the group's.
        const inherited = await writeAsHardenedService(dir, bare, commit, []);
        t.is(inherited.code, undefined, inherited.message);
        for (const [p, st] of added(bare, before)) t.is(st.gid, user.gid, `${path.relative(bare, p)} inherits the repository's group`);
        for (const [p] of added(bare, before).reverse()) rmSync(p, { recursive: true, force: true });

        // Without the set-group-ID bits (a repository chmod'ed by hand), nfgit must give the group itself,
        // which outside it the kernel refuses: a clear error, and nothing half made.
        await mustRun('sh', ['-c', 'find "$0" -type d -exec chmod g-s {} +', bare]);
        const outside = await writeAsHardenedService(dir, bare, commit, []);
        await mustRun('sh', ['-c', 'find "$0" -type d -exec chmod g+s {} +', bare]);
        t.is(outside.code, 'SandboxError');
        t.regex(outside.message ?? '', /nfgit must be in that group \(systemctl edit nfgit: SupplementaryGroups=/);
        t.deepEqual(
          added(bare, before).map(([p]) => path.relative(bare, p)),
          [],
          'nothing half made is left',
        );

        const written = await writeAsHardenedService(dir, bare, commit, [user.gid]);
        t.is(written.code, undefined, written.message);
        const clone = await cloneAs(user, dir, bare);
        t.is(clone.code, 0, clone.stderr);
        t.is(clone.tags, written.name ?? '');
        for (const [p, st] of added(bare, before)) {
          const rel = path.relative(bare, p);
          t.is(st.gid, user.gid, `${rel} belongs to the repository's group`);
          if (st.isDirectory()) t.is(octal(st.mode), '2770', `${rel}: group rwx and set-group-ID`);
        }
        const gc = await user.run('git', ['--git-dir', bare, 'gc', '-q', '--prune=now'], { cwd: bare, ...safeConfig(dir) });
        t.is(gc.code, 0, gc.stderr);
      });
    });
  },
);
