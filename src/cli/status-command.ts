import { InvalidArgumentError, type Command } from 'commander';
import type { StatusFlags } from './status-run.js';
import { DURATION_FORMS, parseDuration } from '../agent/duration.js';
import { UsageError } from '../errors/errors.js';
import { withStateDirFlags, type StateDirFlags } from './state-dir-flags.js';

const parseStaleAfter = (value: string): number => {
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
        "show, for each host, the commit it runs and its last decision, from the signed status tags (nfgit/HOST/COMMIT); with --local, what this host's agent is doing, from its state directory",
      )
      .option(
        '--local',
        "this host's agent: running commit, last pass, next pass, failures, drift, pause, pin (reads the state directory; no clone)",
      )
      .option(
        '--stale-after <duration>',
        `mark a host stale when its newest status tag (a decision or an hourly heartbeat) is older than this (${DURATION_FORMS}; default 3h)`,
        parseStaleAfter,
      ),
  )
    .option(
      '--repo <url|path>',
      'rules repository: an http(s) URL (fetched into a temporary directory) or a local clone or bare repository (default: the repository containing the current directory)',
    )
    .option('--branch <name>', 'the branch the hosts follow', 'main')
    .option('--json', "print the fleet view (with --local, this host's status) as JSON on stdout")
    .option(
      '--allowed-signers <file>',
      "allowed_signers file with the hosts' keys (default: the repository's gpg.ssh.allowedSignersFile; without either, signatures are not checked)",
    )
    .option('--token-file <file>', 'token (or USER:TOKEN) for an https --repo')
    .action(async (flags: StatusFlags & StateDirFlags & { local?: boolean }) => {
      if (flags.local === true) {
        const { localStatusCommand } = await import('./status-local.js');
        setCode(await localStatusCommand(flags));
        return;
      }
      if (flags.stateDir !== undefined || flags.config !== undefined) throw new UsageError('--state-dir and --config go with --local');
      const { status } = await import('./status-run.js');
      setCode(await status(flags));
    });
}
