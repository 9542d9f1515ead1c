// `nfgit run`, the agent daemon, kept small (issue 15): this process loads neither the configuration's
// validation (zod, yaml), nor git (isomorphic-git), nor the compiler or the apply. The configuration
// is read and checked by a child (`nfgit _run-config`, which fails as `nfgit run` always failed: the
// same logged errors, the same exit code, passed on here), each pass that may act runs as a child
// (agent/pass-process.ts), and idle polls are answered here (agent/idle-poll.ts).

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { configFromJson } from '../agent/config-json.js';
import { startDaemon } from '../agent/daemon.js';
import { defaultFormat, streamLogger, type LogFormat, type LogLevel } from '../agent/log.js';
import { passBoundMs, passStatus, systemdNotifier, withinBound } from '../agent/notify.js';
import { processPasses } from '../agent/pass-process.js';
import { SYNC_DEFAULTS, type SyncOptions } from '../agent/pass-types.js';

/** The flags of `nfgit run`. */
export interface RunFlags {
  readonly config: string;
  readonly logFormat?: LogFormat;
  readonly logLevel?: LogLevel;
  readonly retry?: boolean;
  readonly allowRewrite?: boolean;
  /** Seconds. */
  readonly lockTimeout: number;
  readonly preserve: readonly string[];
}

/** Runs the daemon until SIGTERM; its exit code. */
export async function runDaemon(flags: RunFlags): Promise<number> {
  // Until the daemon runs, a signal ends nfgit as it ends every command.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.removeAllListeners(sig);
    process.on(sig, () => process.exit(sig === 'SIGINT' ? 130 : 143));
  }
  // The script node runs: dist/src/cli/main.js, or the bundle of the Debian package (where this module has no file of its own).
  const script = process.argv[1] === undefined ? fileURLToPath(new URL('./main.js', import.meta.url)) : path.resolve(process.argv[1]);
  const command: [string, ...string[]] = [process.execPath, ...process.execArgv, script];
  const format = flags.logFormat ?? defaultFormat(process.stdout);
  const given = [
    '--config',
    flags.config,
    '--log-format',
    format,
    ...(flags.logLevel === undefined ? [] : ['--log-level', flags.logLevel]),
    ...flags.preserve.flatMap((p) => ['--preserve', p]),
  ];
  const loaded = await configChild(command, given);
  if (typeof loaded === 'number') return loaded;
  const config = configFromJson(loaded);
  const level = flags.logLevel ?? config.log.level;
  const log = streamLogger(process.stdout, format, undefined, level);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeAllListeners(sig);
  // Under systemd (Type=notify): ready once the configuration is loaded and the first pass scheduled.
  const notifier = systemdNotifier(log);
  let lastStatus = '';
  const sync: SyncOptions = {
    ...SYNC_DEFAULTS,
    retry: flags.retry === true,
    allowRewrite: flags.allowRewrite === true,
    reconcile: false,
    lockWaitMs: flags.lockTimeout * 1000,
  };
  const passes = processPasses(config, log, { command, configJson: loaded, sync, format, level });
  const daemon = startDaemon(config, log, {
    passes,
    onPass: (_reason, outcome) => {
      const status = passStatus(outcome);
      if (status !== lastStatus) void notifier.status((lastStatus = status));
    },
  });
  void notifier.ready(`following ${config.repository.branch} of ${config.repository.url}; first pass running`);
  const bound = passBoundMs(config, sync);
  const stopWatchdog = notifier.watchdog(() => withinBound(daemon.busySince(), performance.now(), bound));
  let signals = 0;
  const onStop = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.log('warn', 'killed', `${sig} again: exiting now; the next nfgit command finishes or undoes any interrupted apply`);
      passes.killPass();
      process.exit(143);
    }
    log.log('info', 'signal', `${sig}: stopping after the pass in flight (send it again to exit at once)`);
    void notifier.stopping('stopping after the pass in flight');
    void daemon.stop();
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', () => {
    log.log('info', 'signal', 'SIGHUP: syncing now');
    daemon.trigger('signal');
  });
  await daemon.done;
  stopWatchdog();
  // The last messages reach the manager before nfgit exits.
  await notifier.status('stopped');
  return 0;
}

/**
 * The configuration, read and checked by `nfgit _run-config` (the checks of `nfgit run` before it
 * starts: config.ts, --preserve, the files it names), as JSON; or the exit code of its failure, which
 * it has logged to the same standard output.
 */
async function configChild(command: readonly [string, ...string[]], flags: readonly string[]): Promise<string | number> {
  const [file, ...args] = command;
  const child = spawn(file, [...args, '_run-config', ...flags], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
  const chunks: Buffer[] = [];
  child.stdio[3]?.on('data', (b: Buffer) => chunks.push(b));
  const code = await new Promise<number>((resolve) => {
    child.on('error', () => resolve(70));
    child.on('close', (c, signal) => resolve(c ?? (signal === 'SIGINT' ? 130 : 143)));
  });
  if (code !== 0) return code;
  return Buffer.concat(chunks).toString('utf8');
}
