// The flags of the commands that change a target (apply, restore-last): where, the state
// directory, the families, and the time limits.

import type { Command } from 'commander';
import type { ApplyOptions } from '../apply/apply.js';
import { parsePreserve } from '../netfilter/preserve.js';
import { targetOf } from '../netfilter/target.js';
import { DEFAULT_STATE_DIR } from '../util/state-layout.js';
import { parseSeconds } from './compile-flags.js';

/** The apply flags as commander parses them. */
export interface ApplyFlags {
  preserve?: string[];
  netns?: string;
  stateDir: string;
  ipv4Only?: boolean;
  lockTimeout: number;
  hostCommandTimeout: number;
  restoreTimeout: number;
  json?: boolean;
}

/** The apply options the flags ask for; `argv` is recorded in the journal as the command. */
export function applyOptions(flags: ApplyFlags, argv: readonly string[]): ApplyOptions {
  return {
    preserve: parsePreserve(flags.preserve ?? [], '--preserve'),
    target: targetOf(flags.netns),
    stateDir: flags.stateDir,
    ipv4Only: flags.ipv4Only === true,
    lockWaitMs: flags.lockTimeout * 1000,
    hostCommandTimeoutMs: flags.hostCommandTimeout * 1000,
    restoreTimeoutMs: flags.restoreTimeout * 1000,
    command: ['nfgit', ...argv.slice(2)].join(' '),
  };
}

/** Adds --netns, --state-dir, --ipv4-only, --lock-timeout, --host-command-timeout and --restore-timeout to a command. */
export function withApplyFlags(cmd: Command): Command {
  return cmd
    .option('--netns <name>', 'apply inside this named network namespace (ip netns) instead of the host')
    .option('--state-dir <dir>', 'journal, lock and last good ruleset', DEFAULT_STATE_DIR)
    .option('--ipv4-only', 'manage IPv4 only (for hosts with IPv6 disabled)')
    .option('--lock-timeout <seconds>', 'how long to wait for another nfgit using the state directory', parseSeconds, 60)
    .option('--host-command-timeout <seconds>', 'time limit of each main host command', parseSeconds, 30)
    .option(
      '--restore-timeout <seconds>',
      'time limit of each iptables-restore/ip6tables-restore run; one that hangs is killed and both families put back',
      parseSeconds,
      60,
    );
}
