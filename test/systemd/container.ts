// A Debian 12 system booted with real systemd, for the tests of nfgit under systemd (issue 13): a
// root file system made once with debootstrap (cached), booted by systemd-nspawn with its own network
// namespace (--private-network, so nothing it does reaches this machine's firewall) on an overlay, so
// every test starts from the same system and a reboot keeps what the test changed.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

/** Where the root file system is cached (one per machine; CI makes it once per run). */
export const ROOTFS = process.env['NFGIT_TEST_ROOTFS'] ?? '/var/cache/nfgit-test/bookworm-v1';

/** Debian 12's own packages the tests need inside: systemd, the netfilter tools, zsh, git, Debian's nodejs. */
const PACKAGES = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'iptables',
  'iproute2',
  'ipset',
  'nftables',
  'zsh',
  'git',
  'ca-certificates',
  'nodejs',
  'procps',
];

/** Why this machine cannot boot a container, or undefined when it can try. */
export async function cannotBoot(): Promise<string | undefined> {
  for (const tool of ['debootstrap', 'systemd-nspawn', 'nsenter']) {
    const r = await execa('sh', ['-c', `command -v ${tool}`], { reject: false });
    if (r.exitCode !== 0) return `${tool} is not installed (apt-get install debootstrap systemd-container)`;
  }
  if (process.getuid?.() !== 0) return 'booting a container needs root';
  return undefined;
}

/**
 * Makes the cached root file system if it is not there yet (debootstrap, a few minutes, ~450 MB). Test
 * files run in parallel: a lock beside the cache makes one of them build it while the others wait,
 * then find it made.
 */
export async function ensureRootfs(): Promise<void> {
  if (existsSync(path.join(ROOTFS, 'usr/lib/systemd/systemd'))) return;
  mkdirSync(path.dirname(ROOTFS), { recursive: true });
  const partial = `${ROOTFS}.partial-${process.pid}`;
  const script = [
    'set -e',
    '[ ! -e "$1/usr/lib/systemd/systemd" ] || exit 0',
    'rm -rf "$2"',
    'debootstrap --variant=minbase --include="$3" bookworm "$2" http://deb.debian.org/debian || { rm -rf "$2"; exit 1; }',
    'mv "$2" "$1"',
  ].join('\n');
  const r = await execa('flock', [`${ROOTFS}.lock`, 'sh', '-c', script, 'sh', ROOTFS, partial, PACKAGES.join(',')], {
    reject: false,
    all: true,
    timeout: 20 * 60_000,
  });
  if (r.exitCode !== 0) {
    rmSync(partial, { recursive: true, force: true });
    throw new Error(`debootstrap failed (${r.exitCode}): ${String(r.all).split('\n').slice(-5).join(' / ')}`);
  }
}

/** A booted container: run commands inside, power it off, boot it again. */
export interface Container {
  /** Runs a command inside (all of PID 1's namespaces), with a time limit. */
  readonly run: (
    argv: readonly string[],
    options?: { input?: string; timeoutMs?: number },
  ) => Promise<{ code: number; stdout: string; stderr: string }>;
  /** Powers the container off and boots it again on the same overlay (what a reboot keeps, it keeps). */
  readonly reboot: () => Promise<void>;
  /** The container's file system, as this machine sees it (the overlay's merged view). */
  readonly root: string;
  /** What the container printed on its console so far. */
  readonly console: () => string;
}

interface Booted {
  readonly child: ChildProcess;
  readonly pid1: number;
  readonly exited: Promise<number | null>;
}

async function pid1Of(nspawn: number, deadline: number): Promise<number> {
  while (Date.now() < deadline) {
    // nspawn's child is the container's init once it has exec'd systemd.
    const r = await execa('ps', ['-o', 'pid=,comm=', '--ppid', String(nspawn)], { reject: false });
    for (const line of r.stdout.split('\n')) {
      const [pid, comm] = line.trim().split(/\s+/);
      if (comm === 'systemd') return Number(pid);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error('the container did not start systemd');
}

/**
 * Boots the cached system on a fresh overlay, runs `body` with it, then powers it off and removes the
 * overlay on every path.
 */
export async function withContainer<T>(name: string, body: (c: Container) => Promise<T>): Promise<T> {
  // nspawn keeps propagation mounts under /run/systemd/nspawn and refuses to clean them on a /run that is not tmpfs.
  await execa('sh', [
    '-c',
    'mkdir -p /run/systemd/nspawn && (mountpoint -q /run/systemd/nspawn || mount -t tmpfs nfgit-nspawn /run/systemd/nspawn)',
  ]);
  const dir = mkdtempSync(path.join(tmpdir(), `nfgit-systemd-${name}-`));
  const [upper, work, merged] = ['upper', 'work', 'merged'].map((d) => path.join(dir, d)) as [string, string, string];
  await execa('mkdir', ['-p', upper, work, merged]);
  await execa('mount', ['-t', 'overlay', 'nfgit-test', '-o', `lowerdir=${ROOTFS},upperdir=${upper},workdir=${work}`, merged]);
  let out = '';
  let booted: Booted | undefined;
  const machine = `nfgit-${name}-${process.pid}`.slice(0, 60);
  const boot = async (): Promise<Booted> => {
    const child = spawn(
      'systemd-nspawn',
      ['-q', '-D', merged, '-M', machine, '--private-network', '--register=no', '--keep-unit', '-b', '--console=pipe'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const pid1 = await pid1Of(child.pid as number, Date.now() + 120_000);
    return { child, pid1, exited };
  };
  const run: Container['run'] = async (argv, options = {}) => {
    if (booted === undefined) throw new Error('the container is not running');
    const r = await execa('nsenter', ['-t', String(booted.pid1), '-m', '-u', '-i', '-n', '-p', '--', ...argv], {
      reject: false,
      input: options.input ?? '',
      timeout: options.timeoutMs ?? 120_000,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
      extendEnv: false,
    });
    return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
  };
  const powerOff = async (): Promise<void> => {
    if (booted === undefined) return;
    const b = booted;
    booted = undefined;
    await execa('nsenter', ['-t', String(b.pid1), '-m', '-p', '--', 'systemctl', 'poweroff'], { reject: false, timeout: 30_000 });
    const done = await Promise.race([b.exited, new Promise((resolve) => setTimeout(() => resolve('timeout'), 90_000))]);
    if (done === 'timeout') {
      b.child.kill('SIGKILL');
      await b.exited;
    }
  };
  try {
    booted = await boot();
    const container: Container = {
      run,
      root: merged,
      console: () => out,
      reboot: async () => {
        await powerOff();
        booted = await boot();
      },
    };
    return await body(container);
  } finally {
    await powerOff().catch(() => undefined);
    await execa('umount', ['-l', merged], { reject: false });
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Waits until systemd inside says the boot is done (running, or degraded: a unit failed). */
export async function waitBooted(c: Container): Promise<string> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    // Until systemd listens on its private socket, systemctl cannot ask it anything (empty answer).
    const r = await c.run(['systemctl', 'is-system-running', '--wait'], { timeoutMs: 180_000 });
    const state = r.stdout.trim();
    if ((state !== '' && state !== 'offline') || Date.now() > deadline) return state;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** The name of the running Debian release inside, from /etc/os-release. */
export function osRelease(root: string): string {
  return /^VERSION_CODENAME=(.*)$/m.exec(readFileSync(path.join(root, 'etc/os-release'), 'utf8'))?.[1] ?? '';
}
