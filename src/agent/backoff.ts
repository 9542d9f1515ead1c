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

/**
 * A delay spread by poll.jitter: the delay plus a random part of jitterMs, so that hosts started
 * together (a fleet rebooted, a cron reconcile at :00) do not all reach the git server in the same second.
 */
export function withJitter(delayMs: number, jitterMs: number, random: () => number = Math.random): number {
  return delayMs + Math.floor(Math.max(0, jitterMs) * random());
}
