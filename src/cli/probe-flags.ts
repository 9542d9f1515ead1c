// The probe and confirmation flags of `nfgit apply`, and `nfgit confirm`.

import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { confirmApply, type Probation } from '../apply/probation.js';
import { DEFAULT_PROBE_DEADLINE_MS, parseTcpProbe, type ProbeCheck } from '../apply/probes.js';
import { DEFAULT_STATE_DIR } from '../util/state-layout.js';
import { failsWith } from './failure.js';

/** The flags added by withProbeFlags. */
export interface ProbeFlags {
  probeTcp: ProbeCheck[];
  probeCommand: ProbeCheck[];
  probeDeadline: number;
  confirm?: number;
}

const parseTcp = (value: string, previous: ProbeCheck[]): ProbeCheck[] => {
  const parsed = parseTcpProbe(value);
  if (typeof parsed === 'string') throw new InvalidArgumentError(parsed.replace(/^must be/, 'expected'));
  return [...previous, { kind: 'tcp', ...parsed }];
};

const parseCommand = (value: string, previous: ProbeCheck[]): ProbeCheck[] => {
  // Split at blanks, no shell: what runs is exactly these words.
  const argv = value.split(/\s+/).filter((w) => w !== '');
  if (argv.length === 0) throw new InvalidArgumentError('expected a command, such as "ping -c1 -W1 10.0.0.1"');
  return [...previous, { kind: 'command', argv }];
};

const parseSeconds = (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of seconds');
  return n;
};

/** Adds --probe-tcp, --probe-command, --probe-deadline and --confirm. */
export function withProbeFlags(cmd: Command): Command {
  return cmd
    .option(
      '--probe-tcp <host:port>',
      'after applying, connect to HOST:PORT from the target ([IPv6]:PORT); roll back unless it connects (repeatable)',
      parseTcp,
      [],
    )
    .option(
      '--probe-command <command>',
      'after applying, run this command (split at blanks, no shell) in the target; roll back unless it exits 0 (repeatable)',
      parseCommand,
      [],
    )
    .option(
      '--probe-deadline <seconds>',
      'how long the probes are retried before the apply is rolled back',
      parseSeconds,
      DEFAULT_PROBE_DEADLINE_MS / 1000,
    )
    .option(
      '--confirm <seconds>',
      'after applying (and probing), wait this long for "nfgit confirm" from another shell; roll back without it',
      parseSeconds,
    );
}

/** The probation asked for by the flags, or undefined (the plain apply). */
export function probationOf(flags: ProbeFlags): Probation | undefined {
  const checks = [...flags.probeTcp, ...flags.probeCommand];
  if (checks.length === 0 && flags.confirm === undefined) return undefined;
  return {
    ...(checks.length === 0 ? {} : { probes: { deadlineMs: flags.probeDeadline * 1000, checks } }),
    ...(flags.confirm === undefined
      ? {}
      : {
          confirm: {
            waitMs: flags.confirm * 1000,
            onWaiting: (w) =>
              process.stderr.write(
                `nfgit: both families hold the new ruleset. Confirm within ${w.waitMs / 1000} s with: nfgit confirm --state-dir ${path.resolve(w.stateDir)}\n` +
                  `nfgit: without it, both families go back to the previous ruleset.\n`,
              ),
          },
        }),
  };
}

/** Adds `nfgit confirm`. */
export function registerConfirm(program: Command): void {
  // Nothing (or nothing alive) to confirm is exit 1, not 2: the command line itself was right.
  failsWith(program.command('confirm'), () => ({ exitCode: (code) => (code === 2 ? 1 : code) }))
    .description(
      'keep the ruleset of an "nfgit apply --confirm SECONDS" that is waiting in the state directory (else it rolls back when the time is up)',
    )
    .option('--state-dir <dir>', 'the state directory of the waiting apply', DEFAULT_STATE_DIR)
    .action(async (flags: { stateDir: string }) => {
      const { StateDir } = await import('../apply/state-files.js');
      const r = await confirmApply(new StateDir(flags.stateDir));
      if (r.kept) process.stdout.write(`confirmed: "${r.command}" keeps the new ruleset\n`);
      else process.stdout.write(`confirmed "${r.command}"; it has not finished yet (its host commands may still run)\n`);
    });
}
