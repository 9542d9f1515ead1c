// Where two large texts differ, found at memcmp speed: the whole lines they share at either end are cut
// off, so that a one-rule change to a 50k-rule save is parsed as a few lines, not 50k of them twice.

/** Characters compared at once: a comparison of two string slices is one memcmp. */
const CHUNK = 4096;

/** The index of the first character at which `a` and `b` differ (the shorter length when one is a prefix). */
function firstDifference(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i + CHUNK <= n && a.slice(i, i + CHUNK) === b.slice(i, i + CHUNK)) i += CHUNK;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/** How many characters `a` and `b` end with alike, at most `max`. */
function commonEnd(a: string, b: string, max: number): number {
  let t = 0;
  while (t + CHUNK <= max && a.slice(a.length - t - CHUNK, a.length - t) === b.slice(b.length - t - CHUNK, b.length - t)) t += CHUNK;
  while (t < max && a.charCodeAt(a.length - 1 - t) === b.charCodeAt(b.length - 1 - t)) t++;
  return t;
}

const atLineStart = (s: string, p: number): boolean => p === 0 || s.charCodeAt(p - 1) === 10;

/** Two texts without the whole lines they share at the start and at the end (each middle ends with its newline). */
export interface DifferingLines {
  readonly a: string;
  readonly b: string;
}

/**
 * The lines of `a` and `b` between the longest run of whole lines they start with alike and the longest
 * run they end with alike (not overlapping it). Equal texts give two empty middles.
 */
export function differingLines(a: string, b: string): DifferingLines {
  if (a === b) return { a: '', b: '' };
  // Back to the start of the line the first difference is in: that line is in both middles.
  const diff = firstDifference(a, b);
  const head = diff === 0 ? 0 : a.lastIndexOf('\n', diff - 1) + 1;
  let tail = commonEnd(a, b, Math.min(a.length, b.length) - head);
  // Forward to a line start in both: within the common end, a newline in one is a newline in the other.
  while (tail > 0 && !(atLineStart(a, a.length - tail) && atLineStart(b, b.length - tail))) {
    const nl = a.indexOf('\n', a.length - tail);
    tail = nl < 0 ? 0 : a.length - nl - 1;
  }
  return { a: a.slice(head, a.length - tail), b: b.slice(head, b.length - tail) };
}
