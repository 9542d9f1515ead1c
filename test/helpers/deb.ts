// The Debian package, built by `npm run package` (packaging/build-deb.sh). Builds from several test
// files (ava runs them in parallel) share .build/: a lock serialises them, and each caller gets its
// own copy of the .deb, taken under the lock, so that a later build cannot replace it while in use.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { ROOT } from './paths.js';

/** Builds the package; returns the path of a private copy of it, in a new directory of its own (remove it). */
export async function buildDeb(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'nfgit-t-deb-'));
  const r = await execa(
    'flock',
    [
      path.join(tmpdir(), 'nfgit-build-deb.lock'),
      'sh',
      '-c',
      'deb=$(npm run -s package | tail -n 1) && [ -f "$deb" ] && cp "$deb" "$1/" && echo "$1/${deb##*/}"',
      'sh',
      dir,
    ],
    { cwd: ROOT, reject: false, all: true },
  );
  if (r.exitCode !== 0) throw new Error(`npm run package failed:\n${r.all}`);
  return r.stdout.trim().split('\n').at(-1) ?? '';
}
