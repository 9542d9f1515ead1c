// A token file of repository.tokenFile (apart from transport.ts, so that the lean idle poll of `nfgit
// run` can check it without loading the HTTP client).

import { readFileSync } from 'node:fs';
import { UsageError } from '../errors/errors.js';

/** Credentials for HTTPS: basic authentication with the token as the password. */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/**
 * Reads a token file: one line, either `TOKEN` (sent with the user name `nfgit`, which GitHub, GitLab
 * project tokens and Gitea accept) or `USER:TOKEN`. A UsageError says what to fix.
 */
export function readTokenFile(file: string): Credentials {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new UsageError(`cannot read the token file ${file} (repository.tokenFile): ${why}`, { cause: err });
  }
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  if (lines.length !== 1) {
    throw new UsageError(`${file} (repository.tokenFile) must hold one line, the token (or USER:TOKEN); it has ${lines.length}`);
  }
  const line = lines[0] ?? '';
  const colon = line.indexOf(':');
  if (colon > 0) return { username: line.slice(0, colon), password: line.slice(colon + 1) };
  return { username: 'nfgit', password: line };
}
