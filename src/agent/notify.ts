// systemd's notify protocol for `nfgit run` under Type=notify: READY=1 once the daemon runs, STATUS=
// lines, WATCHDOG=1 heartbeats, STOPPING=1. Node.js cannot send unix datagrams, so each message is
// one run of `systemd-notify`, which (systemd 252 on) waits for a barrier: the manager has read the
// message before it exits, so the message is attributed to the unit while its sender still lives
// (the unit needs NotifyAccess=all, since the sender is nfgit's child, not its main process).
// Without NOTIFY_SOCKET every call is a no-op.

import { runProcess } from '../util/run-process.js';
import type { AgentConfig } from './config.js';
import type { Logger } from './log.js';
import type { SyncOptions, SyncOutcome } from './pass-types.js';

/** How long one `systemd-notify` may take (its barrier waits up to 5 s for the manager). */
const NOTIFY_TIMEOUT_MS = 15_000;

/** What `nfgit run` tells its service manager. */
export interface Notifier {
  /** Whether there is a manager to tell (NOTIFY_SOCKET is set). */
  readonly enabled: boolean;
  /** READY=1 with a STATUS= line: the configuration is loaded and the first pass is scheduled. */
  ready(status: string): Promise<void>;
  /** A STATUS= line (shown by `systemctl status`). */
  status(text: string): Promise<void>;
  /** STOPPING=1: stopping after the pass in flight. */
  stopping(status: string): Promise<void>;
  /**
   * Sends WATCHDOG=1 every half of WATCHDOG_USEC, when `healthy()` says so, until the returned
   * function is called. Nothing when the manager did not ask for a watchdog.
   */
  watchdog(healthy: () => boolean): () => void;
}

/** The environment variables of the protocol that nfgit reads. */
export interface NotifyEnv {
  readonly NOTIFY_SOCKET?: string | undefined;
  readonly WATCHDOG_USEC?: string | undefined;
  readonly WATCHDOG_PID?: string | undefined;
}

/**
 * The heartbeat interval asked for by the manager: half of WATCHDOG_USEC (as sd_watchdog_enabled(3)
 * advises), or null when there is no watchdog, or it is meant for another process (WATCHDOG_PID).
 */
export function heartbeatIntervalMs(env: NotifyEnv, pid: number): number | null {
  if (env.NOTIFY_SOCKET === undefined || env.NOTIFY_SOCKET === '') return null;
  const usec = Number(env.WATCHDOG_USEC);
  if (env.WATCHDOG_USEC === undefined || !Number.isInteger(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== '' && Number(env.WATCHDOG_PID) !== pid) return null;
  return Math.max(1, Math.floor(usec / 2000));
}

/**
 * The longest a healthy pass can take: the sum of the time limits of its steps (the agent lock,
 * the git requests, the rule files' run, host commands, probes) and a margin for staging and the
 * apply. A pass in flight for longer is hung: the heartbeat stops, so that systemd restarts nfgit.
 */
export function passBoundMs(config: AgentConfig, options: SyncOptions): number {
  const repository = config.repository;
  return (
    options.lockWaitMs +
    // ls-refs, the history floor's fetch, the status tag's push (each bounded by silence), and the fetch of the commit.
    3 * repository.timeoutMs +
    repository.fetchTimeoutMs +
    options.compileTimeoutMs +
    // Host commands run one after the other, each with its limit: a commit has few.
    10 * options.hostCommandTimeoutMs +
    (config.probes?.deadlineMs ?? 0) +
    // Staging, the apply, saving the rulesets, reading and writing the state directory.
    5 * 60_000
  );
}

/** Whether the daemon is healthy for the watchdog: no pass in flight, or one still within its bound. */
export function withinBound(busySinceMs: number | null, nowMs: number, boundMs: number): boolean {
  return busySinceMs === null || nowMs - busySinceMs <= boundMs;
}

/** The notifier of this process: `systemd-notify` runs when NOTIFY_SOCKET is set, else nothing happens. */
export function systemdNotifier(log: Logger, env: NotifyEnv = process.env, command = 'systemd-notify'): Notifier {
  const socket = env.NOTIFY_SOCKET ?? '';
  const enabled = socket !== '';
  let queue: Promise<void> = Promise.resolve();
  let warned = false;
  let inFlight = 0;

  /** Sends assignments in order (one systemd-notify at a time); a failure is logged once, never thrown. */
  const send = (assignments: readonly string[]): Promise<void> => {
    if (!enabled) return Promise.resolve();
    inFlight++;
    queue = queue.then(async () => {
      try {
        // The socket given here, not whatever the environment holds (they are the same but in tests).
        const childEnv = { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', NOTIFY_SOCKET: socket };
        const r = await runProcess(command, assignments, { timeoutMs: NOTIFY_TIMEOUT_MS, env: childEnv });
        if (r.code !== 0) throw new Error(r.timedOut ? 'timed out' : r.stderr.trim() || `exit ${r.code ?? r.signal}`);
      } catch (err) {
        if (!warned) {
          warned = true;
          log.log(
            'warn',
            'notify-failed',
            `cannot tell systemd ${assignments.join(' ')} (NOTIFY_SOCKET is set): ${command}: ${(err as Error).message}; install systemd, or use Type=simple`,
          );
        }
      } finally {
        inFlight--;
      }
    });
    return queue;
  };
  /** STATUS= is one line: a newline would end the assignment. */
  const statusOf = (text: string): string => `STATUS=${text.replace(/\s*\n\s*/g, '; ')}`;

  return {
    enabled,
    ready: (status) => send(['READY=1', statusOf(status)]),
    status: (text) => send([statusOf(text)]),
    stopping: (status) => send(['STOPPING=1', statusOf(status)]),
    watchdog(healthy) {
      const interval = heartbeatIntervalMs(env, process.pid);
      if (interval === null) return () => {};
      let skipping = false;
      const beat = (): void => {
        if (!healthy()) {
          if (!skipping)
            log.log(
              'error',
              'watchdog-stopped',
              'a pass has run longer than the sum of its time limits: no more watchdog heartbeats, so systemd restarts nfgit',
            );
          skipping = true;
          return;
        }
        skipping = false;
        // A heartbeat still on its way is enough: do not queue another behind it.
        if (inFlight === 0) void send(['WATCHDOG=1']);
      };
      beat();
      // A timer, so a heartbeat comes only while the event loop runs; unref'd, so it never keeps nfgit alive.
      const timer = setInterval(beat, interval);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}

/** The STATUS= line after a pass (sent when it changes, so an idle poll sends nothing). */
export function passStatus(outcome: SyncOutcome | Error): string {
  if (outcome instanceof Error) return `last pass failed: ${outcome.message.split('\n')[0] ?? ''}`;
  if (outcome.kind === 'decided') return `${outcome.result} ${outcome.commit.slice(0, 12)}`;
  const running = outcome.applied === null ? 'nothing from git' : outcome.applied.slice(0, 12);
  const drift = outcome.drift === 'repaired' ? '; drift repaired' : outcome.drift === 'reported' ? '; drift reported' : '';
  if (outcome.held !== undefined)
    return `running ${running}, holding ${outcome.commit.slice(0, 12)}: ${outcome.held.split('\n')[0] ?? ''}${drift}`;
  return `running ${running}${outcome.applied === outcome.commit ? ' (the branch head)' : `, branch head ${outcome.commit.slice(0, 12)}`}${drift}`;
}
