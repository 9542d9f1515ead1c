/**
 * The UTF-8 bytes of a large text, encoded once. An apply hands the same 4 MB ruleset to its hash, to
 * staging, to the journal and to the restore tool; on the machines nfgit runs on a fresh 4 MB buffer
 * costs about 15 ms of the main thread (its pages, more than the encoding), each time it is made.
 * Kept for a short while only: the daemon must not hold a ruleset's bytes between its passes.
 */

import { randomFill } from 'node:crypto';

/** Texts shorter than this are encoded each time (it costs nothing). */
const LARGE = 1 << 16;
/** An apply's new rulesets (both families), the recorded ones and their canonical forms. */
const KEEP = 6;
/** How long the bytes are kept after they are made: longer than any one command's use of them. */
const KEEP_MS = 30_000;

const recent: Array<[string, Buffer]> = [];
let expiry: NodeJS.Timeout | undefined;

/** The text's UTF-8 bytes; the same Buffer for the same (or an equal) text made a moment ago. Never written to. */
export function bytesOf(text: string): Buffer {
  if (text.length < LARGE) return Buffer.from(text, 'utf8');
  for (const [t, bytes] of recent) if (t === text) return bytes;
  const bytes = fromReserve(text) ?? Buffer.from(text, 'utf8');
  keep(text, bytes);
  return bytes;
}

/** Keeps BYTES as TEXT's for a while (KEEP texts at most). */
function keep(text: string, bytes: Buffer): void {
  recent.unshift([text, bytes]);
  recent.length = Math.min(recent.length, KEEP);
  keepForAWhile();
}

/**
 * Offers BYTES, from which TEXT was decoded (a file read), as its bytes: bytesOf then gives them, not
 * an encoding of the text again, when they are that encoding for sure: one character a byte, none of
 * them an invalid byte replaced by U+FFFD (an ASCII text; other texts are encoded as usual).
 */
export function knownBytes(text: string, bytes: Buffer): void {
  if (text.length < LARGE || text.length !== bytes.length || text.includes('\uFFFD')) return;
  for (const [t] of recent) if (t === text) return;
  keep(text, bytes);
}

/** Drops the bytes (and the reserve) KEEP_MS after the first of them was made. */
function keepForAWhile(): void {
  if (expiry !== undefined) return;
  expiry = setTimeout(() => {
    recent.length = 0;
    reserve = undefined;
    expiry = undefined;
  }, KEEP_MS);
  expiry.unref();
}

/** Memory whose pages are in place, for the bytes of the texts to come (reserveBytes). */
let reserve: { readonly buf: Buffer; used: number; ready: boolean } | undefined;

/**
 * Puts SIZE bytes of memory in place for the texts an apply will encode after its compile: its pages
 * are written once in libuv's threads (crypto.randomFill: a read of /dev/zero leaves them unbacked),
 * while the rule files run, so that encoding a text there costs the main thread the copy only (under
 * a millisecond for 4 MB of ASCII, against ~20 ms into fresh pages on our VMs). Replaces the
 * reserve of an earlier apply; dropped with the bytes made in it (KEEP_MS from now). Best effort:
 * until the pages are in place, texts get fresh buffers. The promise says when they are (for tests;
 * it never fails).
 */
export function reserveBytes(size: number): Promise<void> {
  if (size < LARGE) return Promise.resolve();
  // An earlier apply's reserve (the daemon's last pass) is replaced, not reused: its room may be used
  // up. Its expiry goes with it: this apply's bytes must not be dropped at the earlier apply's timer.
  const r = { buf: Buffer.allocUnsafeSlow(size), used: 0, ready: false };
  reserve = r;
  clearTimeout(expiry);
  expiry = undefined;
  keepForAWhile();
  return new Promise((resolve) =>
    randomFill(r.buf, (err) => {
      r.ready = err === null;
      resolve();
    }),
  );
}

/** The text's bytes written into the reserve, if it is in place and has room for them. */
function fromReserve(text: string): Buffer | undefined {
  const r = reserve;
  if (r === undefined || !r.ready) return undefined;
  const size = Buffer.byteLength(text, 'utf8');
  if (r.used + size > r.buf.length) return undefined;
  const at = r.used;
  // An ASCII text (a byte a character) is its own Latin-1 encoding, which Buffer writes 30-50 times
  // faster than UTF-8 (0.3 ms for 4 MB, against 15 ms).
  r.used += r.buf.write(text, at, size === text.length ? 'latin1' : 'utf8');
  return r.buf.subarray(at, r.used);
}
