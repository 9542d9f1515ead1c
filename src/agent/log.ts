// Logs of the agent: one JSON object per line (for log shippers and jq), readable text when a person
// watches a terminal, or, under journald, readable text with a syslog priority prefix on each line
// (`<4>…`), which journald turns into the entry's priority (so `journalctl -p warning` works) and
// stamps with its own time.

import { fstatSync } from 'node:fs';

/** Severity of a log entry. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The levels, least severe first; a logger at a level writes that level and those after it. */
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Fields of an entry beside time, level, event and message. */
export type LogFields = Readonly<Record<string, unknown>>;

/** Where the agent reports what it does. */
export interface Logger {
  log(level: LogLevel, event: string, message: string, fields?: LogFields): void;
}

/** The format of a logger: JSON lines, text for a terminal, or text with priority prefixes for journald. */
export type LogFormat = 'json' | 'text' | 'journal';

/** The formats, as `--log-format` takes them. */
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'text', 'journal'];

/** syslog priorities of the levels, as journald reads them from a `<N>` prefix (sd-daemon(3)). */
const PRIORITY: Readonly<Record<LogLevel, number>> = { error: 3, warn: 4, info: 6, debug: 7 };

/** A logger writing to a stream (stdout for `run` and `sync`) in a format, leaving out entries below `level`. */
export function streamLogger(
  stream: NodeJS.WritableStream,
  format: LogFormat,
  now: () => Date = () => new Date(),
  level: LogLevel = 'debug',
): Logger {
  const least = LOG_LEVELS.indexOf(level);
  return {
    log(entryLevel, event, message, fields = {}) {
      if (LOG_LEVELS.indexOf(entryLevel) < least) return;
      if (format === 'json') {
        stream.write(JSON.stringify({ time: now().toISOString(), level: entryLevel, event, message, ...fields }) + '\n');
        return;
      }
      const details = Array.isArray(fields['details']) ? (fields['details'] as unknown[]).map(String) : [];
      // The details (and the errors they repeat) go on indented lines of their own, not in the field list.
      const extra = Object.entries(fields)
        .filter(
          ([k, v]) =>
            v !== undefined &&
            v !== null &&
            !(Array.isArray(v) && v.length === 0) &&
            k !== 'details' &&
            !(k === 'errors' && details.length > 0),
        )
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
      const indented = details.flatMap((d) => d.split('\n')).map((l) => `    ${l}`);
      if (format === 'journal') {
        // journald reads each line as an entry of its own: every line gets the prefix. The event
        // leads the fields, so that a line found by `journalctl -g` names what the README explains.
        const prefix = `<${PRIORITY[entryLevel]}>`;
        const lines = [`${message.split('\n').join(' ')}  (${[`event=${event}`, ...extra].join(' ')})`, ...indented];
        stream.write(lines.map((l) => prefix + l + '\n').join(''));
        return;
      }
      const body = indented.map((l) => `\n${l}`).join('');
      stream.write(`${now().toISOString()} ${entryLevel.padEnd(5)} ${message}${extra.length > 0 ? `  (${extra.join(' ')})` : ''}${body}\n`);
    },
  };
}

/** The environment the default format reads. */
export interface LogEnv {
  readonly JOURNAL_STREAM?: string | undefined;
}

/**
 * Whether the stream on descriptor fd is journald's: JOURNAL_STREAM (`DEVICE:INODE`, set by systemd
 * for a unit whose output goes to the journal) names it. A child that inherited the variable but
 * whose output goes elsewhere (a pipe, a file) does not match, as systemd.exec(5) says to check.
 */
export function isJournalStream(fd: number, env: LogEnv = process.env): boolean {
  const given = env.JOURNAL_STREAM;
  if (given === undefined || !/^\d+:\d+$/.test(given)) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return given === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

/** The default format for a stream: journal when it is journald's, text on a terminal, JSON otherwise. */
export function defaultFormat(stream: NodeJS.WritableStream & { isTTY?: boolean; fd?: number }, env: LogEnv = process.env): LogFormat {
  if (stream.fd !== undefined && isJournalStream(stream.fd, env)) return 'journal';
  return stream.isTTY === true ? 'text' : 'json';
}

/** A logger that keeps entries in memory (tests, and the outcome of a pass). */
export function memoryLogger(): Logger & { entries: Array<{ level: LogLevel; event: string; message: string; fields: LogFields }> } {
  const entries: Array<{ level: LogLevel; event: string; message: string; fields: LogFields }> = [];
  return { entries, log: (level, event, message, fields = {}) => entries.push({ level, event, message, fields }) };
}
