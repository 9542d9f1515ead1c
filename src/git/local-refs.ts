// The refs of a local repository under one prefix, read in one pass: packed-refs once, then the loose
// refs under the prefix's directory (a loose ref wins, as in git). isomorphic-git's resolveRef reads
// packed-refs again for every ref, which made reading a fleet's status tags quadratic (issue 14).

import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { InternalError } from '../errors/errors.js';

function missing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** The directory that holds a repository's refs: the common directory of a linked worktree, else gitdir. */
async function commonDir(gitdir: string): Promise<string> {
  try {
    const rel = (await readFile(path.join(gitdir, 'commondir'), 'utf8')).trim();
    return path.resolve(gitdir, rel);
  } catch (err) {
    if (missing(err)) return gitdir;
    throw err;
  }
}

/** The packed refs under prefix: ref → oid (peeled `^` lines skipped: the ref names the tag object). */
function packedRefs(text: string, prefix: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{40}|[0-9a-f]{64}) (\S+)$/.exec(line);
    if (m !== null && (m[2] as string).startsWith(prefix)) out.set(m[2] as string, m[1] as string);
  }
  return out;
}

/** Loose refs below dir (for ref names starting with base), oid read from each file; symbolic refs skipped. */
async function looseRefs(dir: string, base: string, out: Map<string, string>): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (missing(err)) return;
    throw err;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await looseRefs(p, `${base}${e.name}/`, out);
    else if (e.isFile() && !e.name.endsWith('.lock')) {
      const value = (await readFile(p, 'utf8').catch((err: unknown) => (missing(err) ? '' : Promise.reject(err)))).trim();
      if (/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(value)) out.set(`${base}${e.name}`, value);
    }
  }
}

/**
 * Every ref whose name starts with prefix (which ends with `/`, like `refs/nfgit/hosts/`): ref → oid,
 * sorted by name. One read of packed-refs, one directory walk.
 */
export async function readLocalRefs(gitdir: string, prefix: string): Promise<Map<string, string>> {
  if (!prefix.startsWith('refs/') || !prefix.endsWith('/')) throw new InternalError(`readLocalRefs: "${prefix}" is not a ref directory`);
  const common = await commonDir(gitdir);
  let packed = '';
  try {
    packed = await readFile(path.join(common, 'packed-refs'), 'utf8');
  } catch (err) {
    if (!missing(err)) throw err;
  }
  const refs = packedRefs(packed, prefix);
  await looseRefs(path.join(common, ...prefix.split('/').filter((s) => s !== '')), prefix, refs);
  return new Map([...refs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
