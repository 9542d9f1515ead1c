// Writing into a local repository that other users serve (a bare repository of a `git` user, shared
// with a group): what nfgit writes there (status tag objects and refs) must be readable and writable
// by them as if they had written it, whatever nfgit's own umask (077 under systemd). Otherwise the
// root-only files break their `git clone` and their next push into a root-owned objects/xx/.
//
// isomorphic-git takes the file system as a parameter, so its writes go through this one: every file
// is made under a temporary name with O_EXCL|O_NOFOLLOW, given its owner and mode through the open
// descriptor, then renamed into place, and every directory is fixed through a descriptor opened with
// O_NOFOLLOW. The users who own the repository can change it at any time: a path-based chown or chmod
// by root could be sent through a symbolic or hard link they planted to a file of root's.

import { randomBytes } from 'node:crypto';
import fs, { constants, mkdirSync } from 'node:fs';
import { open, rename, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import git, { type PromiseFsClient } from 'isomorphic-git';
import { SandboxError, UsageError } from '../errors/errors.js';
import { parseSharedRepository, sharedWrites, type SharedWrites } from './shared-perm.js';

/** How nfgit writes into the repository at gitdir: from its core.sharedRepository and its objects/ directory. */
export async function repositoryWrites(gitdir: string): Promise<SharedWrites> {
  const value = (await git.getConfig({ fs, gitdir, path: 'core.sharedRepository' })) as unknown;
  const perm = parseSharedRepository(typeof value === 'string' || typeof value === 'boolean' ? value : null);
  if (typeof perm !== 'number') throw new UsageError(`${path.join(gitdir, 'config')}: ${perm.problem}: fix it with git config`);
  const objects = await stat(path.join(gitdir, 'objects'));
  return sharedWrites(perm, objects);
}

/**
 * What to do when the kernel will not let nfgit give a file the repository's owner, group or mode:
 * under nfgit.service (no CAP_CHOWN, CAP_FOWNER or CAP_FSETID) root may only give its files a group it
 * is in, and keeps a set-group-ID bit only for such a group.
 */
function notTheirs(file: string, writes: SharedWrites, what: string, cause?: unknown): SandboxError {
  return new SandboxError(
    `cannot give ${file} ${what} of the repository's objects/ directory (${writes.uid === null ? '' : `user ${writes.uid}, `}group ${writes.gid}): nfgit must be in that group ` +
      `(systemctl edit nfgit: SupplementaryGroups=, with the repository made group-writable: git init --bare --shared=group, chgrp -R)`,
    { cause },
  );
}

/** Gives an open file or directory its owner and mode; each changed only when it differs (a no-op change may be refused too). */
async function settle(handle: FileHandle, writes: SharedWrites, mode: number, file: string): Promise<void> {
  let st = await handle.stat();
  const uid = writes.uid ?? st.uid;
  if (st.uid !== uid || st.gid !== writes.gid) {
    try {
      await handle.chown(uid, writes.gid);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EPERM') throw notTheirs(file, writes, 'the owner and group', err);
      throw err;
    }
    st = await handle.stat();
  }
  // After the chown, which clears the set-group-ID bit.
  if ((st.mode & 0o7777) === mode) return;
  try {
    await handle.chmod(mode);
  } catch (err) {
    // RestrictSUIDSGID=yes (nfgit.service) refuses a chmod that names the set-group-ID bit.
    if ((err as NodeJS.ErrnoException).code === 'EPERM') throw notTheirs(file, writes, `the mode ${mode.toString(8)} like the rest`, err);
    throw err;
  }
  // The kernel drops a set-group-ID bit it does not allow without a word.
  if (((await handle.stat()).mode & 0o7777) !== mode) throw notTheirs(file, writes, `the mode ${mode.toString(8)} like the rest`);
}

/** Whether a path in the repository is a loose object (git makes them read-only). */
function isLooseObject(file: string): boolean {
  return /(^|\/)objects\/[0-9a-f]{2}\/[0-9a-f]{38,62}$/.test(file);
}

type WriteData = string | Uint8Array;
type WriteOptions = { encoding?: BufferEncoding | null; mode?: number } | BufferEncoding | undefined;

/**
 * Writes file as described on top: a temporary file settled through its descriptor, then renamed over
 * the name. The temporary file is at the top of gitdir (the same file system), where git ignores what
 * it does not know: one left by a crash inside refs/ would read as a ref.
 */
async function writeShared(writes: SharedWrites, gitdir: string, file: string, data: WriteData, options: WriteOptions): Promise<void> {
  const tmp = path.join(gitdir, `nfgit-tmp-${randomBytes(8).toString('hex')}`);
  const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    try {
      await settle(handle, writes, writes.fileMode(isLooseObject(file)), file);
      const encoding = typeof options === 'string' ? options : (options?.encoding ?? 'utf8');
      await handle.writeFile(data, typeof data === 'string' ? { encoding } : {});
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Makes one directory (as isomorphic-git asks, one level at a time) and settles it. */
async function mkdirShared(writes: SharedWrites, dir: string): Promise<void> {
  // Made with its final permission bits under a matching umask, so that no chmod is needed: the
  // set-group-ID bit comes from the parent (git's shared directories have it), and under
  // nfgit.service (RestrictSUIDSGID=yes) a chmod that names that bit is refused (EPERM). The umask is
  // the process's: it is set and put back with no await in between, so nothing else runs under it.
  const old = process.umask(~writes.dirMode & 0o777);
  try {
    mkdirSync(dir, writes.dirMode & 0o777);
  } finally {
    process.umask(old);
  }
  try {
    const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    try {
      await settle(handle, writes, writes.dirMode, dir);
    } finally {
      await handle.close();
    }
  } catch (err) {
    // Not left half made: the next write would take it as it is.
    await rmdir(dir).catch(() => undefined);
    throw err;
  }
}

/**
 * A file system for isomorphic-git's writes into the repository at gitdir that gives what it makes
 * the owner, group and mode the repository's users expect (see repositoryWrites).
 */
export async function sharedRepositoryFs(gitdir: string): Promise<PromiseFsClient> {
  const writes = await repositoryWrites(gitdir);
  const promises = {
    ...fs.promises,
    writeFile: (file: string, data: WriteData, options?: WriteOptions) => writeShared(writes, gitdir, file, data, options),
    mkdir: (dir: string) => mkdirShared(writes, dir),
  };
  // isomorphic-git takes a client's promises only when the property is enumerable.
  return { promises } as unknown as PromiseFsClient;
}
