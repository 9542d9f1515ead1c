import { InvalidArgumentError, type Command } from 'commander';
import type { StatusFlags } from './status-run.js';
import { DURATION_FORMS, parseDuration } from '../agent/duration.js';
import { UsageError } from '../errors/errors.js';
import { withStateDirFlags, type StateDirFlags } from './state-dir-flags.js';

const parseDurationFlag = (value: string): number => {
  const ms = parseDuration(value);
  if (ms === undefined || ms === 0) throw new InvalidArgumentError(`expected a duration (${DURATION_FORMS})`);
  return ms;
};

/** Adds `nfgit status`: the fleet view from status tags, with signatures verified; with --local, this host's agent. */
export function registerStatus(program: Command, setCode: (n: number) => void): void {
  withStateDirFlags(
    program
      .command('status')
      .description(
        "show, for each host, the commit it runs and its last report, from its current status ref (refs/nfgit/hosts/HOST, a signed status tag object), with a summary line; with --history, one host's reports; with --local, what this host's agent is doing, from its state directory",
      )
      .option(
        '--local',
        "this host's agent: running commit, last pass, next pass, failures, drift, pause, pin (reads the state directory; no clone)",
      )
      .option(
        '--stale-after <duration>',
        `mark a host stale when its newest report (a decision or a heartbeat) is older than this (${DURATION_FORMS}; default 3h)`,
        parseDurationFlag,
      ),
  )
    .option(
      '--repo <url|path>',
      'rules repository: an http(s) URL (its current status refs listed and fetched) or a local clone or bare repository, read in place (default: the repository containing the current directory)',
    )
    .option('--branch <name>', 'the branch the hosts follow', 'main')
    .option('--json', "print the fleet view (with --local, this host's status) as JSON on stdout")
    .option(
      '--allowed-signers <file>',
      "allowed_signers file with the hosts' keys (default: the repository's gpg.ssh.allowedSignersFile; without either, signatures are not checked)",
    )
    .option('--token-file <file>', 'token (or USER:TOKEN) for an https --repo')
    .option(
      '--host <pattern>',
      "only the hosts whose names match this glob (* ? [..], several separated by commas: 'web*,db1'); errors shown whole",
    )
    .option('--failed', 'only hosts whose last report is refused, rolled-back or untrusted, unreadable, or whose signature fails')
    .option('--stale <duration>', `only hosts whose newest report is older than this (${DURATION_FORMS})`, parseDurationFlag)
    .option(
      '--history',
      "with --host HOST: that host's reports, newest first (from its current ref through Previous-Tag links, and its tags)",
    )
    .action(async (flags: StatusFlags & StateDirFlags & { local?: boolean }) => {
      if (flags.local === true) {
        const fleetOnly = (['host', 'failed', 'stale', 'history'] as const).filter((k) => flags[k] !== undefined);
        if (fleetOnly.length > 0) throw new UsageError(`--${fleetOnly[0]} goes with the fleet view, not with --local`);
        const { localStatusCommand } = await import('./status-local.js');
        setCode(await localStatusCommand(flags));
        return;
      }
      if (flags.stateDir !== undefined || flags.config !== undefined) throw new UsageError('--state-dir and --config go with --local');
      const { status } = await import('./status-run.js');
      setCode(await status(flags));
    });
}
