/**
 * The UTF-8 bytes of a large text, encoded once. An apply hands the same 4 MB ruleset to its hash, to
 * staging, to the journal and to the restore tool; on the machines nfgit runs on a fresh 4 MB buffer
 * costs about 15 ms of the main thread (its pages, more than the encoding), each time it is made.
 * Kept for a short while only: the daemon must not hold a ruleset's bytes between its passes.
 */

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
  const bytes = Buffer.from(text, 'utf8');
  recent.unshift([text, bytes]);
  recent.length = Math.min(recent.length, KEEP);
  if (expiry === undefined) {
    expiry = setTimeout(() => {
      recent.length = 0;
      expiry = undefined;
    }, KEEP_MS);
    expiry.unref();
  }
  return bytes;
}
