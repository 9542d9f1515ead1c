// Phase marks for finding where a command's time goes: with NFGIT_TIMINGS=1 in the environment, each
// mark prints "nfgit timing: <ms since the process started> <label>" on stderr. Off (a no-op) otherwise.

import { performance } from 'node:perf_hooks';

const on = process.env['NFGIT_TIMINGS'] === '1';

/** Notes that LABEL was reached (printed only with NFGIT_TIMINGS=1). */
export function mark(label: string): void {
  if (on) process.stderr.write(`nfgit timing: ${performance.now().toFixed(1)} ${label}\n`);
}
