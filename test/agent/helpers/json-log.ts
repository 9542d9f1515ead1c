// Following the JSON log of a running `nfgit run` child: its lines as they come, and waiting for one.

import type { ChildProcess } from 'node:child_process';

/** One log line of `nfgit run --log-format json`. */
export interface LogLine {
  readonly event: string;
  readonly message: string;
  readonly [k: string]: unknown;
}

/** The log of a child, followed from now on. */
export interface FollowedLog {
  readonly lines: LogLine[];
  stderr(): string;
  exited(): boolean;
  /** Resolves with the first line (seen already or to come) matching pred; rejects after ms, or when the child exits first. */
  waitFor(pred: (l: LogLine) => boolean, ms: number): Promise<LogLine>;
}

/** Reads the child's stdout as JSON lines (other lines are skipped) and keeps its stderr (up to 64 KiB). */
export function followJsonLog(child: ChildProcess): FollowedLog {
  const lines: LogLine[] = [];
  const waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void; reject: (e: Error) => void }> = [];
  let stderr = '';
  let buf = '';
  let gone = false;
  const events = (): string => `events: ${lines.map((l) => l.event).join(', ')}; stderr: ${stderr.trim()}`;
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => {
    if (stderr.length < 64 * 1024) stderr += s;
  });
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (s: string) => {
    buf += s;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as LogLine;
      lines.push(entry);
      for (const w of [...waiters]) {
        if (w.pred(entry)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(entry);
        }
      }
    }
  });
  child.on('exit', (code, signal) => {
    gone = true;
    const err = new Error(`nfgit run exited (${code ?? signal}) before the awaited log line; ${events()}`);
    for (const w of waiters.splice(0)) w.reject(err);
  });
  return {
    lines,
    stderr: () => stderr,
    exited: () => gone,
    waitFor(pred, ms) {
      const seen = lines.find(pred);
      if (seen !== undefined) return Promise.resolve(seen);
      if (gone) return Promise.reject(new Error(`nfgit run has exited; ${events()}`));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(
            waiters.findIndex((w) => w.resolve === done),
            1,
          );
          reject(new Error(`no such log line from nfgit run in ${ms / 1000} s; ${events()}`));
        }, ms);
        const done = (l: LogLine): void => {
          clearTimeout(timer);
          resolve(l);
        };
        waiters.push({ pred, resolve: done, reject: (e) => (clearTimeout(timer), reject(e)) });
      });
    },
  };
}
