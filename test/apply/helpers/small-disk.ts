/**
 * A small tmpfs for a state directory that fills up: mounted on a fresh temporary directory and
 * unmounted (then removed) on every path, so a test can run nfgit against a disk with exactly the free
 * space it wants.
 */
import { execa } from 'execa';
import { statfsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Mounts a tmpfs of `sizeKiB` (mode 0700) on a temporary directory, runs `fn` with it, and always unmounts it. */
export async function withSmallDisk<T>(sizeKiB: number, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'nfgit-smalldisk-'));
  let mounted = false;
  try {
    await execa('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0700`, 'tmpfs', dir]);
    mounted = true;
    return await fn(dir);
  } finally {
    if (mounted)
      await execa('umount', [dir], { reject: false }).then((r) => (r.exitCode === 0 ? r : execa('umount', ['-l', dir], { reject: false })));
    await rm(dir, { recursive: true, force: true });
  }
}

/** Free bytes on the file system holding `dir`. */
export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/** Fills the file system holding `dir` with a file `filler` so that `leaveBytes` (rounded down to pages) stay free. */
export async function fillDisk(dir: string, leaveBytes: number, name = 'filler'): Promise<string> {
  const file = path.join(dir, name);
  const grow = Math.floor((freeBytes(dir) - leaveBytes) / 4096) * 4096;
  if (grow > 0) await execa('fallocate', ['-l', String(grow), file]);
  return file;
}
