// `nfgit sync` and `nfgit run`: the agent's commands. The agent's modules (isomorphic-git, openpgp,
// zod) are loaded when one of these commands runs, so that `nfgit check` (run by hooks on every push)
// starts as fast as before. `nfgit run` itself is run-daemon.ts (main.ts goes there without this file).

import { InvalidArgumentError, type Command } from 'commander';
import { defaultFormat, LOG_FORMATS, LOG_LEVELS, streamLogger, type LogFormat, type Logger, type LogLevel } from '../agent/log.js';
import { writeSync } from 'node:fs';
import type { SyncOptions } from '../agent/pass-types.js';
import type { NfgitError } from '../errors/errors.js';
import { failsWith } from './failure.js';
import { collect } from './compile-flags.js';
import { parsePreserve } from '../netfilter/preserve.js';

interface AgentFlags {
  config: string;
  logFormat?: LogFormat;
  logLevel?: LogLevel;
  retry?: boolean;
  allowRewrite?: boolean;
  reconcile?: boolean;
  lockTimeout: number;
  preserve: string[];
}

const parseFormat = (value: string): LogFormat => {
  const format = LOG_FORMATS.find((f) => f === value);
  if (format === undefined) throw new InvalidArgumentError(`expected ${LOG_FORMATS.join(', ')}`);
  return format;
};

const parseLevel = (value: string): LogLevel => {
  const level = LOG_LEVELS.find((l) => l === value);
  if (level === undefined) throw new InvalidArgumentError(`expected ${LOG_LEVELS.join(', ')}`);
  return level;
};

const parseSeconds = (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number of seconds');
  return n;
};

function withAgentFlags(cmd: Command): Command {
  // A failure that ends the command is logged, as everything the agent says.
  return failsWith(cmd, (flags) => ({ print: (errors) => logFailure(loggerFor(flags as unknown as AgentFlags), errors) }))
    .requiredOption('--config <file>', 'the agent configuration (YAML)')
    .option(
      '--log-format <format>',
      "json (one object per line), text, or journal (text with <N> priority prefixes; default: journal when stdout is journald's (JOURNAL_STREAM), text on a terminal, else json)",
      parseFormat,
    )
    .option(
      '--log-level <level>',
      'the least severe entries written: debug, info, warn or error (default: log.level of the configuration, info)',
      parseLevel,
    )
    .option('--allow-rewrite', 'accept a branch head that does not descend from the running commit (force-pushed history)')
    .option('--retry', 'decide the branch head again even if it was refused before')
    .option('--lock-timeout <seconds>', 'how long to wait for another nfgit using the state directory', parseSeconds, 600)
    .option(
      '--preserve <pattern>',
      "chains of other software to leave alone, added to the configuration's preserve: DOCKER*, nat:DOCKER, @docker, @fail2ban, @kube-proxy, @crowdsec (repeatable)",
      collect,
      [],
    );
}

/** The logger of a command: --log-level, else the configuration's log.level, else info. */
function loggerFor(flags: AgentFlags, configured: LogLevel = 'info'): Logger {
  return streamLogger(process.stdout, flags.logFormat ?? defaultFormat(process.stdout), undefined, flags.logLevel ?? configured);
}

function syncOptions(flags: AgentFlags, defaults: SyncOptions): SyncOptions {
  return {
    ...defaults,
    retry: flags.retry === true,
    allowRewrite: flags.allowRewrite === true,
    reconcile: flags.reconcile !== false,
    lockWaitMs: flags.lockTimeout * 1000,
  };
}

/** The configuration with the --preserve patterns added (checked: a bad one is a usage error). */
function withPreserve<C extends { readonly preserve: readonly string[] }>(config: C, extra: readonly string[]): C {
  if (extra.length === 0) return config;
  parsePreserve(extra, '--preserve');
  return { ...config, preserve: [...config.preserve, ...extra] };
}

/** Logs the errors that ended a command (its exit code: 2 configuration, 3 transient, 70 bug). */
function logFailure(log: Logger, errors: readonly NfgitError[]): void {
  for (const e of errors) log.log('error', 'failed', e.format(), { code: e.code });
}

/** Adds `sync` and `run` to the program; setCode sets the exit code. */
export function registerAgent(program: Command, setCode: (code: number) => void): void {
  withAgentFlags(
    program
      .command('sync')
      .description(
        'one pass of the agent: if the branch moved, verify, compile, stage, apply and tag the new commit; else check for drift. Exit 0 ok, 1 a commit refused, 2 configuration, 3 temporary failure (retry)',
      ),
  )
    .option('--no-reconcile', 'do not compare the live ruleset with the applied one')
    .action(async (flags: AgentFlags) => {
      const { loadConfig } = await import('../agent/config.js');
      const { exitCodeOf, SYNC_DEFAULTS, syncOnce } = await import('../agent/sync.js');
      const config = withPreserve(await loadConfig(flags.config), flags.preserve);
      const log = loggerFor(flags, config.log.level);
      const outcome = await syncOnce(config, syncOptions(flags, SYNC_DEFAULTS), log);
      setCode(exitCodeOf(outcome));
    });

  withAgentFlags(
    program
      .command('run')
      .description(
        'the agent daemon: poll the branch, reconcile on the schedule; SIGHUP or creating the trigger file (config trigger:, default /run/nfgit/trigger) syncs now; SIGTERM stops after the pass in flight',
      ),
  ).action(async (flags: AgentFlags) => {
    // Reached when run-command.ts hands its arguments over (a form of them it does not read): the same small daemon.
    const { runDaemon } = await import('./run-daemon.js');
    setCode(await runDaemon(flags));
  });

  // `nfgit run`'s helper (run-daemon.ts), not for people: the daemon does not load the modules it needs.
  // Its other helper, `_run-pass`, is run-pass-command.ts (main.ts goes there without commander).
  withAgentFlags(
    program.command('_run-config', { hidden: true }).description('checks the configuration as `nfgit run` does; its JSON on descriptor 3'),
  ).action(async (flags: AgentFlags) => {
    const { loadConfig } = await import('../agent/config.js');
    const { checkConfigFiles } = await import('../agent/config-files.js');
    const { configToJson } = await import('../agent/config-json.js');
    const config = withPreserve(await loadConfig(flags.config), flags.preserve);
    // What the configuration names is checked before anything starts, as `config check` does: a bad
    // one ends run with exit 2, which nfgit.service does not restart (RestartPreventExitStatus=2
    // looks at the main process only, so run itself must fail, not just the ExecStartPre check).
    await checkConfigFiles(config);
    writeSync(3, configToJson(config));
  });
}
