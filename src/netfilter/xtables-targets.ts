import { readdir } from 'node:fs/promises';

const XTABLES_DIRS = [
  '/usr/lib/x86_64-linux-gnu/xtables',
  '/usr/lib/aarch64-linux-gnu/xtables',
  '/usr/lib/xtables',
  '/usr/lib64/xtables',
  '/usr/local/lib/xtables',
];

/**
 * Target extensions installed on this host (`libxt_NAME.so`, `libipt_`, `libip6t_`, upper-case names),
 * so that `-j NAME` for a third-party target is not mistaken for a jump to a missing chain.
 */
export async function installedTargets(): Promise<Set<string>> {
  const dirs = process.env['XTABLES_LIBDIR']?.split(':') ?? XTABLES_DIRS;
  const found = new Set<string>();
  for (const dir of dirs) {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      const m = /^lib(?:xt|ipt|ip6t)_([A-Z][A-Z0-9_-]*)\.so$/.exec(n);
      if (m?.[1] !== undefined) found.add(m[1]);
    }
  }
  return found;
}
