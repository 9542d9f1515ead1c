// nfgit installed and run in a booted Debian 12 container (container.ts) as an admin would: the
// built .deb installed with dpkg, a local bare rules repository served by a non-root user `git`
// (group access, the package's hooks), signed commits made on this machine with the test helpers and
// pushed inside by that user, /etc/nfgit/config.yaml, and `systemctl enable --now nfgit` with the
// drop-in the README asks for. Waits poll a condition against a generous deadline, never a fixed sleep.
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import type { Container } from './container.js';
import type { RulesRepo } from '../helpers/rules-repo.js';

/** The bare repository inside, owned by `git` (group-shared), that the agent reads in place. */
export const BARE = '/srv/git/firewall.git';
/** The host name the agent signs its status tags as (config `host:`). */
export const HOST = 'ct1';

/** Runs a command inside and fails with its output unless it exits 0; returns stdout. */
export async function must(c: Container, argv: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await c.run(argv, options);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Runs a command inside as the user `git`. */
export const asGit = (c: Container, argv: readonly string[]) => c.run(['runuser', '-u', 'git', '--', ...argv]);

/** Writes a file inside the container (through its root, as this machine sees it). */
export async function put(c: Container, file: string, text: string): Promise<void> {
  await mkdir(path.dirname(path.join(c.root, file)), { recursive: true });
  await writeFile(path.join(c.root, file), text);
}

/**
 * Polls `argv` until `ok` accepts its result, or fails after `timeoutMs` naming `what`, with the last
 * output and the agent's journal (what the admin would read).
 */
export async function waitFor(
  c: Container,
  what: string,
  argv: readonly string[],
  ok: (r: { code: number; stdout: string; stderr: string }) => boolean,
  timeoutMs = 90_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await c.run(argv);
    if (ok(r)) return r.stdout;
    if (Date.now() > deadline) {
      const journal = await c.run(['journalctl', '--no-pager', '-o', 'cat', '-n', '40', '-u', 'nfgit', '-u', 'nfgit-restore']);
      throw new Error(`timed out waiting for ${what}; ${argv.join(' ')} said:\n${r.stdout}${r.stderr}\njournal:\n${journal.stdout}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

/** What the install step found. */
export interface Installed {
  /** dpkg's output (postinst's lines included). */
  readonly output: string;
  /** Debian's own nodejs version inside. */
  readonly node: string;
}

/** Installs the .deb with dpkg -i, on Debian 12's own nodejs (18.x): the package Depends on nodejs (>= 18.19). */
export async function installDeb(c: Container, deb: string): Promise<Installed> {
  await cp(deb, path.join(c.root, 'var/tmp/nfgit.deb'));
  const node = (await must(c, ['node', '--version'])).trim();
  const r = await c.run(['dpkg', '-i', '/var/tmp/nfgit.deb']);
  if (r.code !== 0) throw new Error(`dpkg -i failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return { output: r.stdout + r.stderr, node };
}

/**
 * The user `git` (in the group nfgit, so its post-receive hook may create the trigger file), the bare
 * repository it serves with group access, the package's hooks installed by that user, and the admin's
 * allowed_signers file at /etc/nfgit/allowed_signers (the agent's and the hook's trust list).
 */
export async function serveRepository(c: Container, repo: RulesRepo): Promise<void> {
  await must(c, ['useradd', '--system', '--create-home', '--home-dir', '/home/git', '--shell', '/bin/sh', 'git']);
  await must(c, ['usermod', '-a', '-G', 'nfgit', 'git']);
  await must(c, ['install', '-d', '-o', 'git', '-g', 'git', '-m', '2775', path.dirname(BARE)]);
  await must(c, ['runuser', '-u', 'git', '--', 'git', 'init', '-q', '--bare', '--shared=group', '-b', 'main', BARE]);
  await cp(repo.allowedSigners, path.join(c.root, 'etc/nfgit/allowed_signers'));
  await must(c, ['chmod', '0644', '/etc/nfgit/allowed_signers']);
  await must(c, ['runuser', '-u', 'git', '--', 'nfgit', 'hooks', 'install', BARE]);
  await must(c, ['runuser', '-u', 'git', '--', 'git', '-C', BARE, 'config', 'nfgit.allowedSigners', '/etc/nfgit/allowed_signers']);
}

/**
 * Copies the admin's working clone (commits made on this machine, signed or not) to the git user's
 * home inside and pushes its HEAD to main there, as that user, through the repository's hooks.
 * Returns the push's output (the hooks' `remote:` lines) and exit code.
 */
export async function push(c: Container, repo: RulesRepo): Promise<{ code: number; output: string }> {
  const work = path.join(c.root, 'home/git/work');
  await rm(work, { recursive: true, force: true });
  await cp(repo.work, work, { recursive: true });
  await must(c, ['chown', '-R', 'git:git', '/home/git/work']);
  const r = await asGit(c, ['git', '-C', '/home/git/work', 'push', BARE, 'HEAD:refs/heads/main']);
  return { code: r.code, output: r.stdout + r.stderr };
}

/** Moves main in the bare repository to the working clone's HEAD without the hooks (a writer bypassing them). */
export async function forceMain(c: Container, repo: RulesRepo): Promise<void> {
  const work = path.join(c.root, 'home/git/work');
  await rm(work, { recursive: true, force: true });
  await cp(repo.work, work, { recursive: true });
  await must(c, ['chown', '-R', 'git:git', '/home/git/work']);
  await must(c, ['runuser', '-u', 'git', '--', 'git', '-C', BARE, 'fetch', '-q', '/home/git/work', '+HEAD:refs/heads/main']);
}

/** The agent's configuration: the local repository, a poll interval, and extra YAML lines. */
export function config(options: { poll: string; extra?: readonly string[] }): string {
  return [
    'repository:',
    `  url: ${BARE}`,
    '  branch: main',
    `host: ${HOST}`,
    'poll:',
    `  interval: ${options.poll}`,
    'trust:',
    '  allowedSigners: /etc/nfgit/allowed_signers',
    ...(options.extra ?? []),
    '',
  ].join('\n');
}

/**
 * What the README asks for a local repository (`systemctl edit nfgit`): the repository writable (status
 * tags), and its owner's group (nfgit.service has no CAP_DAC_OVERRIDE).
 */
export const LOCAL_REPO_DROPIN = `[Service]\nReadWritePaths=${BARE}\nSupplementaryGroups=git\n`;

/** Writes the configuration and the drop-in, then `systemctl enable --now nfgit`. */
export async function enable(c: Container, configText: string): Promise<void> {
  await put(c, '/etc/nfgit/config.yaml', configText);
  await put(c, '/etc/systemd/system/nfgit.service.d/local-repository.conf', LOCAL_REPO_DROPIN);
  await must(c, ['systemctl', 'daemon-reload']);
  const r = await c.run(['systemctl', 'enable', '--now', 'nfgit']);
  if (r.code !== 0) {
    const journal = await c.run(['journalctl', '--no-pager', '-o', 'cat', '-n', '30', '-u', 'nfgit']);
    throw new Error(`systemctl enable --now nfgit exited ${r.code}: ${r.stderr}\njournal:\n${journal.stdout}`);
  }
}

/** The container's own (its "host" namespace's) IPv4 ruleset, or a named namespace's. */
export const iptablesSave = (netns?: string): string[] =>
  netns === undefined ? ['iptables-save'] : ['ip', 'netns', 'exec', netns, 'iptables-save'];

/** The message of this host's status tag on a commit, read as root (the repository is git's: safe.directory). */
export async function statusTag(c: Container, commit: string): Promise<string | undefined> {
  const r = await c.run([
    'git',
    '-c',
    'safe.directory=*',
    '-C',
    BARE,
    'tag',
    '-l',
    '--format=%(contents)',
    `nfgit/${HOST}/${commit.slice(0, 12)}`,
  ]);
  return r.code === 0 && r.stdout.trim() !== '' ? r.stdout : undefined;
}

/** A systemd property of a unit (systemctl show -p NAME --value). */
export async function property(c: Container, unit: string, name: string): Promise<string> {
  return (await must(c, ['systemctl', 'show', '-p', name, '--value', unit])).trim();
}

/** A systemd time span as systemctl shows it (`10s`, `1min 30s`, `100ms`), in milliseconds. */
export function timespanMs(text: string): number {
  const unit: Record<string, number> = { h: 3_600_000, min: 60_000, s: 1000, ms: 1, us: 0.001 };
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(h|min|ms|us|s)\b/g)) ms += Number(m[1]) * (unit[m[2] ?? 's'] ?? 1000);
  return ms;
}

/** This machine's own iptables ruleset, to check that nothing the container does reaches it. */
export const hostRuleset = async (): Promise<string> => (await execa('iptables', ['-S'])).stdout;
