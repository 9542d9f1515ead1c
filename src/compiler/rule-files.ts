import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { NfgitError } from './errors.js';

/** Names run-parts would run: letters, digits, `.`, `_`, `-`; nfgit also skips dot files. */
const RULE_FILE_NAME = /^[.a-zA-Z0-9_-]+$/;

/** Whether a directory entry name is a rule file name (so `10-web~` and `.x.swp` are not). */
export function isRuleFileName(name: string): boolean {
  return RULE_FILE_NAME.test(name) && !name.startsWith('.');
}

/** Sorts names bytewise, as the C locale does. */
export function sortBytewise(names: readonly string[]): string[] {
  return [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** The rule files of a directory: regular files with rule file names, in bytewise order, as absolute paths. */
export async function listRuleFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    const st = await lstat(dir);
    if (!st.isDirectory()) throw new NfgitError('UsageError', `${dir} is not a directory; --rules needs the directory that holds the rule files`);
    names = await readdir(dir);
  } catch (err) {
    if (err instanceof NfgitError) throw err;
    throw new NfgitError('UsageError', `cannot read the rules directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const abs = path.resolve(dir);
  const files: string[] = [];
  for (const name of sortBytewise(names.filter(isRuleFileName))) {
    const st = await lstat(path.join(abs, name));
    if (st.isFile()) files.push(path.join(abs, name));
  }
  if (files.length === 0) {
    throw new NfgitError('UsageError', `no rule files in ${dir}: rule files are regular files named with letters, digits, ".", "_" and "-" (not starting with ".")`);
  }
  return files;
}
