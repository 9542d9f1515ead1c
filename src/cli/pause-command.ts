// `nfgit pause` and `nfgit resume`: stop the agent from applying or repairing anything on this host
// (incident response: a rule added by hand must not be reverted by the next reconcile), and let it
// go on. The pause is a file in the state directory (agent/pause.ts) that every pass reads.

import { InvalidArgumentError, type Command } from 'commander';
import { accessSync, constants, existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { SandboxError, UsageError } from '../errors/errors.js';
import { STATE_FILE } from '../util/state-layout.js';
import { parseDuration, DURATION_FORMS } from '../agent/duration.js';
import { describePause, newPause, pauseFile, pauseState, readPause, removePause, writePause } from '../agent/pause.js';
import { lockStateDir } from '../apply/state-lock.js';
import { resolveStateDir, withStateDirFlags, type StateDirFlags } from './state-dir-flags.js';

interface PauseFlags extends StateDirFlags {
  for?: number;
  reason?: string;
  wait: boolean;
}

const parseFor = (value: string): number => {
  const ms = parseDuration(value);
  if (ms === undefined || ms === 0) throw new InvalidArgumentError(`expected a duration (${DURATION_FORMS})`);
  return ms;
};

/** Who runs the command: the user behind sudo, else the user. */
function who(): string {
  const sudo = process.env['SUDO_USER'];
  if (sudo !== undefined && sudo !== '') return sudo;
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

/** The state directory, checked to exist and be writable: an environment error (exit 3) that says to use root when not. */
function writableStateDir(stateDir: string, command: string): void {
  if (!existsSync(stateDir))
    throw new UsageError(`the state directory ${stateDir} does not exist: give the agent's with --state-dir or --config`);
  try {
    accessSync(stateDir, constants.W_OK);
  } catch {
    throw new SandboxError(
      `cannot write the state directory ${stateDir} (permission denied): run it as root, for example sudo nfgit ${command}`,
    );
  }
}

/**
 * Waits for a pass in flight (the agent's lock), so that once `nfgit pause` returns no pass applies
 * or repairs anything: the next one reads the pause. Says so when it has to wait; a pass that holds
 * the lock past the limit (a stalled server) is a warning, not a failure: the pause is in place.
 */
async function waitForPass(stateDir: string): Promise<void> {
  const take = (waitMs: number) => lockStateDir(stateDir, 'nfgit pause', waitMs, STATE_FILE.agentLock);
  let lock;
  try {
    lock = await take(0);
  } catch (err) {
    if (!(err instanceof SandboxError)) throw err;
    process.stderr.write('nfgit: waiting for the pass in flight to finish (the next one reads the pause; --no-wait to skip)\n');
    try {
      lock = await take(PASS_WAIT_MS);
    } catch (again) {
      if (!(again instanceof SandboxError)) throw again;
      process.stderr.write(`warning: ${again.message}; the pass in flight may still apply or repair, the ones after it will not\n`);
      return;
    }
  }
  lock.release();
}

/** How long `pause` waits for a pass in flight: as long as `sync --lock-timeout` by default. */
const PASS_WAIT_MS = 600_000;

/** Adds `pause` and `resume`. */
export function registerPause(program: Command): void {
  withStateDirFlags(
    program
      .command('pause')
      .description(
        'stop the agent on this host from applying or repairing anything (it keeps polling and reports "paused") until nfgit resume or the end of --for',
      )
      .option('--for <duration>', `end the pause by itself after this long (${DURATION_FORMS})`, parseFor)
      .option('--reason <text>', 'why (shown by status --local, the log and the status tag)')
      .option('--no-wait', 'return at once instead of waiting for a pass in flight to finish'),
  ).action(async (flags: PauseFlags) => {
    const { stateDir } = await resolveStateDir(flags);
    writableStateDir(stateDir, 'pause');
    const pause = newPause(who(), new Date(), flags.for ?? null, flags.reason ?? null);
    writePause(stateDir, pause);
    if (flags.wait) await waitForPass(stateDir);
    process.stdout.write(`${describePause(pause)}\nthe agent applies and repairs nothing until then (pause file ${pauseFile(stateDir)})\n`);
  });

  withStateDirFlags(program.command('resume').description('end a pause: the next pass of the agent applies and repairs again')).action(
    async (flags: StateDirFlags) => {
      const { stateDir } = await resolveStateDir(flags);
      const pause = readPause(stateDir);
      if (pause === undefined) {
        process.stdout.write('the agent is not paused\n');
        return;
      }
      writableStateDir(stateDir, 'resume');
      removePause(stateDir);
      const ended = pauseState(pause, new Date()) === 'expired' ? ' (it had already run out)' : '';
      process.stdout.write(`resumed: ended the pause by ${pause.by}${ended}; the next pass applies and repairs again\n`);
    },
  );
}
