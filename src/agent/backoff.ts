// When the agent tries again after failures: exponential backoff with jitter, so that a fleet does
// not hammer a git server that just came back all at the same second.

/** Longest wait between two attempts after failures. */
export const MAX_BACKOFF_MS = 10 * 60_000;

/** The delay before the next poll: the interval, or after n failures in a row an exponential backoff with ±25% jitter. */
export function nextDelay(intervalMs: number, failures: number, random: () => number = Math.random): number {
  if (failures === 0) return intervalMs;
  const base = Math.min(MAX_BACKOFF_MS, Math.max(intervalMs, 1000) * 2 ** Math.min(failures, 20));
  return Math.round(base * (0.75 + random() * 0.5));
}
