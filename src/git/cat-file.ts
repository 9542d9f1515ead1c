// Raw commit objects read with stock git (`git cat-file --batch`), for the places isomorphic-git cannot
// read: a pre-receive hook sees the pushed objects only through git's quarantine directory, which git
// finds through the environment it gives the hook (GIT_QUARANTINE_PATH, GIT_OBJECT_DIRECTORY,
// GIT_ALTERNATE_OBJECT_DIRECTORIES; githooks(5), "pre-receive"). The child inherits that environment.

import { spawn } from 'node:child_process';
import { gitObjectId } from './object-id.js';
import { InternalError, UsageError } from '../errors/errors.js';

/** One commit as git stores it: its id and its content without the `commit SIZE\0` header. */
export interface RawCommit {
  /** The full object id git resolved the name to. */
  readonly oid: string;
  /** The name it was asked for (an id, or anything `git rev-parse` takes). */
  readonly name: string;
  readonly content: Buffer;
}

/**
 * Reads commits by name from the repository at gitDir (undefined: the one git finds from the
 * environment and the current directory). Each object is hashed again here, so what is judged is
 * proven to be the object its id names. Throws a UsageError naming every missing or non-commit name.
 */
export async function readRawCommits(names: readonly string[], gitDir: string | undefined): Promise<RawCommit[]> {
  if (names.length === 0) return [];
  const bad = names.filter((n) => n === '' || /[\n\r\0]/.test(n));
  if (bad.length > 0) throw new UsageError(`not a commit name: ${bad.map((n) => JSON.stringify(n)).join(', ')}`);
  const args = [...(gitDir === undefined ? [] : ['--git-dir', gitDir]), 'cat-file', '--batch'];
  const out = await runBatch(args, names.map((n) => n + '\n').join(''));
  const commits: RawCommit[] = [];
  const problems: string[] = [];
  let at = 0;
  for (const name of names) {
    const eol = out.indexOf(0x0a, at);
    if (eol < 0) throw new InternalError(`git cat-file --batch stopped early, at ${JSON.stringify(name)}`);
    const header = out.subarray(at, eol).toString('utf8');
    at = eol + 1;
    const m = /^([0-9a-f]{40}|[0-9a-f]{64}) (\S+) (\d+)$/.exec(header);
    if (m === null) {
      // `NAME missing` or `NAME ambiguous`: no object follows.
      problems.push(`${name}: no such commit in the repository (git cat-file: ${header})`);
      continue;
    }
    const [, oid, type, size] = m as unknown as [string, string, string, string];
    const content = out.subarray(at, at + Number(size));
    at += Number(size) + 1; // the object, then a newline
    if (type !== 'commit') {
      problems.push(`${name}: is a ${type}, not a commit`);
      continue;
    }
    const hashed = gitObjectId('commit', content, oid.length === 64 ? 'sha256' : 'sha1');
    if (hashed !== oid)
      throw new UsageError(`${name}: the object stored as ${oid} hashes to ${hashed}: the repository is corrupt (git fsck)`);
    commits.push({ oid, name, content: Buffer.from(content) });
  }
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  return commits;
}

/** Runs git with input, returns its whole stdout; a UsageError when it fails (not a repository). */
function runBatch(args: readonly string[], input: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {}); // git may exit (not a repository) before reading it all
    child.stdin.end(input);
    child.on('error', (e) => reject(new UsageError(`cannot run git: ${e.message}`, { cause: e })));
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new UsageError(`git ${args.join(' ')} failed (exit ${String(code)}): ${Buffer.concat(err).toString('utf8').trim()}`));
    });
  });
}
