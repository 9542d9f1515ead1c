// The generation of a network namespace's ruleset. nf_tables numbers every commit in a namespace (the
// generation id, NFT_MSG_GETGEN), and the kernel gives each namespace a cookie it never hands out again
// until the host reboots (SO_NETNS_COOKIE, Linux 5.14). The boot id, the cookie and the generation
// together name one state of the namespace's ruleset: when they are what was read right after the last
// apply, nothing has been committed since, by anyone, and the live ruleset is the one recorded then. An
// incremental apply then needs no save of the live ruleset to prove that it did not drift (the save of
// 50,000 rules takes half a second; this takes milliseconds).
//
// Node has no netlink socket, so perl asks the kernel (perl-base is Essential on Debian: it is on every
// host). Any doubt (no perl, an older kernel, an architecture whose getsockopt number is not listed
// here, the legacy backend, which commits nothing to nf_tables) gives undefined, and the caller saves
// the ruleset as it always did.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { onExit } from '../util/exit-hooks.js';
import { toolEnv } from '../util/sandbox.js';
import type { Backend } from './backend.js';
import { commandInTarget, runInTarget, type Target } from './target.js';

/** One state of a namespace's nf_tables ruleset. */
export interface Generation {
  /** /proc/sys/kernel/random/boot_id: cookies and generations start again at each boot. */
  readonly boot: string;
  /** The namespace's cookie (SO_NETNS_COOKIE), in decimal. */
  readonly netns: string;
  /** The generation id: one more at every commit in the namespace. */
  readonly gen: number;
}

/**
 * Opens a netfilter netlink socket and reads its namespace's cookie with getsockopt(SOL_SOCKET,
 * SO_NETNS_COOKIE) through syscall() (perl's getsockopt passes a 256-byte buffer, which the kernel
 * refuses for this option); then, for each line of input, sends NFT_MSG_GETGEN and prints the cookie
 * and the NFTA_GEN_ID of the NEWGEN reply on a line. Any failure ends it (with a status that names
 * the step): the reader then knows nothing.
 */
const SCRIPT = String.raw`
use strict;
my $getsockopt = $ARGV[0] or exit 3;
$| = 1;
socket(my $s, 16, 3, 12) or exit 4;
my $cookie = "\0" x 8; my $len = pack('L', 8);
syscall($getsockopt, fileno($s), 1, 71, $cookie, $len) == 0 or exit 5;
my $seq = 0;
LINE: while (defined(my $line = <STDIN>)) {
  $seq++;
  send($s, pack('LSSLL', 20, (10 << 8) | 16, 1, $seq, 0) . pack('CCn', 0, 0, 0), 0) or exit 6;
  defined recv($s, my $buf, 65536, 0) or exit 7;
  my ($mlen, $type) = unpack('LS', $buf);
  $type == ((10 << 8) | 15) or exit 8;
  for (my $off = 20; $off + 8 <= $mlen && $off + 8 <= length $buf;) {
    my ($alen, $atype) = unpack('SS', substr($buf, $off, 4));
    $alen >= 4 or exit 9;
    if (($atype & 0x3fff) == 1) { printf "%s %u\n", unpack('Q', $cookie), unpack('N', substr($buf, $off + 4, 4)); next LINE; }
    $off += ($alen + 3) & ~3;
  }
  exit 10;
}
`;

/**
 * getsockopt's system call number by Node's name of the architecture (the target shares the host's
 * kernel): given to the script, which then needs no `use Config` (which took 5 of perl's 9 ms to start).
 */
const GETSOCKOPT: Readonly<Record<string, number>> = { x64: 55, arm64: 209, riscv64: 209, loong64: 209 };

/** How long one reading may take. */
const READ_TIMEOUT_MS = 10_000;

/** One reading's line of the script ("COOKIE GEN") as a generation, or undefined. */
function parseReading(line: string, boot: string): Generation | undefined {
  const m = /^(\d+) (\d+)$/.exec(line);
  return m === null || boot === '' ? undefined : { boot, netns: m[1] as string, gen: Number(m[2]) };
}

/** The host's boot id, or '' when it cannot be read. */
function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

/** The generation of the target's ruleset now, or undefined when it cannot be known (see the head of the file). */
export async function readGeneration(target: Target, backend: Backend): Promise<Generation | undefined> {
  if (backend.kind !== 'nf_tables') return undefined;
  try {
    const getsockopt = GETSOCKOPT[process.arch];
    if (getsockopt === undefined) return undefined;
    const r = await runInTarget(target, ['perl', '-e', SCRIPT, String(getsockopt)], { input: '\n', timeoutMs: READ_TIMEOUT_MS });
    return r.code === 0 ? parseReading(r.stdout.trimEnd(), bootId()) : undefined;
  } catch {
    return undefined;
  }
}

/** Reads generations of one target, each in a millisecond or so instead of a process started for it (30-60 ms). */
export interface GenerationReader {
  /** What readGeneration would read now (undefined for a backend other than nf_tables, or once the reader failed). */
  read(backend: Backend): Promise<Generation | undefined>;
  /** Ends the reader (it ends too when nfgit does, its input closed). */
  close(): void;
}

/**
 * Starts the script in the target, waiting for requests: started while the rules compile, so that
 * the readings of an apply (before, before the restores, after them) cost no process each. It holds
 * no reference on the event loop while no reading is asked for.
 */
export function startGenerationReader(target: Target): GenerationReader {
  const getsockopt = GETSOCKOPT[process.arch];
  const boot = bootId();
  if (getsockopt === undefined || boot === '') return { read: () => Promise.resolve(undefined), close: () => {} };
  const [file, ...args] = commandInTarget(target, ['perl', '-e', SCRIPT, String(getsockopt)]);
  const child = spawn(file as string, args, { stdio: ['pipe', 'pipe', 'ignore'], env: toolEnv() });
  const waiting: Array<(g: Generation | undefined) => void> = [];
  let ended = false;
  let rest = '';
  // The child's pipes are sockets (ref/unref), though typed as plain streams.
  const stdout = child.stdout as Socket | null;
  const idle = (): void => {
    child.unref();
    stdout?.unref();
    (child.stdin as Socket | null)?.unref();
  };
  const busy = (): void => {
    child.ref();
    stdout?.ref();
  };
  const end = (): void => {
    if (ended) return;
    ended = true;
    dropExit();
    child.stdin?.end();
    child.kill();
    for (const resolve of waiting.splice(0)) resolve(undefined);
    idle();
  };
  const dropExit = onExit(() => child.kill());
  child.on('error', end);
  child.on('exit', end);
  child.stdin?.on('error', () => {});
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) waiting.shift()?.(parseReading(line, boot));
    if (waiting.length === 0) idle();
  });
  idle();
  return {
    read(backend) {
      if (ended || backend.kind !== 'nf_tables') return Promise.resolve(undefined);
      return new Promise((resolve) => {
        const timer = setTimeout(end, READ_TIMEOUT_MS);
        waiting.push((g) => {
          clearTimeout(timer);
          resolve(g);
        });
        busy();
        child.stdin?.write('\n');
      });
    },
    close: end,
  };
}

/** Whether two readings name the same state of the same namespace. */
export function sameGeneration(a: Generation | undefined, b: Generation | undefined): boolean {
  return a !== undefined && b !== undefined && a.boot === b.boot && a.netns === b.netns && a.gen === b.gen;
}

/**
 * The state after the restores between two readings, if they made every commit in between: the
 * iptables-nft restore tools commit once per table block (each COMMIT line), and nobody else may have
 * committed meanwhile. Undefined otherwise (another namespace, a reboot, or a commit that was not ours).
 */
export function afterOwnCommits(before: Generation | undefined, after: Generation | undefined, commits: number): Generation | undefined {
  if (before === undefined || after === undefined || before.boot !== after.boot || before.netns !== after.netns) return undefined;
  return after.gen - before.gen === commits ? after : undefined;
}

/** The commits a restore input makes: one per table block. */
export function commitsOf(restoreText: string): number {
  let n = 0;
  for (const line of restoreText.split('\n')) if (line === 'COMMIT') n++;
  return n;
}
