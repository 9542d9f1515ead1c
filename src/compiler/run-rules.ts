import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { access, chmod, copyFile, mkdir, mkdtemp, readdir, readFile, readlink, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { InternalError, NfgitError, SandboxError, ScriptError } from '../errors/errors.js';
import { RecordStream, type RawRecord } from './record-stream.js';
import { BASH_PRELUDE, BYPASS_SHIM, ZSH_PRELUDE } from './zsh-prelude.js';
import { variableCommands } from './variable-commands.js';
import { SAFE_PATH } from '../util/sandbox.js';
import { JAIL_DIR, JAIL_LAUNCHER, JAIL_RULES_DIR, jailCommand, jailFailure, jailFstab } from './jail.js';
import { killGroup } from '../util/run-process.js';
import { onExit } from '../util/exit-hooks.js';

/** How the prelude runs the rule files (see RunRulesOptions.mode). */
export type RunMode = 'fast' | 'exact' | 'diagnose';

/** How a record is answered: nothing (asynchronous), a status and message for the waiting call, or a stop. */
export type RecordVerdict = void | { readonly answer: string } | { readonly stop: NfgitError } | { readonly restart: true };

/** Options for running rule files. */
export interface RunRulesOptions {
  /** Absolute paths of the rule files, in the order to source them. */
  readonly files: readonly string[];
  /** The environment of the rule files (LC_ALL and PATH are fixed by nfgit). */
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  /** Cap on the rule files' own stdout+stderr that is kept. */
  readonly maxOutputBytes: number;
  /** Cap on the bytes of recorded calls (a runaway loop). */
  readonly maxRecordBytes: number;
  /** The rules directory (the jail sees a copy of it at JAIL_RULES_DIR, its working directory). */
  readonly rulesDir: string;
  /** The jail's host name (`hostname`, `uname -n` inside), the compile's --host. */
  readonly host?: string;
  /** Positional arguments every rule file is sourced with. */
  readonly args?: readonly string[];
  /**
   * `fast`: aliases record calls without answering (a `restart` verdict ends the run); `exact`: functions
   * answer every state command; `diagnose`: exact, plus a DEBUG trap that locates a rule file's early stop.
   */
  readonly mode: RunMode;
  /**
   * The shell (rule-shell.ts): zsh (prelude.zsh), or bash (prelude.bash) with each file sourced as
   * bash or in POSIX mode (`modes`, one a file). bash has no fast mode: `fast` runs as `exact`.
   */
  readonly shell?: { readonly name: 'zsh' } | { readonly name: 'bash'; readonly modes: readonly ('bash' | 'sh')[] };
  /** Called once the shell is spawned (compile.ts's onRunning). */
  readonly onSpawn?: () => void;
}

/** How the zsh process ended. */
export interface RunRulesExit {
  readonly code: number | null;
  readonly signal: string | null;
  readonly output: string;
  readonly timedOut: boolean;
  readonly stoppedBy: NfgitError | undefined;
  /** A record asked for the run to be repeated in exact mode. */
  readonly restart: boolean;
}

const BYPASS_TOOLS = [
  'iptables',
  'ip6tables',
  'iptables-nft',
  'ip6tables-nft',
  'iptables-legacy',
  'ip6tables-legacy',
  'iptables-save',
  'iptables-restore',
  'ip6tables-save',
  'ip6tables-restore',
  'xtables-nft-multi',
  'xtables-legacy-multi',
  'ipset',
];

/** The real binaries behind iptables and friends, which the sandbox covers with the bypass shim. */
async function bypassTargets(): Promise<string[]> {
  // Every place at once (78 look-ups, each a round trip to libuv's threads when made one by one).
  const places = SAFE_PATH.split(':').flatMap((dir) => BYPASS_TOOLS.map((name) => path.join(dir, name)));
  const found = await Promise.all(
    places.map(async (p) => {
      try {
        await access(p, constants.X_OK);
        return await realpath(p);
      } catch {
        return undefined; // not here
      }
    }),
  );
  return [...new Set(found.filter((t): t is string => t !== undefined))].sort();
}

/** Waits for every step, then throws the first failure: no step still runs when the caller cleans up. */
async function allOf<T extends readonly unknown[]>(steps: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(steps);
  for (const s of settled) if (s.status === 'rejected') throw s.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/**
 * The number of a file's last line that is neither blank nor a comment (0 when there is none): where
 * an `exit` is accepted as the file's end.
 */
export function lastCommandLine(text: Buffer): number {
  const lines = text.toString('latin1').split('\n');
  for (let i = lines.length - 1; i >= 0; i--) if (!/^\s*(#.*)?$/.test(lines[i] as string)) return i + 1;
  return 0;
}

/**
 * A rule file's text as the sandbox sources it: unchanged, then one line that records that the file
 * ran to its end (prelude.zsh checks it after each `.`). Lines keep their numbers.
 */
export function withEndMarker(text: Buffer, index: number): Buffer {
  const newline = text.length === 0 || text[text.length - 1] === 0x0a ? '' : '\n';
  return Buffer.concat([text, Buffer.from(`${newline}__nfgit_ran=${index}\n`)]);
}

/**
 * Runs the rule files in one zsh process inside the compile jail (jail.ts), with a clean environment
 * and a time limit; feeds each record to `onRecord` in order and writes its answer back.
 */
export async function runRuleFiles(
  options: RunRulesOptions,
  onRecord: (record: RawRecord) => RecordVerdict | Promise<RecordVerdict>,
): Promise<RunRulesExit> {
  const dir = await mkdtemp(path.join(tmpdir(), 'nfgit-compile-'));
  // A signal ends nfgit through process.exit, which skips `finally`: remove the directory then too.
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  const dropCleanup = onExit(cleanup);
  try {
    // Everything the jail reads is in this directory, open to nobody; the records file is not (fd 3).
    await chmod(dir, 0o755);
    // Modes set by chmod: a umask (077 in the hooks) would narrow those given to writeFile.
    const shell = options.shell ?? { name: 'zsh' };
    const prelude = shell.name === 'zsh' ? 'prelude.zsh' : 'prelude.bash';
    const writeWithMode = async (file: string, text: string | Buffer, mode: number): Promise<void> => {
      await writeFile(file, text);
      await chmod(file, mode);
    };
    const rulesDir = path.resolve(options.rulesDir);
    const relatives = options.files.map((file) => {
      const relative = path.relative(rulesDir, file);
      if (relative.startsWith('..') || path.isAbsolute(relative))
        throw new InternalError(`internal error: rule file ${file} is not in ${rulesDir}`);
      return relative;
    });
    // The rule files, each with its end marker, over their copies in the jail's rules directory.
    const ruleFiles = async (): Promise<Buffer[]> =>
      Promise.all(
        options.files.map(async (file, i) => {
          const text = await readFile(file);
          await writeWithMode(path.join(dir, 'rules', relatives[i] as string), withEndMarker(text, i + 1), 0o644);
          return text;
        }),
      );
    // The steps are independent but for the copy before the rule files: at once, since they are a few
    // dozen file system calls on the path of every compile.
    const [, , , texts, targets] = await allOf<[void, void, void, Buffer[], string[]]>([
      writeWithMode(path.join(dir, 'prelude.zsh'), ZSH_PRELUDE, 0o644),
      writeWithMode(path.join(dir, 'prelude.bash'), BASH_PRELUDE, 0o644),
      writeWithMode(path.join(dir, 'bypass-shim'), BYPASS_SHIM, 0o755),
      copyRulesDir(rulesDir, path.join(dir, 'rules'), new Set(options.files.map((f) => path.resolve(f)))).then(ruleFiles),
      bypassTargets(),
    ]);
    const files = relatives.map((relative) => path.posix.join(JAIL_RULES_DIR, relative));
    const lastLines = texts.map(lastCommandLine);
    await writeFile(path.join(dir, 'fstab'), jailFstab(targets, existsSync));
    await chmod(path.join(dir, 'fstab'), 0o644);
    const mode = shell.name === 'bash' && options.mode === 'fast' ? 'exact' : options.mode;
    const fileArgs = shell.name === 'zsh' ? files : files.flatMap((f, i) => [shell.modes[i] ?? 'bash', f]);
    // zsh's fast mode records calls through these variables with aliases (variable-commands.ts).
    const variables = shell.name === 'zsh' && mode === 'fast' ? variableCommands(texts.map((t) => t.toString('latin1'))) : [];
    const jail = jailCommand([
      '/bin/sh',
      '-c',
      JAIL_LAUNCHER,
      'nfgit-compile',
      options.host ?? '',
      shell.name,
      mode,
      ...(shell.name === 'zsh' ? [String(variables.length), ...variables] : []),
      String(lastLines.length),
      ...lastLines.map(String),
      String(options.args?.length ?? 0),
      ...(options.args ?? []),
      ...fileArgs,
    ]);
    return await drive(jail, dir, options, onRecord, path.join(dir, 'records'), `${JAIL_DIR}/${prelude}`, shell.name === 'bash');
  } finally {
    dropCleanup();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Copies the rules directory for the jail, readable by nobody (directories 0755, files 0644), so rule
 * files can read the data files beside them wherever the real directory is. `.git` is left out; symlinks
 * are copied as they are (they resolve inside the jail, where only what nobody may read is readable).
 * The rule files themselves (`written`) are not: they are written next, with their end markers.
 */
async function copyRulesDir(from: string, to: string, written: ReadonlySet<string>): Promise<void> {
  await mkdir(to, { mode: 0o755 });
  await chmod(to, 0o755);
  const entries = await readdir(from, { withFileTypes: true });
  await allOf(
    entries.map(async (entry) => {
      const src = path.join(from, entry.name);
      const dst = path.join(to, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== '.git') await copyRulesDir(src, dst, written);
      } else if (entry.isSymbolicLink()) await symlink(await readlink(src), dst);
      else if (entry.isFile() && !written.has(src)) {
        await copyFile(src, dst);
        await chmod(dst, 0o644);
      }
    }),
  );
}

/** A trace written as N files then N lines (prelude.bash) as N `FILE:LINE` entries. */
export function pairHalves(trace: readonly string[]): string[] {
  const n = trace.length >> 1;
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(`${trace[i] as string}:${trace[n + i] as string}`);
  return out;
}

async function drive(
  jail: { file: string; args: string[] },
  dir: string,
  options: RunRulesOptions,
  onRecord: (record: RawRecord) => RecordVerdict | Promise<RecordVerdict>,
  recordFile: string,
  prelude: string,
  halves: boolean,
): Promise<RunRulesExit> {
  const mark = `\u001enfgit-${randomBytes(12).toString('hex')}\u001e`;
  // Records go to a file (fd 3): zsh's writes never wait for nfgit, which reads the file as it grows.
  // A call that needs an answer pokes fd 5 after writing its record, then reads the answer on fd 4.
  const writeFd = openSync(recordFile, 'wx', 0o600);
  const readFd = openSync(recordFile, 'r');
  let child: ChildProcess;
  try {
    child = spawn(jail.file, jail.args, {
      cwd: dir,
      env: { ...options.env, LC_ALL: 'C', PATH: SAFE_PATH, NFGIT_RECORD_MARK: mark },
      stdio: ['ignore', 'pipe', 'pipe', writeFd, 'pipe', 'pipe'],
      detached: true,
    });
  } finally {
    closeSync(writeFd);
  }
  options.onSpawn?.();
  try {
    return await follow(child, options, onRecord, prelude, mark, readFd, halves);
  } finally {
    closeSync(readFd);
  }
}

async function follow(
  child: ChildProcess,
  options: RunRulesOptions,
  onRecord: (record: RawRecord) => RecordVerdict | Promise<RecordVerdict>,
  prelude: string,
  mark: string,
  readFd: number,
  halves: boolean,
): Promise<RunRulesExit> {
  const stdio = child.stdio as unknown as Array<Readable & Writable>;
  const answers = stdio[4] as Writable;
  const pokes = stdio[5] as Readable;
  answers.on('error', () => {}); // zsh may exit before reading an answer
  let output = '';
  let outputBytes = 0;
  const capture = (chunk: Buffer): void => {
    if (outputBytes >= options.maxOutputBytes) return;
    const room = options.maxOutputBytes - outputBytes;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    outputBytes += part.length;
    output += part.toString('utf8');
  };
  child.stdout?.on('data', capture);
  child.stderr?.on('data', capture);

  let stoppedBy: NfgitError | undefined;
  let timedOut = false;
  const stop = (err: NfgitError): void => {
    if (stoppedBy === undefined) stoppedBy = err;
    killGroup(child.pid);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid);
  }, options.timeoutMs);
  const dropKill = onExit(() => killGroup(child.pid));

  const stream = new RecordStream(mark);
  let restart = false;
  const preludeFrame = prelude + ':';
  const notUsers = (e: string): boolean => e.startsWith(preludeFrame) || e.startsWith(':');
  // Records are handled strictly in order, even when a handler awaits (a canonical-form lookup).
  let queue: Promise<void> = Promise.resolve();
  const handleBatch = (batch: RawRecord[]): void => {
    if (batch.length === 0) return;
    queue = queue.then(async () => {
      for (let rec of batch) {
        if (stoppedBy !== undefined || restart) return;
        // The prelude's own frames (its functions, its sourcing loop) are not the user's to fix.
        // Usually only the outermost (the sourcing loop) is the prelude's: drop it in place.
        // prelude.bash writes a trace as its files, then its lines.
        const raw = halves ? pairHalves(rec.trace) : (rec.trace as string[]);
        if (halves) rec = { ...rec, trace: raw };
        if (raw.length > 0 && raw[raw.length - 1]?.startsWith(preludeFrame)) raw.pop();
        if (raw.some(notUsers)) rec = { ...rec, trace: raw.filter((e) => !notUsers(e)) };
        let verdict: RecordVerdict;
        try {
          const v = onRecord(rec);
          verdict = v instanceof Promise ? await v : v;
        } catch (err) {
          stop(err instanceof NfgitError ? err : new InternalError(`internal error while compiling: ${String(err)}`, { cause: err }));
          return;
        }
        if (verdict === undefined) continue;
        if ('stop' in verdict) {
          stop(verdict.stop);
          return;
        }
        if ('restart' in verdict) {
          restart = true;
          killGroup(child.pid);
          return;
        }
        answers.write(verdict.answer + '\0');
      }
    });
  };
  const failStream = (err: unknown): void => {
    // Fast mode's records are out of step when a rule file set ksh_arrays or sh_word_split (see
    // prelude.zsh): exact mode's records hold under any option.
    if (options.mode === 'fast') {
      restart = true;
      killGroup(child.pid);
      return;
    }
    stop(new InternalError(`internal error reading the rule files' records: ${(err as Error).message}`, { cause: err }));
  };
  const buffer = Buffer.allocUnsafe(1 << 20);
  let offset = 0;
  // Reads what the record file gained since the last time and queues its records.
  const drain = (): void => {
    if (stoppedBy !== undefined || restart) return;
    for (;;) {
      const n = readSync(readFd, buffer, 0, buffer.length, offset);
      if (n === 0) return;
      offset += n;
      if (offset > options.maxRecordBytes) {
        stop(
          new ScriptError(
            `the rule files recorded more than ${options.maxRecordBytes >> 20} MiB of iptables calls; is a loop running away?`,
          ),
        );
        return;
      }
      try {
        handleBatch(stream.push(buffer.subarray(0, n)));
      } catch (err) {
        failStream(err);
        return;
      }
    }
  };
  pokes.on('data', drain);
  const poll = setInterval(drain, 15);
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, s) => resolve([c, s]));
  });
  clearTimeout(timer);
  clearInterval(poll);
  dropKill();
  drain();
  if (stoppedBy === undefined && !restart) {
    try {
      handleBatch(stream.end());
    } catch (err) {
      failStream(err);
    }
  }
  await queue;
  if (stoppedBy === undefined && code !== 0) {
    const failure = jailFailure(output);
    if (failure !== undefined) stoppedBy = failure;
    else if (code === 71) stoppedBy = new SandboxError(`cannot set up the compile sandbox: ${output.trim()}`);
  }
  return { code, signal, output, timedOut, stoppedBy, restart: restart && stoppedBy === undefined };
}
