import { StringDecoder } from 'node:string_decoder';

/** One record written by the zsh prelude: a kind, the raw `$funcfiletrace`, and the arguments. */
export interface RawRecord {
  /** See prelude.zsh: `A4`/`A6`/`AM`/`V` (aliases), `4`/`6`/`M`, `Q4`/`Q6` (waiting for an answer), `E`, `S`, `Z`, `F`, `B`. */
  readonly kind: string;
  readonly trace: readonly string[];
  readonly args: readonly string[];
}

/**
 * Splits the NUL-separated record stream incrementally (chunks may end anywhere, even inside a
 * UTF-8 character). Every record starts with the run's marker. Counted records are
 * `MARK KIND NTRACE TRACE… NARGS ARGS…`; alias records (`A…`, `V`) are
 * `MARK KIND LINENO NTRACE TRACE… SOURCES… NAMES… ARGS…` (NTRACE each: `$funcfiletrace`,
 * `$funcsourcetrace`, `$funcstack`, see aliasLocation) whose arguments run up to the next marker,
 * since an alias cannot count the words that follow it;
 * the fast mode's functions (`U…`) write `MARK KIND NARGS ARGS… TRACE…`, the arguments as one word
 * (one empty field when there are none) and the trace up to the next marker (prelude.zsh says why).
 */
/**
 * The location of an alias record, as `%x:%I` would say it (and the exact mode's `$funcfiletrace`
 * does): from `$LINENO`, the innermost frame's `$funcsourcetrace` entry (`FILE:FIRST`, its file and
 * the line its code starts at, 0 for a sourced file) and its `$funcstack` name. Inside an `eval`
 * (named `(eval)`) zsh counts the eval string's first line as 1, on the eval's own line: one less.
 */
export function aliasLocation(lineno: string, source: string, name: string): string {
  const colon = source.lastIndexOf(':');
  const line = Number(lineno) + Number(source.slice(colon + 1));
  return `${source.slice(0, colon)}:${name === '(eval)' && line > 1 ? line - 1 : line}`;
}
/** A count field of a record; anything else means the stream is out of step (a rule file changed how zsh expands). */
function count(field: string | undefined): number {
  const n = Number(field);
  if (!Number.isInteger(n) || n < 0 || field === '') throw new Error(`record stream out of step at count ${JSON.stringify(field)}`);
  return n;
}

export class RecordStream {
  private readonly decoder = new StringDecoder('utf8');
  /** Decoded text not yet consumed from `pos` on (records are read from it in place, not split first). */
  private buf = '';
  private pos = 0;
  /** A record's start (`MARK\0`) and the start of the next one after a field's NUL. */
  private readonly head: string;
  private readonly next: string;
  /** The marker's first character, which findNext searches for. */
  private readonly lead: string;

  constructor(mark: string) {
    this.head = mark + '\0';
    this.next = '\0' + mark + '\0';
    this.lead = mark.slice(0, 1);
  }

  /** Feeds a chunk; returns the records completed by it. */
  push(chunk: Buffer): RawRecord[] {
    const text = this.decoder.write(chunk);
    this.buf = this.pos === 0 ? this.buf + text : this.buf.slice(this.pos) + text;
    this.pos = 0;
    return this.drain(false);
  }

  /** At the end of the stream: completes a trailing alias record. */
  end(): RawRecord[] {
    return this.drain(true);
  }

  /** Whether bytes of an unfinished record remain (the writer died mid-record). */
  get pending(): boolean {
    return this.pos < this.buf.length;
  }

  private drain(atEnd: boolean): RawRecord[] {
    const out: RawRecord[] = [];
    const buf = this.buf;
    const head = this.head;
    for (;;) {
      const start = this.pos;
      if (start >= buf.length) break;
      if (!buf.startsWith(head, start)) {
        if (head.startsWith(buf.slice(start))) break;
        const nul = buf.indexOf('\0', start);
        throw new Error(`record stream out of step at ${JSON.stringify(buf.slice(start, nul < 0 ? start + 40 : nul))}`);
      }
      const p = start + head.length;
      const e = buf.indexOf('\0', p);
      if (e < 0) break;
      const kind = buf.slice(p, e);
      const c0 = kind.charCodeAt(0);
      const r =
        c0 === 65 /* A */ || c0 === 85 /* U */ || c0 === 86 /* V */ ? this.open(buf, e + 1, kind, atEnd) : counted(buf, e + 1, kind);
      if (r === undefined) break;
      out.push(r.record);
      this.pos = r.end;
    }
    return out;
  }

  /**
   * Where `next` (NUL, marker, NUL) occurs from `from` on, or -1. Searched by the marker's first
   * character, which is in no field as a rule, and then compared: V8's indexOf runs a pattern this long
   * (34 characters) through Boyer-Moore-Horspool at a fraction of the speed of its one-character search
   * (159 of 1,500 ms of a 50k compile), and a search that starts with NUL stops at every field.
   */
  private findNext(buf: string, from: number): number {
    const { next, lead } = this;
    for (let m = buf.indexOf(lead, from + 1); m >= 0; m = buf.indexOf(lead, m + 1)) {
      if (buf.charCodeAt(m - 1) === 0 && buf.startsWith(next, m - 1)) return m - 1;
    }
    return -1;
  }

  /** An alias (A, V) or function (U) record from after its kind: its fields up to the next marker (or the end). */
  private open(buf: string, from: number, kind: string, atEnd: boolean): Parsed | undefined {
    let p = from;
    let e: number;
    let trace: string[];
    let nArgs = 0;
    const alias = kind.charCodeAt(0) !== 85;
    if (alias) {
      e = buf.indexOf('\0', p);
      if (e < 0) return undefined;
      const lineno = buf.slice(p, e);
      p = e + 1;
      e = buf.indexOf('\0', p);
      if (e < 0) return undefined;
      const nTrace = count(buf.slice(p, e));
      p = e + 1;
      // Then nTrace each of $funcfiletrace, $funcsourcetrace and $funcstack: the first two of the latter make the location.
      trace = [''];
      for (let i = 0; i < nTrace; i++) {
        e = buf.indexOf('\0', p);
        if (e < 0) return undefined;
        trace.push(buf.slice(p, e));
        p = e + 1;
      }
      if (nTrace === 0) {
        // No frame: the prelude's own code (the compiler drops its frames, as it does `:LINE`).
        trace[0] = `:${lineno}`;
      } else {
        e = buf.indexOf('\0', p);
        if (e < 0) return undefined;
        const source = buf.slice(p, e);
        // The other frames' sources, then the names up to the innermost frame's.
        for (let i = 1; i <= nTrace; i++) {
          p = e + 1;
          e = buf.indexOf('\0', p);
          if (e < 0) return undefined;
        }
        trace[0] = aliasLocation(lineno, source, buf.slice(p, e));
        p = e + 1;
        for (let i = 1; i < nTrace; i++) {
          e = buf.indexOf('\0', p);
          if (e < 0) return undefined;
          p = e + 1;
        }
      }
    } else {
      e = buf.indexOf('\0', p);
      if (e < 0) return undefined;
      nArgs = count(buf.slice(p, e));
      p = e + 1;
      trace = [];
    }
    // The NUL that ends the last field before the next marker (p - 1 when there is none).
    let q = this.findNext(buf, p - 1);
    if (q < 0) {
      if (!atEnd) return undefined;
      q = buf.lastIndexOf('\0');
    }
    const rest = q < p ? [] : fieldsBetween(buf, p, q);
    if (alias) return { record: { kind, trace, args: rest }, end: q + 1 };
    const fields = Math.max(nArgs, 1);
    if (rest.length < fields) throw new Error(`record stream out of step in a ${kind} record of ${nArgs} arguments`);
    return { record: { kind, trace: rest.slice(fields), args: nArgs === 0 ? [] : rest.slice(0, nArgs) }, end: q + 1 };
  }
}

interface Parsed {
  readonly record: RawRecord;
  /** Where the next record starts. */
  readonly end: number;
}

/**
 * The NUL-separated fields of [p, q), as `buf.slice(p, q).split('\0')` gives them, a third faster
 * (each field cut from the buffer, not from a slice of it): 50k records of 20 fields at 50k rules.
 */
function fieldsBetween(buf: string, p: number, q: number): string[] {
  const out: string[] = [];
  for (let s = p; ; ) {
    const e = buf.indexOf('\0', s);
    if (e < 0 || e >= q) {
      out.push(buf.slice(s, q));
      return out;
    }
    out.push(buf.slice(s, e));
    s = e + 1;
  }
}

/** Reads `count` NUL-ended fields from `p`; undefined when the buffer ends first. */
function fields(buf: string, p: number, n: number): { values: string[]; end: number } | undefined {
  const values: string[] = [];
  let at = p;
  for (let i = 0; i < n; i++) {
    const e = buf.indexOf('\0', at);
    if (e < 0) return undefined;
    values.push(buf.slice(at, e));
    at = e + 1;
  }
  return { values, end: at };
}

/** A counted record from after its kind: NTRACE TRACE… NARGS ARGS…. */
function counted(buf: string, from: number, kind: string): Parsed | undefined {
  let e = buf.indexOf('\0', from);
  if (e < 0) return undefined;
  const trace = fields(buf, e + 1, count(buf.slice(from, e)));
  if (trace === undefined) return undefined;
  e = buf.indexOf('\0', trace.end);
  if (e < 0) return undefined;
  const args = fields(buf, e + 1, count(buf.slice(trace.end, e)));
  if (args === undefined) return undefined;
  return { record: { kind, trace: trace.values, args: args.values }, end: args.end };
}
