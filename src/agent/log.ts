// Structured logs of the agent: one JSON object per line (for journald, Loki, jq), or readable text
// when a person watches a terminal.

/** Severity of a log entry. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Fields of an entry beside time, level, event and message. */
export type LogFields = Readonly<Record<string, unknown>>;

/** Where the agent reports what it does. */
export interface Logger {
  log(level: LogLevel, event: string, message: string, fields?: LogFields): void;
}

/** The format of a logger: JSON lines, or text for a terminal. */
export type LogFormat = 'json' | 'text';

/** A logger writing to a stream (stdout for `run`, stderr for `sync`), JSON lines unless format is text. */
export function streamLogger(stream: NodeJS.WritableStream, format: LogFormat, now: () => Date = () => new Date()): Logger {
  return {
    log(level, event, message, fields = {}) {
      const time = now().toISOString();
      if (format === 'json') {
        stream.write(JSON.stringify({ time, level, event, message, ...fields }) + '\n');
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
      const body = details
        .flatMap((d) => d.split('\n'))
        .map((l) => `\n    ${l}`)
        .join('');
      stream.write(`${time} ${level.padEnd(5)} ${message}${extra.length > 0 ? `  (${extra.join(' ')})` : ''}${body}\n`);
    },
  };
}

/** The default format for a stream: text on a terminal, JSON otherwise. */
export function defaultFormat(stream: NodeJS.WritableStream & { isTTY?: boolean }): LogFormat {
  return stream.isTTY === true ? 'text' : 'json';
}

/** A logger that keeps entries in memory (tests, and the outcome of a pass). */
export function memoryLogger(): Logger & { entries: Array<{ level: LogLevel; event: string; message: string; fields: LogFields }> } {
  const entries: Array<{ level: LogLevel; event: string; message: string; fields: LogFields }> = [];
  return { entries, log: (level, event, message, fields = {}) => entries.push({ level, event, message, fields }) };
}
