// The reconcile schedule of `nfgit run` without node-cron, whose matcher formats every second with
// Intl.DateTimeFormat and so loads ICU into the daemon (issue 15). It reads what cron-expression.ts
// accepts, as node-cron reads it: 5 fields or 6 with seconds first, lists, ranges, steps and names,
// every field must match (node-cron does not OR day of month and day of week as crontab(5) does), in
// the machine's local time. A value with a step (`5/15`) runs from the value to the field's end.

import { cronFieldValues } from './cron-expression.js';

/** The values each field allows, seconds first. */
type Fields = readonly [
  ReadonlySet<number>,
  ReadonlySet<number>,
  ReadonlySet<number>,
  ReadonlySet<number>,
  ReadonlySet<number>,
  ReadonlySet<number>,
];

/** The fields of an expression that cronProblem accepts. */
export function parseCron(expression: string): Fields {
  const given = expression.trim().split(/\s+/);
  const all = given.length === 5 ? ['0', ...given] : given;
  const values = all.map((field, i) => cronFieldValues(field, i));
  // Sunday is 0 and 7.
  const weekdays = new Set([...(values[5] ?? [])].map((d) => (d === 7 ? 0 : d)));
  return [values[0] ?? new Set(), values[1] ?? new Set(), values[2] ?? new Set(), values[3] ?? new Set(), values[4] ?? new Set(), weekdays];
}

/** The first time after `after` (a whole second later at least) that the fields match, in local time; null when none in 8 years. */
export function nextCronTime(fields: Fields, after: Date): Date | null {
  const [seconds, minutes, hours, days, months, weekdays] = fields;
  const t = new Date(after.getTime());
  t.setMilliseconds(0);
  t.setSeconds(t.getSeconds() + 1);
  const limit = after.getTime() + 8 * 366 * 86_400_000;
  while (t.getTime() <= limit) {
    if (!months.has(t.getMonth() + 1)) {
      t.setMonth(t.getMonth() + 1, 1);
      t.setHours(0, 0, 0);
      continue;
    }
    if (!days.has(t.getDate()) || !weekdays.has(t.getDay())) {
      t.setDate(t.getDate() + 1);
      t.setHours(0, 0, 0);
      continue;
    }
    if (!hours.has(t.getHours())) {
      t.setHours(t.getHours() + 1, 0, 0);
      continue;
    }
    if (!minutes.has(t.getMinutes())) {
      t.setMinutes(t.getMinutes() + 1, 0);
      continue;
    }
    if (!seconds.has(t.getSeconds())) {
      t.setSeconds(t.getSeconds() + 1);
      continue;
    }
    return t;
  }
  return null;
}

/** Longest setTimeout (2^31-1 ms): a later time is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Calls fire at every time the expression matches, until stop(). */
export function scheduleCron(expression: string, fire: () => void, now: () => Date = () => new Date()): { stop(): void } {
  const fields = parseCron(expression);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const arm = (from: Date): void => {
    const next = nextCronTime(fields, from);
    if (next === null || stopped) return;
    const wait = (): void => {
      const left = next.getTime() - now().getTime();
      if (left > 0) {
        timer = setTimeout(wait, Math.min(left, MAX_TIMER_MS));
        return;
      }
      fire();
      // From the time that fired (a late timer does not skip the next match), or now when far behind.
      arm(now().getTime() - next.getTime() > 1000 ? now() : next);
    };
    wait();
  };
  arm(now());
  return {
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
