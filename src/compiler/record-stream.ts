import { StringDecoder } from 'node:string_decoder';

/** One record written by the zsh prelude: a kind, the raw `$funcfiletrace`, and the arguments. */
export interface RawRecord {
  /** `4`/`6`: iptables/ip6tables (asynchronous); `Q4`/`Q6`: the same, waiting for an answer; `M`: main; `E`: a failed command; `S`: a rule file starts; `F`: a forbidden tool; `B`: a bypass of the functions; `Z`: all files done. */
  readonly kind: string;
  readonly trace: readonly string[];
  readonly args: readonly string[];
}

/**
 * Splits the NUL-separated stream `KIND NTRACE TRACE… NARGS ARGS…` into records, incrementally:
 * chunks may end anywhere, even inside a UTF-8 character.
 */
export class RecordStream {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private fields: string[] = [];
  private pos = 0;

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
    return this.drain();
  }

  /** Whether bytes of an unfinished record remain (the writer died mid-record). */
  get pending(): boolean {
    return this.partial !== '' || this.pos < this.fields.length;
  }

  private drain(): RawRecord[] {
    const out: RawRecord[] = [];
    const f = this.fields;
    for (;;) {
      let p = this.pos;
      if (p + 2 > f.length) break;
      const kind = f[p++] as string;
      const nTrace = Number(f[p++]);
      if (p + nTrace + 1 > f.length) break;
      const trace = f.slice(p, p + nTrace);
      p += nTrace;
      const nArgs = Number(f[p++]);
      if (p + nArgs > f.length) break;
      const args = f.slice(p, p + nArgs);
      p += nArgs;
      this.pos = p;
      out.push({ kind, trace, args });
    }
    return out;
  }
}
