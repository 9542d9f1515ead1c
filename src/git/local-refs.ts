// Refs of a local repository under a prefix, read once: packed-refs and the loose refs beside it (a
// loose ref wins). isomorphic-git's resolveRef re-reads packed-refs for every ref, which made reading a
// fleet's status refs quadratic.

import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';

const OID = /^[0-9a-f]{40}$/;

/** Every ref that starts with prefix (for example `refs/nfgit/hosts/`): ref → oid, symbolic refs left out. */
export async function readLocalRefs(gitdir: string, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let packed = '';
  try {
    packed = await readFile(path.join(gitdir, 'packed-refs'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
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
      entries = await readdir(path.join(gitdir, rel), { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw err;
    }
    for (const e of entries) {
      const ref = `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(ref);
      else if (e.isFile() && ref.startsWith(prefix) && !e.name.endsWith('.lock')) {
        const oid = (await readFile(path.join(gitdir, ref), 'utf8')).trim();
        if (OID.test(oid)) out.set(ref, oid);
      }
    }
  };
  await walk(dirPart);
  return out;
}
