import { StringDecoder } from 'node:string_decoder';

/** One record written by the zsh prelude: a kind, the raw `$funcfiletrace`, and the arguments. */
export interface RawRecord {
  /** See prelude.zsh: `A4`/`A6`/`AM` (aliases), `4`/`6`/`M`, `Q4`/`Q6` (waiting for an answer), `E`, `S`, `Z`, `F`, `B`. */
  readonly kind: string;
  readonly trace: readonly string[];
  readonly args: readonly string[];
}

/**
 * Splits the NUL-separated record stream incrementally (chunks may end anywhere, even inside a
 * UTF-8 character). Every record starts with the run's marker. Counted records are
 * `MARK KIND NTRACE TRACE… NARGS ARGS…`; alias records (`A…`) are `MARK KIND LOC NTRACE TRACE… ARGS…`
 * whose arguments run up to the next marker, since an alias cannot count the words that follow it.
 */

/**
 * The location of an alias record, from the prompt expansion `%x:%I:%N`. Inside an `eval` (`%N` is
 * `(eval)`), zsh's `%I` is the eval's line plus the line within the eval string, one too many: the
 * first line of the string is the eval's own line.
 */
export function aliasLocation(raw: string): string {
  const m = /^(.*?):(\d+):(.*)$/s.exec(raw);
  if (m === null) return raw;
  const line = Number(m[2]);
  return `${m[1] ?? ''}:${m[3] === '(eval)' && line > 1 ? line - 1 : line}`;
}
/** A count field of a record; anything else means the stream is out of step (a rule file changed how zsh expands). */
function count(field: string | undefined): number {
  const n = Number(field);
  if (!Number.isInteger(n) || n < 0 || field === '') throw new Error(`record stream out of step at count ${JSON.stringify(field)}`);
  return n;
}

export class RecordStream {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private fields: string[] = [];
  private pos = 0;

  constructor(private readonly mark: string) {}

  /** Feeds a chunk; returns the records completed by it. */
  push(chunk: Buffer): RawRecord[] {
    const parts = this.decoder.write(chunk).split('\0');
    parts[0] = this.partial + (parts[0] as string);
    this.partial = parts.pop() as string;
    if (this.pos > 0) {
      this.fields = this.fields.slice(this.pos);
      this.pos = 0;
    }
    for (const p of parts) this.fields.push(p);
    return this.drain(false);
  }

  /** At the end of the stream: completes a trailing alias record. */
  end(): RawRecord[] {
    return this.drain(true);
  }

  /** Whether bytes of an unfinished record remain (the writer died mid-record). */
  get pending(): boolean {
    return this.partial !== '' || this.pos < this.fields.length;
  }

  private drain(atEnd: boolean): RawRecord[] {
    const out: RawRecord[] = [];
    const f = this.fields;
    const mark = this.mark;
    for (;;) {
      let p = this.pos;
      if (p >= f.length) break;
      if (f[p] !== mark) throw new Error(`record stream out of step at ${JSON.stringify(f[p])}`);
      p++;
      if (p + 2 > f.length) break;
      const kind = f[p++] as string;
      if (kind.charCodeAt(0) === 65 /* A */) {
        if (p + 2 > f.length) break;
        const loc = aliasLocation(f[p++] as string);
        const nTrace = count(f[p++]);
        if (p + nTrace > f.length) break;
        const trace = [loc];
        for (let i = 0; i < nTrace; i++) trace.push(f[p + i] as string);
        p += nTrace;
        let q = p;
        while (q < f.length && f[q] !== mark) q++;
        if (q === f.length && !atEnd) break;
        out.push({ kind, trace, args: f.slice(p, q) });
        this.pos = q;
        continue;
      }
      if (p + 1 > f.length) break;
      const nTrace = count(f[p++]);
      if (p + nTrace + 1 > f.length) break;
      const trace = f.slice(p, p + nTrace);
      p += nTrace;
      const nArgs = count(f[p++]);
      if (p + nArgs > f.length) break;
      const args = f.slice(p, p + nArgs);
      p += nArgs;
      this.pos = p;
      out.push({ kind, trace, args });
    }
    return out;
  }
}
