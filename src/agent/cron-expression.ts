import { describe } from './describe-value.js';

/** One cron field: its name, its range and, for months and weekdays, the names cron accepts. */
interface CronField {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
}

const CRON_FIELDS: readonly CronField[] = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'],
  },
  // 0 and 7 are both Sunday, as in crontab(5).
  { name: 'day of week', min: 0, max: 7, names: ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'] },
];

/** Checks a cron expression as node-cron reads it (says which field is wrong, which node-cron's validate() cannot): 5 fields, or 6 with seconds first; lists, ranges, steps and names. */
export function cronProblem(expression: string): string | undefined {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    return `must be a cron expression of 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first, not ${describe(expression)}`;
  }
  const specs = CRON_FIELDS.slice(6 - fields.length);
  for (const [i, field] of fields.entries()) {
    const spec = specs[i];
    if (spec === undefined) continue;
    const problem = cronFieldProblem(field, spec);
    if (problem !== undefined) return `is not a valid cron expression: ${problem}, in ${describe(expression)}`;
  }
  return undefined;
}

function cronFieldProblem(field: string, spec: CronField): string | undefined {
  for (const item of field.split(',')) {
    const m = /^(?:\*|([A-Za-z0-9]+)(?:-([A-Za-z0-9]+))?)(?:\/(\d+))?$/.exec(item);
    if (m === null) return `the ${spec.name} field has ${describe(item)}, which is not *, a value, a range a-b, or one of these with /step`;
    for (const value of [m[1], m[2]]) {
      if (value !== undefined && cronValue(value, spec) === undefined) {
        return `the ${spec.name} ${describe(value)} is not ${spec.names === undefined ? '' : 'a name or '}a number from ${spec.min} to ${spec.max}`;
      }
    }
    if (m[3] !== undefined && Number(m[3]) === 0) return `the ${spec.name} step must be at least 1`;
  }
  return undefined;
}

function cronValue(value: string, spec: CronField): number | undefined {
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    return n >= spec.min && n <= spec.max ? n : undefined;
  }
  const lower = value.toLowerCase();
  // Full names and their first three letters, as node-cron accepts.
  const index = spec.names?.findIndex((n) => n === lower || n.slice(0, 3) === lower) ?? -1;
  return index < 0 ? undefined : index + spec.min;
}

/**
 * The values one field of an expression cronProblem accepts allows (field: 0 seconds … 5 day of week;
 * day of week keeps 7, which cron-schedule.ts reads as Sunday). `*` is the field's range; `a/n` runs from a to its end.
 */
export function cronFieldValues(field: string, index: number): Set<number> {
  const spec = CRON_FIELDS[index];
  const out = new Set<number>();
  if (spec === undefined) return out;
  for (const item of field.split(',')) {
    const m = /^(?:\*|([A-Za-z0-9]+)(?:-([A-Za-z0-9]+))?)(?:\/(\d+))?$/.exec(item);
    if (m === null) continue;
    const step = m[3] === undefined ? 1 : Math.max(1, Number(m[3]));
    const from = m[1] === undefined ? spec.min : cronValue(m[1], spec);
    // `*` is 0-6 for days of the week, as node-cron reads it (7 is Sunday again).
    const to =
      m[1] === undefined
        ? spec.max === 7
          ? 6
          : spec.max
        : m[2] !== undefined
          ? cronValue(m[2], spec)
          : m[3] === undefined
            ? from
            : spec.max;
    if (from === undefined || to === undefined) continue;
    for (let v = from; v <= to; v += step) out.add(v);
  }
  return out;
}
