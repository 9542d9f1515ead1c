// `nfgit hooks install`: which hook files go where, decided before anything is written (planInstall,
// pure), then written (installHooks). An existing hook is never replaced silently.

import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InternalError, UsageError } from '../errors/errors.js';
import { makeDirsSync } from '../util/make-dirs.js';

/** Server side: a bare repository hosts push to. Client side: a working clone people push from. */
export type HookSide = 'server' | 'client';

/** The library every hook sources; installed beside them since installed hooks are copies. */
export const HOOK_LIB = 'nfgit-hook-lib.sh';

/** The hooks of each side (the library goes with them). */
export const HOOKS_OF: Readonly<Record<HookSide, readonly string[]>> = {
  server: ['pre-receive', 'post-receive'],
  client: ['pre-push'],
};

/** The file suffix of the copy kept of a hook that --force replaces. */
export const BACKUP_SUFFIX = '.nfgit-backup';

/** One file to install: its name, its content, and what is at its place now (null: nothing). */
export interface HookFile {
  readonly name: string;
  readonly content: Buffer;
  readonly existing: Buffer | null;
}

/** What installing one file does. */
export type HookStep =
  | { readonly name: string; readonly action: 'create'; readonly mode: number }
  | { readonly name: string; readonly action: 'unchanged'; readonly mode: number }
  | { readonly name: string; readonly action: 'replace'; readonly mode: number; readonly backup: string };

/** Hooks are executables; the library is only sourced. */
function modeOf(name: string): number {
  return name === HOOK_LIB ? 0o644 : 0o755;
}

/** The first backup name not taken: NAME.nfgit-backup, then NAME.nfgit-backup.2, .3… */
export function backupName(name: string, taken: (file: string) => boolean): string {
  const base = name + BACKUP_SUFFIX;
  if (!taken(base)) return base;
  for (let n = 2; ; n++) if (!taken(`${base}.${n}`)) return `${base}.${n}`;
}

/** What planInstall needs besides the files: whether to replace, which names are taken, where (for messages). */
export interface PlanOptions {
  readonly force: boolean;
  readonly hooksDir: string;
  readonly taken: (file: string) => boolean;
}

/**
 * Decides every step before anything is written: identical files stay, new ones are created, and
 * different ones are replaced (with a backup) only when force is set; otherwise throws a UsageError
 * naming every conflicting file.
 */
export function planInstall(files: readonly HookFile[], options: PlanOptions): HookStep[] {
  const conflicts = files
    .filter((f) => f.existing !== null && !f.existing.equals(f.content))
    .map((f) => path.join(options.hooksDir, f.name));
  if (conflicts.length > 0 && !options.force) {
    const [one, ...more] = conflicts;
    const what = more.length === 0 ? `${one} exists and is not nfgit's` : `${conflicts.join(', ')} exist and are not nfgit's`;
    throw new UsageError(
      `${what}; nothing was installed. Merge by hand, or run again with --force to replace (the old file is kept as NAME${BACKUP_SUFFIX})`,
    );
  }
  return files.map((f): HookStep => {
    const mode = modeOf(f.name);
    if (f.existing === null) return { name: f.name, action: 'create', mode };
    if (f.existing.equals(f.content)) return { name: f.name, action: 'unchanged', mode };
    return { name: f.name, action: 'replace', mode, backup: backupName(f.name, options.taken) };
  });
}

/** The `hooks/` folder shipped with nfgit: $NFGIT_HOOKS_DIR (packaging), else the one three levels above dist/src/hooks/. */
export function packageHooksDir(env: NodeJS.ProcessEnv = process.env): string {
  const override = env['NFGIT_HOOKS_DIR'];
  if (override !== undefined && override !== '') return path.resolve(override);
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../hooks');
}

/** What `git rev-parse` says about a repository: whether it is bare, and where its hooks go. */
export interface RepoHooks {
  readonly bare: boolean;
  readonly hooksDir: string;
}

/** Asks stock git where repo's hooks live (`--git-path hooks` follows core.hooksPath) and whether it is bare. */
export function locateHooks(repo: string): RepoHooks {
  if (!existsSync(repo)) throw new UsageError(`${repo}: no such directory; give the path of a git repository`);
  const r = spawnSync('git', ['rev-parse', '--is-bare-repository', '--git-path', 'hooks'], { cwd: repo, encoding: 'utf8' });
  if (r.error !== undefined) throw new UsageError(`cannot run git: ${r.error.message}`, { cause: r.error });
  if (r.status !== 0) throw new UsageError(`${repo} is not a git repository (git rev-parse: ${r.stderr.trim()})`);
  const [bare, hooks] = r.stdout.split('\n');
  if (hooks === undefined || hooks === '') throw new InternalError(`unexpected git rev-parse output: ${JSON.stringify(r.stdout)}`);
  return { bare: bare === 'true', hooksDir: path.resolve(repo, hooks) };
}

/** What installing did to git config nfgit.command: the words recorded, and what was there before. */
export interface CommandStep {
  readonly words: readonly string[];
  readonly action: 'set' | 'unchanged' | 'replaced';
  /** The words it held before (replaced only). */
  readonly previous: readonly string[];
}

/** What `nfgit hooks install` did. */
export interface InstallReport {
  readonly side: HookSide;
  readonly hooksDir: string;
  readonly steps: readonly HookStep[];
  /** Undefined when no command was given to record. */
  readonly command: CommandStep | undefined;
}

/** Options of installHooks. */
export interface InstallOptions {
  /** Install the server-side hooks even into a repository with a work tree. */
  readonly bare?: boolean;
  /** Replace hooks with other content, keeping a backup of each. */
  readonly force?: boolean;
  /** Where the hook files come from (default: packageHooksDir()). */
  readonly sourceDir?: string;
  /**
   * The words of the command that runs this nfgit (node and its script), recorded in git config
   * nfgit.command so that the hooks run the nfgit that installed them, even from a checkout that is
   * not on PATH.
   */
  readonly command?: readonly string[];
}

/** Runs git config ARGS in repo; returns stdout, or null when git exits 1 or 5 (no such key). */
function gitConfig(repo: string, args: readonly string[]): string | null {
  const r = spawnSync('git', ['config', ...args], { cwd: repo, encoding: 'utf8' });
  if (r.error !== undefined) throw new UsageError(`cannot run git: ${r.error.message}`, { cause: r.error });
  if (r.status === 0) return r.stdout;
  if (r.status === 1 || r.status === 5) return null;
  throw new UsageError(`git config ${args.join(' ')} failed in ${repo}: ${r.stderr.trim()}`);
}

/**
 * Records words in git config nfgit.command, one value a word (git config --add), so that a path
 * with blanks stays one word; the hooks read it back with --get-all (nfgit-hook-lib.sh).
 */
export function recordCommand(repo: string, words: readonly string[]): CommandStep {
  const bad = words.find((w) => w === '' || w.includes('\n'));
  if (bad !== undefined)
    throw new UsageError(`cannot record ${JSON.stringify(bad)} in git config nfgit.command: empty, or with a line break`);
  const now = gitConfig(repo, ['--get-all', 'nfgit.command']);
  const previous = now === null ? [] : now.replace(/\n$/, '').split('\n');
  if (previous.length === words.length && previous.every((w, i) => w === words[i])) return { words, action: 'unchanged', previous };
  if (now !== null) gitConfig(repo, ['--unset-all', 'nfgit.command']);
  for (const w of words) gitConfig(repo, ['--add', 'nfgit.command', w]);
  return { words, action: now === null ? 'set' : 'replaced', previous };
}

/** Installs nfgit's hooks into repo: server side for a bare repository (or with bare), else client side. */
export function installHooks(repo: string, options: InstallOptions = {}): InstallReport {
  const where = locateHooks(repo);
  const side: HookSide = options.bare === true || where.bare ? 'server' : 'client';
  const sourceDir = options.sourceDir ?? packageHooksDir();
  const read = (file: string): Buffer | null => {
    try {
      return readFileSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  };
  const files: HookFile[] = [...HOOKS_OF[side], HOOK_LIB].map((name) => {
    const content = read(path.join(sourceDir, name));
    if (content === null) {
      throw new UsageError(
        `${path.join(sourceDir, name)}: missing; nfgit's hooks folder is incomplete (set NFGIT_HOOKS_DIR to where the hooks are installed)`,
      );
    }
    return { name, content, existing: read(path.join(where.hooksDir, name)) };
  });
  const steps = planInstall(files, {
    force: options.force === true,
    hooksDir: where.hooksDir,
    taken: (f) => existsSync(path.join(where.hooksDir, f)),
  });

  makeDirsSync(where.hooksDir);
  for (const step of steps) {
    const target = path.join(where.hooksDir, step.name);
    const content = files.find((f) => f.name === step.name)?.content ?? Buffer.alloc(0);
    if (step.action === 'replace') copyFileSync(target, path.join(where.hooksDir, step.backup));
    if (step.action !== 'unchanged') {
      // Written beside and renamed, so git never runs a half-written hook.
      const tmp = `${target}.nfgit-tmp-${process.pid}`;
      writeFileSync(tmp, content, { mode: step.mode });
      chmodSync(tmp, step.mode);
      renameSync(tmp, target);
    } else if ((statSync(target).mode & 0o777) !== step.mode) {
      chmodSync(target, step.mode); // same content but not executable: git would skip it
    }
  }
  const command = options.command === undefined ? undefined : recordCommand(repo, options.command);
  return { side, hooksDir: where.hooksDir, steps, command };
}
