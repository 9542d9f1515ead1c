import { chmodSync, closeSync, constants, fstatSync, lstatSync, openSync, readSync, realpathSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { SandboxError } from '../errors/errors.js';
import { CorruptStateFile } from '../errors/state-errors.js';

/**
 * The state directory decides what nfgit loads into the kernel and which host commands it runs as
 * root, so whoever can write it controls the firewall and root. As sshd's StrictModes does for
 * ~/.ssh, nfgit refuses a state directory or state file that neither root nor the running user owns,
 * or that group or others can write, and a parent directory that others could use to swap the state
 * directory (writable by group or others without the sticky bit).
 */

function uid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : 0;
}

function owner(st: Stats): string {
  return st.uid === 0 ? 'root' : `uid ${st.uid}`;
}

function whoami(): string {
  return uid() === 0 ? 'root' : `uid ${uid()}`;
}

/** A file's permission bits as chmod takes them (0755). */
function modeOf(st: Stats): string {
  return (st.mode & 0o7777).toString(8).padStart(4, '0');
}

/** Why a file or directory is not safe to trust, or undefined when it is. */
function problem(file: string, st: Stats, kind: 'state' | 'parent'): string | undefined {
  const me = uid();
  if (st.uid !== me && st.uid !== 0) {
    return `${file} is owned by ${owner(st)}, not by ${whoami()} (who runs nfgit): anyone who can write it controls the firewall. If it is yours, run: chown ${me === 0 ? 'root' : me} ${file}`;
  }
  const writable = st.mode & 0o022;
  // A sticky directory (/tmp) lets others add entries but not rename or remove ours.
  if (writable !== 0 && !(kind === 'parent' && st.isDirectory() && (st.mode & 0o1000) !== 0)) {
    const by = writable === 0o022 ? 'group and others' : writable === 0o020 ? 'its group' : 'others';
    return `${file} is writable by ${by} (mode ${modeOf(st)}): they could make nfgit load any ruleset and run any command as root. Run: chmod go-w ${file}`;
  }
  return undefined;
}

function refuse(why: string): never {
  throw new SandboxError(`refusing the state directory: ${why}`);
}

/**
 * Checks the state directory and every directory above it up to /, and tightens the directory to
 * 0700 (nfgit creates it so; an older nfgit or an admin may have left it 0755).
 */
export function checkStateDir(dir: string): void {
  checkDirs(dir, true);
}

/**
 * Checks as checkStateDir does but changes nothing: a state directory open to group or others is
 * refused, where checkStateDir tightens it (when it is ours) and goes on. For the `nfgit run` daemon's
 * idle poll (agent/lean-state.ts), which leaves such a directory to the full pass and its checkStateDir.
 */
export function checkStateDirUnchanged(dir: string): void {
  checkDirs(dir, false);
}

function checkDirs(dir: string, tighten: boolean): void {
  // Symbolic links on the way are resolved first: what must be safe is the directories actually used.
  const abs = realpathSync(dir);
  const st = lstatSync(abs);
  if (!st.isDirectory()) refuse(`${abs} is not a directory`);
  const why = problem(abs, st, 'state');
  if (why !== undefined) refuse(why);
  if ((st.mode & 0o077) !== 0) {
    if (!tighten)
      refuse(`${abs} is open to group or others (mode ${modeOf(st)}): a full pass tightens it to 0700, or run: chmod go= ${abs}`);
    if (st.uid === uid()) chmodSync(abs, st.mode & 0o700);
  }
  for (let p = path.dirname(abs); ; p = path.dirname(p)) {
    const why = problem(p, lstatSync(p), 'parent');
    if (why !== undefined) refuse(why);
    if (p === path.dirname(p)) break;
  }
}

/** What reading a state file gave: its text, or that it does not exist. */
export type StateRead = { readonly exists: false } | { readonly exists: true; readonly text: string };

/**
 * What identifies one write of a state file: nfgit replaces its files by rename, so each write is a new
 * inode, and an edit in place changes the size or the change time (which only the kernel sets).
 */
export function fileStamp(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/** A state file read with its stamp (fileStamp); `text` is undefined when the stamp is `known` (it was read before). */
export type StampedRead = { readonly exists: false } | { readonly exists: true; readonly stamp: string; readonly text: string | undefined };

/**
 * Reads a state file after checking, on the open file itself (no race with a rename), that it is a
 * regular file that root or the running user owns and that group and others cannot write. A
 * directory, a socket or a symbolic link in its place is refused, naming it.
 */
export function readStateFile(file: string): StateRead {
  const read = readStampedStateFile(file, undefined);
  return read.exists ? { exists: true, text: read.text ?? '' } : read;
}

/**
 * As readStateFile, with the checks on the open file, but the text is not read when the file is the
 * very one read before (its stamp is `known`): a large record is read and checked once per command.
 */
export function readStampedStateFile(file: string, known: string | undefined): StampedRead {
  let fd: number;
  try {
    // O_NOFOLLOW: a symbolic link is not followed (open(2) fails with ELOOP); O_NONBLOCK: a FIFO does not hang.
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { exists: false };
    if (code === 'ELOOP')
      throw new CorruptStateFile(file, `it is a symbolic link, where nfgit writes a regular file. Move it away (mv ${file} ${file}.bad)`);
    throw new SandboxError(`cannot read the state file ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile())
      throw new CorruptStateFile(
        file,
        `it is not a regular file (a ${st.isDirectory() ? 'directory' : 'special file'} is in its place). Move it away (mv ${file} ${file}.bad)`,
      );
    const why = problem(file, st, 'state');
    if (why !== undefined) throw new SandboxError(`refusing the state file: ${why}`);
    const stamp = fileStamp(st);
    if (stamp === known) return { exists: true, stamp, text: undefined };
    // Not zeroed first: the read fills it.
    const buf = Buffer.allocUnsafeSlow(st.size);
    let done = 0;
    while (done < st.size) {
      const n = readSync(fd, buf, done, st.size - done, done);
      if (n === 0) break;
      done += n;
    }
    return { exists: true, stamp, text: buf.subarray(0, done).toString('utf8') };
  } finally {
    closeSync(fd);
  }
}

/**
 * readStampedStateFile's read in libuv's threads, for a large file read ahead of need: its stamp and
 * text, or undefined when it is missing or anything is wrong with it (the read that believes it, with
 * the stamp it gives, says what). Only a hint: nothing read here is believed unless a later
 * readStampedStateFile of the same file finds the same stamp.
 */
export async function readStateFileAhead(
  file: string,
): Promise<{ readonly stamp: string; readonly text: string; readonly bytes: Buffer } | undefined> {
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile() || problem(file, st, 'state') !== undefined) return undefined;
    // Not zeroed first: the read fills it (and its pages are faulted in libuv's thread, not this one).
    const buf = Buffer.allocUnsafeSlow(st.size);
    let done = 0;
    while (done < st.size) {
      const { bytesRead } = await handle.read(buf, done, st.size - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    const bytes = buf.subarray(0, done);
    return { stamp: fileStamp(st), text: bytes.toString('utf8'), bytes };
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

/**
 * Makes the named files of a state directory 0600 where they are more open (and ours): an older nfgit
 * wrote some 0644. A file others can write is left as it is, for readStateFile to refuse loudly.
 */
export function tightenFiles(dir: string, names: readonly string[]): void {
  for (const name of names) {
    const file = path.join(dir, name);
    let st: Stats;
    try {
      st = lstatSync(file);
    } catch {
      continue;
    }
    if (st.isFile() && st.uid === uid() && (st.mode & 0o077) !== 0 && (st.mode & 0o022) === 0) chmodSync(file, 0o600);
  }
}
