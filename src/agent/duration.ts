// Durations in configuration files: `500ms`, `30s`, `5m`, `2h`, `1d` and combinations such as `1m30s`.

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;

/** Largest unit first, the order in which they must appear and in which formatDuration writes them. */
const UNITS: readonly Unit[] = ['d', 'h', 'm', 's', 'ms'];

/** How a duration is written, for error messages. */
export const DURATION_FORMS = '500ms, 30s, 5m, 2h, 1d, or a combination such as 1m30s';

/** Milliseconds in a duration such as `30s` or `1m30s`; undefined when the text is not one. */
export function parseDuration(text: string): number | undefined {
  // `ms` before `m`, so that `500ms` is not read as 500 minutes and a stray `s`.
  const re = /(\d+)(ms|d|h|m|s)/y;
  let total = 0;
  let last = -1;
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    const match = re.exec(text);
    if (match === null) return undefined;
    const [whole, digits = '', unit = ''] = match;
    const rank = UNITS.indexOf(unit as Unit);
    // Each unit at most once and largest first, so that `30s1m` or `1m1m` is not silently summed.
    if (rank <= last) return undefined;
    last = rank;
    total += Number(digits) * UNIT_MS[unit as Unit];
    at += whole.length;
  }
  return at === 0 || !Number.isSafeInteger(total) ? undefined : total;
}

/** Writes milliseconds the way parseDuration reads them: `1m30s`, `500ms`, `0s` (rounded to whole milliseconds). */
export function formatDuration(ms: number): string {
  let rest = Math.round(Math.abs(ms));
  let text = '';
  for (const unit of UNITS) {
    const n = Math.floor(rest / UNIT_MS[unit]);
    if (n > 0) text += `${n}${unit}`;
    rest -= n * UNIT_MS[unit];
  }
  return (ms < 0 && text !== '' ? '-' : '') + (text === '' ? '0s' : text);
}
