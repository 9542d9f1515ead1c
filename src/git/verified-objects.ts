// Git objects read only after they are proven to hash to their ids. isomorphic-git checks the hash
// of loose objects but returns packed ones as the pack index says (NOTES.md): whoever can write a
// repository's objects/ (a shared bare repository, the git daemon's user) could put other content
// under the ids a signed commit names, and the signature would still verify. A signature covers a
// commit's bytes, and those name the tree, which names the blobs: the chain holds only if every
// object is hashed before use. Commits and trees are parsed here from the bytes that were hashed, so
// nothing can swap them between the check and the use.

import fs from 'node:fs';
import git, { Errors } from 'isomorphic-git';
import { gitObjectId } from './object-id.js';
import { NfgitError, RuleError } from '../errors/errors.js';

/** The kinds of git objects. */
export type ObjectType = 'commit' | 'tree' | 'blob' | 'tag';

/** Where objects are read: the git directory, and its name for messages (URL or path). */
export interface ObjectSource {
  readonly gitdir: string;
  readonly name: string;
}

/**
 * An object whose content does not hash to its id. A RuleError: nothing built on the object is used
 * (the commit is refused, the tag not trusted), and retrying does not help until the repository is
 * repaired.
 */
export class CorruptObjectError extends NfgitError {
  readonly oid: string;
  readonly repository: string;
  constructor(oid: string, repository: string, detail: string, then: string) {
    super(
      'RuleError',
      `object ${oid} in ${repository} does not hash to its id${detail}: the repository is corrupt or was tampered with${then}`,
    );
    this.oid = oid;
    this.repository = repository;
  }
}

/** What a read is for: appended to a CorruptObjectError's message (`; nothing was applied`). */
export interface ReadOptions {
  readonly then?: string;
  /** isomorphic-git's cache: pass one object to the reads of one walk so pack indexes are read once. */
  readonly cache?: object;
}

/** A verified object: its type and content (without the `TYPE SIZE\0` header). */
export interface VerifiedObject {
  readonly type: ObjectType;
  readonly content: Buffer;
}

const TYPES: ReadonlySet<string> = new Set(['commit', 'tree', 'blob', 'tag']);

/** Whether an error is isomorphic-git's "no such object". */
export function isNotFound(err: unknown): boolean {
  return err instanceof Errors.NotFoundError;
}

/**
 * Reads an object and proves it: sha1 of `TYPE SIZE\0CONTENT` must be its id. A loose object comes
 * back wrapped (header included) and a packed one as type and content; both are hashed here. Throws
 * isomorphic-git's NotFoundError when the object is not there, CorruptObjectError when it is not
 * what its id says.
 */
export async function readVerifiedObject(src: ObjectSource, oid: string, options: ReadOptions = {}): Promise<VerifiedObject> {
  const then = options.then ?? '';
  const corrupt = (detail: string): CorruptObjectError => new CorruptObjectError(oid, src.name, detail, then);
  if (!/^[0-9a-f]{40}$/.test(oid)) throw new RuleError(`${JSON.stringify(oid)} in ${src.name} is not an object id (40 hex digits)${then}`);
  let read;
  try {
    read = await git.readObject({
      fs,
      gitdir: src.gitdir,
      oid,
      format: 'wrapped',
      ...(options.cache === undefined ? {} : { cache: options.cache }),
    });
  } catch (err) {
    // Missing, or the file system failing (errno codes), is not corruption; anything else thrown while
    // reading (a loose object that does not inflate, a broken pack entry) is.
    if (isNotFound(err) || typeof (err as NodeJS.ErrnoException).errno === 'number') throw err;
    throw corrupt(` (${err instanceof Error ? err.message : String(err)})`);
  }
  const object = read.object;
  if (!(object instanceof Uint8Array)) throw corrupt(' (unreadable)');
  const bytes = Buffer.from(object.buffer, object.byteOffset, object.byteLength);
  let type: string;
  let content: Buffer;
  if (read.format === 'wrapped') {
    const nul = bytes.indexOf(0);
    const header = nul < 0 ? '' : bytes.subarray(0, nul).toString('latin1');
    const m = /^([a-z]+) (0|[1-9][0-9]*)$/.exec(header);
    if (m === null) throw corrupt(' (no object header)');
    type = m[1] as string;
    content = bytes.subarray(nul + 1);
    if (Number(m[2]) !== content.length) throw corrupt(` (its header says ${m[2]} bytes, it has ${content.length})`);
  } else {
    type = (read as { type?: string }).type ?? '';
    content = bytes;
  }
  if (!TYPES.has(type)) throw corrupt(` (unknown type ${JSON.stringify(type)})`);
  const sha = gitObjectId(type, content);
  if (sha !== oid) throw corrupt(` (its ${type} content hashes to ${sha})`);
  return { type: type as ObjectType, content };
}

/** Reads an object of a known type; an object of another type is refused as the signed content never names it so. */
export async function readVerified(src: ObjectSource, oid: string, type: ObjectType, options: ReadOptions = {}): Promise<Buffer> {
  const obj = await readVerifiedObject(src, oid, options);
  if (obj.type !== type) throw new RuleError(`object ${oid} in ${src.name} is a ${obj.type}, not a ${type}${options.then ?? ''}`);
  return obj.content;
}

/** A person line of a commit: `Name <email> SECONDS ±HHMM`. */
export interface Ident {
  readonly name: string;
  readonly email: string;
  readonly time: Date;
}

/** A commit parsed from verified bytes. */
export interface VerifiedCommit {
  readonly oid: string;
  /** The raw content: what verifyCommit splits into signed payload and signature. */
  readonly raw: Buffer;
  readonly tree: string;
  readonly parents: readonly string[];
  readonly author: Ident | null;
  readonly committer: Ident | null;
  readonly message: string;
}

const IDENT = /^(.*?) ?<([^<>\n]*)> (\d+) [+-]\d{4}$/;

function ident(value: string | undefined): Ident | null {
  const m = value === undefined ? null : IDENT.exec(value);
  if (m === null) return null;
  const seconds = Number(m[3]);
  return Number.isSafeInteger(seconds) ? { name: m[1] as string, email: m[2] as string, time: new Date(seconds * 1000) } : null;
}

/** Parses a commit's content: its headers (continuation lines start with a space) and message. */
export function parseCommit(oid: string, raw: Buffer, repository: string): VerifiedCommit {
  const text = raw.toString('utf8');
  const blank = text.indexOf('\n\n');
  const head = blank < 0 ? text : text.slice(0, blank);
  const headers: Array<[string, string]> = [];
  for (const line of head.split('\n')) {
    if (line.startsWith(' ')) continue; // a continuation (gpgsig, mergetag): not needed here
    const sp = line.indexOf(' ');
    headers.push(sp < 0 ? [line, ''] : [line.slice(0, sp), line.slice(sp + 1)]);
  }
  const first = (k: string): string | undefined => headers.find(([h]) => h === k)?.[1];
  const tree = first('tree');
  if (tree === undefined || !/^[0-9a-f]{40}$/.test(tree)) throw new RuleError(`commit ${oid} in ${repository} has no valid tree line`);
  return {
    oid,
    raw,
    tree,
    parents: headers.filter(([h, v]) => h === 'parent' && /^[0-9a-f]{40}$/.test(v)).map(([, v]) => v),
    author: ident(first('author')),
    committer: ident(first('committer')),
    message: blank < 0 ? '' : text.slice(blank + 2),
  };
}

/** Reads and parses a verified commit. */
export async function readVerifiedCommit(src: ObjectSource, oid: string, options: ReadOptions = {}): Promise<VerifiedCommit> {
  return parseCommit(oid, await readVerified(src, oid, 'commit', options), src.name);
}

/** One entry of a tree. */
export interface TreeEntry {
  /** As git writes it: `100644`, `100755`, `120000`, `40000`, `160000`. */
  readonly mode: string;
  readonly path: string;
  readonly oid: string;
  readonly type: 'blob' | 'tree' | 'commit';
}

/** Parses a tree's content: entries `MODE NAME\0` followed by 20 bytes of id. */
export function parseTree(oid: string, raw: Buffer, repository: string): TreeEntry[] {
  const entries: TreeEntry[] = [];
  const malformed = (): NfgitError => new RuleError(`tree ${oid} in ${repository} is malformed`);
  for (let i = 0; i < raw.length; ) {
    const sp = raw.indexOf(0x20, i);
    const nul = sp < 0 ? -1 : raw.indexOf(0, sp);
    if (sp < 0 || nul < 0 || nul + 21 > raw.length) throw malformed();
    const mode = raw.subarray(i, sp).toString('latin1');
    const name = raw.subarray(sp + 1, nul).toString('utf8');
    if (!/^[0-7]+$/.test(mode) || name === '' || name === '.' || name === '..' || name.includes('/')) throw malformed();
    const type = mode === '40000' || mode === '040000' ? 'tree' : mode === '160000' ? 'commit' : 'blob';
    entries.push({ mode: type === 'tree' ? '40000' : mode, path: name, oid: raw.subarray(nul + 1, nul + 21).toString('hex'), type });
    i = nul + 21;
  }
  return entries;
}

/** Reads and parses a verified tree. */
export async function readVerifiedTree(src: ObjectSource, oid: string, options: ReadOptions = {}): Promise<TreeEntry[]> {
  return parseTree(oid, await readVerified(src, oid, 'tree', options), src.name);
}

/**
 * Whether `ancestor` is reachable from `descendant` through parents, every commit on the way
 * verified (a swapped commit could otherwise invent or hide an ancestry). A commit missing from the
 * repository ends that path: ancestry not proven.
 */
export async function isAncestor(src: ObjectSource, ancestor: string, descendant: string, options: ReadOptions = {}): Promise<boolean> {
  const cache = options.cache ?? {};
  const seen = new Set<string>([descendant]);
  const queue = [descendant];
  for (let next = 0; next < queue.length; next++) {
    const oid = queue[next] as string;
    let commit: VerifiedCommit;
    try {
      commit = await readVerifiedCommit(src, oid, { ...options, cache });
    } catch (err) {
      if (isNotFound(err)) continue;
      throw err;
    }
    for (const p of commit.parents) {
      if (p === ancestor) return true;
      if (!seen.has(p)) {
        seen.add(p);
        queue.push(p);
      }
    }
  }
  return false;
}
