// Refs of a local repository under a prefix, read once: packed-refs and the loose refs beside it (a
// loose ref wins). isomorphic-git's resolveRef re-reads packed-refs for every ref, which made reading a
// fleet's status refs quadratic.

import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';

const OID = /^[0-9a-f]{40}$/;

function missing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** The directory that holds a repository's shared refs: a linked worktree's common directory (its `commondir` file), else gitdir. */
async function commonDir(gitdir: string): Promise<string> {
  try {
    return path.resolve(gitdir, (await readFile(path.join(gitdir, 'commondir'), 'utf8')).trim());
  } catch (err) {
    if (missing(err)) return gitdir;
    throw err;
  }
}

/** Every ref that starts with prefix (for example `refs/nfgit/hosts/`): ref → oid, sorted by ref, symbolic refs left out. */
export async function readLocalRefs(gitdir: string, prefix: string): Promise<Map<string, string>> {
  const root = await commonDir(gitdir);
  const out = new Map<string, string>();
  let packed = '';
  try {
    packed = await readFile(path.join(root, 'packed-refs'), 'utf8');
  } catch (err) {
    if (!missing(err)) throw err;
  }
  for (const line of packed.split('\n')) {
    if (line.startsWith('#') || line.startsWith('^')) continue;
    const space = line.indexOf(' ');
    const oid = line.slice(0, space);
    const ref = line.slice(space + 1);
    if (OID.test(oid) && ref.startsWith(prefix)) out.set(ref, oid);
  }
  // The loose refs: under the deepest directory the prefix names.
  const dirPart = prefix.endsWith('/') ? prefix.slice(0, -1) : path.posix.dirname(prefix);
  const walk = async (rel: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(path.join(root, rel), { withFileTypes: true });
    } catch (err) {
      if (missing(err)) return;
      throw err;
    }
    for (const e of entries) {
      const ref = `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(ref);
      else if (e.isFile() && ref.startsWith(prefix) && !e.name.endsWith('.lock')) {
        // A ref deleted between the listing and the read is simply not there.
        const oid = (
          await readFile(path.join(root, ref), 'utf8').catch((err: unknown) => (missing(err) ? '' : Promise.reject(err)))
        ).trim();
        if (OID.test(oid)) out.set(ref, oid);
      }
    }
  };
  await walk(dirPart);
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
