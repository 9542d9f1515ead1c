import { chmod, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Makes a directory of stand-in tools to put first on PATH: each entry is a shell script body, or
 * `{ link: TARGET }` for a symlink. Removed on every path.
 */
export async function withToolDir<T>(tools: Record<string, string | { link: string }>, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'nfgit-tools-'));
  try {
    for (const [name, tool] of Object.entries(tools)) {
      const file = path.join(dir, name);
      if (typeof tool === 'string') {
        await writeFile(file, `#!/bin/sh\n${tool}`);
        await chmod(file, 0o755);
      } else {
        await symlink(tool.link, file);
      }
    }
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
