// `mkdir -p` that cannot hang. Node's own recursive mkdir (fs.mkdir with { recursive: true }, sync or
// not) loops forever on a path under /proc, where mkdir fails with ENOENT although the parent exists
// (seen with Node 20: `nfgit keygen --key /proc/x/key` spun at full CPU). These walk up to the first
// directory that exists, then make the missing ones one level at a time, so any error is thrown.
import { existsSync, mkdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

/** The directories of `dir` that do not exist yet, outermost first. */
function missing(dir: string): string[] {
  const out: string[] = [];
  let cur = path.resolve(dir);
  while (!existsSync(cur)) {
    out.push(cur);
    const up = path.dirname(cur);
    if (up === cur) break;
    cur = up;
  }
  return out.reverse();
}

const exists = (err: unknown): boolean => (err as NodeJS.ErrnoException).code === 'EEXIST';

/** Makes `dir` and its missing parents (each with `mode`, as mkdir -p -m would for the last). */
export function makeDirsSync(dir: string, mode?: number): void {
  for (const d of missing(dir)) {
    try {
      mkdirSync(d, mode === undefined ? undefined : { mode });
    } catch (err) {
      if (!exists(err)) throw err;
    }
  }
}

/** The same, asynchronously. */
export async function makeDirs(dir: string, mode?: number): Promise<void> {
  for (const d of missing(dir)) {
    try {
      await mkdir(d, mode === undefined ? undefined : { mode });
    } catch (err) {
      if (!exists(err)) throw err;
    }
  }
}
