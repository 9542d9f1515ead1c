// Git's pkt-line framing (gitprotocol-common(5)): four hex digits of length (the digits included),
// then the payload; `0000` flush, `0001` delimiter, `0002` response end. Pure.

/** One unit of a pkt-line stream. */
export type Pkt = { readonly kind: 'data'; readonly payload: Buffer } | { readonly kind: 'flush' | 'delim' | 'end' };

/** The largest pkt-line (length digits included) git sends or accepts. */
export const MAX_PKT = 65520;

/** Thrown when an answer is not well-formed pkt-lines, or stops in the middle of one. */
export class PktLineError extends Error {}

/** One data pkt-line holding text (a final newline is added unless there is one) or bytes. */
export function pktLine(data: string | Buffer): Buffer {
  const payload = typeof data === 'string' ? Buffer.from(data.endsWith('\n') ? data : `${data}\n`, 'utf8') : data;
  if (payload.length + 4 > MAX_PKT) throw new PktLineError(`a pkt-line of ${payload.length} bytes is too long`);
  return Buffer.concat([Buffer.from((payload.length + 4).toString(16).padStart(4, '0'), 'latin1'), payload]);
}

export const FLUSH = Buffer.from('0000', 'latin1');
export const DELIM = Buffer.from('0001', 'latin1');

/**
 * Splits a whole answer into pkt-lines, from offset. Stops at the end of the buffer; a line cut short
 * is a PktLineError (an answer that ends early must never read as a shorter answer). Returns the
 * lines and where the last one ended.
 */
export function readPkts(buf: Buffer, offset = 0, stopAfterFlush = false): { pkts: Pkt[]; end: number } {
  const pkts: Pkt[] = [];
  let at = offset;
  while (at < buf.length) {
    if (at + 4 > buf.length) throw new PktLineError(`the answer ends inside a pkt-line length (at byte ${at})`);
    const digits = buf.toString('latin1', at, at + 4);
    if (!/^[0-9a-f]{4}$/i.test(digits)) throw new PktLineError(`not a pkt-line length: "${printable(digits)}" at byte ${at}`);
    const n = parseInt(digits, 16);
    if (n === 0 || n === 1 || n === 2) {
      pkts.push({ kind: n === 0 ? 'flush' : n === 1 ? 'delim' : 'end' });
      at += 4;
      if (n === 0 && stopAfterFlush) break;
      continue;
    }
    if (n < 4) throw new PktLineError(`a pkt-line length of ${n} at byte ${at}`);
    if (at + n > buf.length) throw new PktLineError(`the answer ends inside a pkt-line of ${n} bytes (at byte ${at}): it was cut short`);
    pkts.push({ kind: 'data', payload: buf.subarray(at + 4, at + n) });
    at += n;
  }
  return { pkts, end: at };
}

/** A data line's text without its final newline. */
export function pktText(p: Pkt): string | null {
  if (p.kind !== 'data') return null;
  const s = p.payload.toString('utf8');
  return s.endsWith('\n') ? s.slice(0, -1) : s;
}

function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?');
}
