import test from 'ava';
import { MAX_BACKOFF_MS, nextDelay, withJitter } from '../../src/agent/backoff.js';

// The delays of the poll loop, with the random source injected.

test('withJitter: the delay plus a random part of the jitter, never less than the delay', (t) => {
  t.is(
    withJitter(30_000, 3000, () => 0),
    30_000,
  );
  t.is(
    withJitter(30_000, 3000, () => 0.5),
    31_500,
  );
  t.is(
    withJitter(30_000, 3000, () => 0.999999),
    32_999,
  );
  t.is(
    withJitter(30_000, 0, () => 0.7),
    30_000,
  );
  t.is(
    withJitter(0, 60_000, () => 0.25),
    15_000,
  );
});

test('withJitter spreads a fleet: a hundred hosts polling together land over the jitter window', (t) => {
  let seed = 42;
  const random = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const delays = Array.from({ length: 100 }, () => withJitter(30_000, 3000, random));
  t.true(delays.every((d) => d >= 30_000 && d < 33_000));
  // Spread over the window's tenths, not bunched in one second.
  t.true(new Set(delays.map((d) => Math.floor((d - 30_000) / 300))).size >= 8);
});

test('nextDelay: the interval without failures; exponential with ±25% after, capped', (t) => {
  t.is(
    nextDelay(30_000, 0, () => 0.9),
    30_000,
  );
  t.is(
    nextDelay(30_000, 1, () => 0.5),
    60_000,
  );
  t.is(
    nextDelay(30_000, 2, () => 0),
    90_000,
  );
  t.is(
    nextDelay(30_000, 30, () => 1),
    MAX_BACKOFF_MS * 1.25,
  );
});
