import { closeSync, fstatSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import { NfgitError, SandboxError } from '../errors/errors.js';
import { makeDirsSync } from './make-dirs.js';
import { bytesOf } from './text-bytes.js';

/** How a written file is checked before it replaces the old one. */
export interface DurableOptions {
  /** A record nfgit reads later (JSON): read it back and check it is what was written, byte for byte. */
  readonly json?: boolean;
  /** Skip fsync (copies for people and caches: the rename alone keeps them whole). */
  readonly noSync?: boolean;
}

/** A file written under a temporary name beside its place, checked, not yet renamed over. */
export interface StagedFile {
  readonly file: string;
  /** Renames it into place (no disk space needed). */
  commit(): void;
  /** Removes the temporary file. */
  discard(): void;
}

/**
 * Writes `text` to a temporary file beside `file`, every byte, fsyncs it (unless `noSync`), checks its
 * size and, for JSON records, reads it back. On failure the temporary file is removed and the error names the
 * file (and, for a full disk, the disk).
 */
export function stageFile(file: string, text: string, mode = 0o600, options: DurableOptions = {}): StagedFile {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}`);
  const data = bytesOf(text);
  try {
    // A stale temporary file of an earlier (killed) run of this pid would keep its mode: remove it first.
    rmSync(tmp, { force: true });
    const fd = openSync(tmp, 'wx', mode);
    try {
      writeAll(fd, data);
      if (options.noSync !== true) fsyncSync(fd);
      const size = fstatSync(fd).size;
      if (size !== data.length) throw new Error(`wrote ${size} of ${data.length} bytes`);
    } finally {
      closeSync(fd);
    }
    // Read back and compared byte for byte: what was serialized is JSON by construction, so a file equal
    // to it parses (and this costs a third of parsing tens of megabytes again).
    if (options.json === true && !readFileSync(tmp).equals(data)) throw new Error('what was read back differs from what was written');
  } catch (err) {
    rmSync(tmp, { force: true });
    throw writeError(file, err);
  }
  return stagedAt(file, tmp, options);
}

/**
 * stageFile without blocking the main thread (the writes, fsync and read back in libuv's threads), for
 * a large file written ahead of when it is needed; its temporary name is its own, apart from stageFile's.
 */
export async function stageFileAsync(file: string, text: string, mode = 0o600, options: DurableOptions = {}): Promise<StagedFile> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-early`);
  const data = bytesOf(text);
  try {
    await rm(tmp, { force: true });
    const handle = await open(tmp, options.json === true ? 'wx+' : 'wx', mode);
    try {
      for (let done = 0; done < data.length; ) {
        const { bytesWritten } = await handle.write(data, done, data.length - done);
        if (bytesWritten <= 0) throw new Error(`write returned ${bytesWritten}`);
        done += bytesWritten;
      }
      if (options.noSync !== true) await handle.sync();
      // Each step waits for the main thread to take its result (busy at this point of an apply): read
      // back in one call (a byte more than written, to see a longer file), which checks the size too.
      if (options.json === true) {
        const back = Buffer.allocUnsafeSlow(data.length + 1);
        let got = 0;
        while (got < back.length) {
          const { bytesRead } = await handle.read(back, got, back.length - got, got);
          got += bytesRead;
          // Fewer bytes than asked from a regular file: its end (so one call, as a rule).
          if (bytesRead === 0 || got === data.length) break;
        }
        if (got !== data.length || !back.subarray(0, got).equals(data)) throw new Error('what was read back differs from what was written');
      } else {
        const size = (await handle.stat()).size;
        if (size !== data.length) throw new Error(`wrote ${size} of ${data.length} bytes`);
      }
    } finally {
      await handle.close();
    }
  } catch (err) {
    await rm(tmp, { force: true });
    throw writeError(file, err);
  }
  return stagedAt(file, tmp, options);
}

/** A staged file's commit (rename into place, then sync the directory unless noSync) and discard. */
function stagedAt(file: string, tmp: string, options: DurableOptions): StagedFile {
  return {
    file,
    commit: () => {
      try {
        renameSync(tmp, file);
      } catch (err) {
        rmSync(tmp, { force: true });
        throw writeError(file, err);
      }
      if (options.noSync !== true) syncDir(path.dirname(file));
    },
    discard: () => rmSync(tmp, { force: true }),
  };
}

/**
 * A file already written durably under another name in the same directory (a journal's ruleset), staged
 * to be renamed into place: no byte written again. A failed rename leaves the source where it was. The
 * directory is not synced here: the caller's next durable step in it (the journal's removal) syncs the
 * rename with it, and until then the journal can do it again.
 */
export function renamedFile(from: string, file: string): StagedFile {
  return {
    file,
    commit: () => {
      try {
        renameSync(from, file);
      } catch (err) {
        throw writeError(file, err);
      }
    },
    discard: () => undefined,
  };
}

/**
 * Writes a file so that after a crash it holds either the old or the new content, never a part:
 * write a temporary file in the same directory (every byte), fsync it, check it, rename it over,
 * fsync the directory. On any failure the old file is left as it was (see stageFile).
 */
export function writeDurable(file: string, text: string, mode = 0o600, options: DurableOptions = {}): void {
  stageFile(file, text, mode, options).commit();
}

/**
 * write(2) may write fewer bytes than asked without failing: on a full disk it writes what fits and
 * only the next call fails with ENOSPC (write(2), "RETURN VALUE"). Node's writeSync returns that
 * count, so loop until every byte is written.
 */
function writeAll(fd: number, data: Buffer): void {
  let done = 0;
  while (done < data.length) {
    const n = writeSync(fd, data, done, data.length - done);
    if (n <= 0) throw new Error(`write returned ${n}`);
    done += n;
  }
}

/** Whether an error means the file system holding a file is out of space (or quota). */
export function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** A write failure as nfgit's error: the file named, a full disk said plainly. */
function writeError(file: string, err: unknown): NfgitError {
  if (err instanceof NfgitError) return err;
  const why = isDiskFull(err) ? `the disk holding ${path.dirname(file)} is full` : (err as Error).message;
  return new SandboxError(`could not write ${file}: ${why}`, { cause: err });
}

/** Removes a file durably (the removal survives a crash). */
export function removeDurable(file: string): void {
  try {
    unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return;
  }
  syncDir(path.dirname(file));
}

/** Creates a directory (and parents) readable by root only. */
export function ensureDir(dir: string): void {
  makeDirsSync(dir, 0o700);
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
