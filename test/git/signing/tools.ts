import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** What a finished tool left: exit code and raw output. */
export interface ToolResult {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** Options for runTool. */
export interface ToolOptions {
  readonly cwd?: string;
  readonly input?: string | Buffer;
  /** Added to an environment isolated from the user's git and ssh configuration. */
  readonly env?: Record<string, string>;
}

/** Makes a temporary directory for fn and removes it on every path. */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), `nfgit-${prefix}-`));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs a real tool (ssh-keygen, git, gpg) with a 60 s limit, HOME in tmp and no user or system git config. */
export function runTool(file: string, args: readonly string[], options: ToolOptions = {}): Promise<ToolResult> {
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: options.cwd ?? tmpdir(),
    LANG: 'C',
    TZ: process.env['TZ'] ?? 'UTC',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'Alice Admin',
    GIT_AUTHOR_EMAIL: 'alice@example.net',
    GIT_COMMITTER_NAME: 'Alice Admin',
    GIT_COMMITTER_EMAIL: 'alice@example.net',
    ...options.env,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: options.cwd, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }, 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** Runs a tool and fails with its stderr unless it exits 0; returns stdout as text. */
export async function mustRun(file: string, args: readonly string[], options: ToolOptions = {}): Promise<string> {
  const r = await runTool(file, args, options);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${String(r.code)}: ${r.stderr}`);
  return r.stdout.toString('utf8');
}

/** Makes a key with ssh-keygen (no passphrase unless given) and returns its path and `TYPE BASE64` public key. */
export async function sshKeygen(
  dir: string,
  name: string,
  type: string,
  extra: readonly string[] = [],
): Promise<{ file: string; pub: string }> {
  const file = path.join(dir, name);
  await mustRun('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `${name}@test`, ...extra, '-f', file]);
  const pub = (await mustRun('ssh-keygen', ['-y', '-f', file])).split(' ').slice(0, 2).join(' ');
  return { file, pub };
}

/** The SHA256 fingerprint ssh-keygen -l prints for a key file. */
export async function sshFingerprint(file: string): Promise<string> {
  const out = await mustRun('ssh-keygen', ['-l', '-E', 'sha256', '-f', file]);
  const fp = out.split(' ')[1];
  if (fp === undefined) throw new Error(`unexpected ssh-keygen -l output: ${out}`);
  return fp;
}

/** A private gpg home for one test (mode 0700, as gpg requires): its environment for gpg and git. */
export interface GpgHome {
  readonly env: Record<string, string>;
  /** Runs gpg in this home (batch mode, no passphrase) and returns stdout. */
  readonly gpg: (args: readonly string[], options?: { readonly input?: string | Buffer }) => Promise<string>;
}

/** Makes a gpg home in dir for fn, and stops its gpg-agent on every path. */
export async function withGpgHome<T>(dir: string, fn: (home: GpgHome) => Promise<T>): Promise<T> {
  const home = path.join(dir, 'gnupg');
  await mkdir(home, { mode: 0o700 });
  const env = { GNUPGHOME: home };
  const gpg = (args: readonly string[], options: { readonly input?: string | Buffer } = {}): Promise<string> =>
    mustRun('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { env, ...options });
  try {
    return await fn({ env, gpg });
  } finally {
    await runTool('gpgconf', ['--kill', 'gpg-agent'], { env });
  }
}

/** Makes an ed25519 signing key (gpg 2.2: legacy EdDSA) for a user ID and returns its fingerprint. */
export async function gpgKeygen(home: GpgHome, uid: string, expire = 'never', extra: readonly string[] = []): Promise<string> {
  await home.gpg([...extra, '--quick-gen-key', uid, 'ed25519', 'sign', expire]);
  const colons = await home.gpg(['--with-colons', '--list-keys', `=${uid}`]);
  const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(colons)?.[1];
  if (fpr === undefined) throw new Error(`no fingerprint for ${uid} in: ${colons}`);
  return fpr;
}
