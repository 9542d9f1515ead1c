import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { NfgitError, UsageError } from '../errors/errors.js';

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

/** The file of a rules directory that lists, one glob a line, files kept beside the rule files but not run. */
export const IGNORE_FILE = '.nfgitignore';

/**
 * Turns `.nfgitignore` text into a test of file names: one pattern a line (`*`, `?` and `[…]` as in the
 * shell, matched against the whole name), blank lines and `#` comments skipped.
 */
export function ignorePatterns(text: string): (name: string) => boolean {
  const res: RegExp[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    let re = '';
    for (let i = 0; i < line.length; i++) {
      const c = line[i] as string;
      if (c === '*') re += '.*';
      else if (c === '?') re += '.';
      else if (c === '[') {
        const end = line.indexOf(']', i + 2);
        if (end < 0) re += '\\[';
        else {
          const body = line.slice(i + 1, end);
          re += `[${body.startsWith('!') ? '^' + body.slice(1) : body}]`;
          i = end;
        }
      } else re += c.replace(/[.+^${}()|\\/]/g, '\\$&');
    }
    res.push(new RegExp(`^${re}$`));
  }
  return (name) => res.some((r) => r.test(name));
}

/**
 * The rule files of a directory: regular files with rule file names, in bytewise order, as absolute
 * paths, less those its `.nfgitignore` names (data files kept beside the rule files).
 */
export async function listRuleFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    const st = await lstat(dir);
    if (!st.isDirectory()) throw new UsageError(`${dir} is not a directory; --rules needs the directory that holds the rule files`);
    names = await readdir(dir);
  } catch (err) {
    if (err instanceof NfgitError) throw err;
    throw new UsageError(`cannot read the rules directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const abs = path.resolve(dir);
  let ignored = (_name: string): boolean => false;
  if (names.includes(IGNORE_FILE)) {
    try {
      ignored = ignorePatterns(await readFile(path.join(abs, IGNORE_FILE), 'utf8'));
    } catch (err) {
      throw new UsageError(`cannot read ${path.join(dir, IGNORE_FILE)}: ${(err as Error).message}`, { cause: err });
    }
  }
  const files: string[] = [];
  for (const name of sortBytewise(names.filter((n) => isRuleFileName(n) && !ignored(n)))) {
    const st = await lstat(path.join(abs, name));
    if (st.isFile()) files.push(path.join(abs, name));
  }
  if (files.length === 0) {
    throw new UsageError(
      `no rule files in ${dir}: rule files are regular files named with letters, digits, ".", "_" and "-" (not starting with "."), and not named in ${IGNORE_FILE}`,
    );
  }
  return files;
}
