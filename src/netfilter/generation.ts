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

import { readFileSync } from 'node:fs';
import type { Backend } from './backend.js';
import { runInTarget, type Target } from './target.js';

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
 * Opens a netfilter netlink socket; reads its namespace's cookie with getsockopt(SOL_SOCKET,
 * SO_NETNS_COOKIE) through syscall() (perl's getsockopt passes a 256-byte buffer, which the kernel
 * refuses for this option), then sends NFT_MSG_GETGEN and prints the NFTA_GEN_ID of the NEWGEN reply.
 */
const SCRIPT = String.raw`
use strict;
my $getsockopt = $ARGV[0] or exit 3;
socket(my $s, 16, 3, 12) or exit 4;
my $cookie = "\0" x 8; my $len = pack('L', 8);
syscall($getsockopt, fileno($s), 1, 71, $cookie, $len) == 0 or exit 5;
send($s, pack('LSSLL', 20, (10 << 8) | 16, 1, 1, 0) . pack('CCn', 0, 0, 0), 0) or exit 6;
defined recv($s, my $buf, 65536, 0) or exit 7;
my ($mlen, $type) = unpack('LS', $buf);
$type == ((10 << 8) | 15) or exit 8;
for (my $off = 20; $off + 8 <= $mlen && $off + 8 <= length $buf;) {
  my ($alen, $atype) = unpack('SS', substr($buf, $off, 4));
  $alen >= 4 or exit 9;
  if (($atype & 0x3fff) == 1) { printf "%s %u\n", unpack('Q', $cookie), unpack('N', substr($buf, $off + 4, 4)); exit 0; }
  $off += ($alen + 3) & ~3;
}
exit 10;
`;

/**
 * getsockopt's system call number by Node's name of the architecture (the target shares the host's
 * kernel): given to the script, which then needs no `use Config` (which took 5 of perl's 9 ms to start).
 */
const GETSOCKOPT: Readonly<Record<string, number>> = { x64: 55, arm64: 209, riscv64: 209, loong64: 209 };

/** The generation of the target's ruleset now, or undefined when it cannot be known (see the head of the file). */
export async function readGeneration(target: Target, backend: Backend): Promise<Generation | undefined> {
  if (backend.kind !== 'nf_tables') return undefined;
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const getsockopt = GETSOCKOPT[process.arch];
    if (getsockopt === undefined) return undefined;
    const r = await runInTarget(target, ['perl', '-e', SCRIPT, String(getsockopt)], { timeoutMs: 10_000 });
    const m = /^(\d+) (\d+)\n?$/.exec(r.stdout);
    if (r.code !== 0 || m === null || boot === '') return undefined;
    return { boot, netns: m[1] as string, gen: Number(m[2]) };
  } catch {
    return undefined;
  }
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
