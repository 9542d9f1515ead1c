/**
 * Quoting for iptables-restore input. Its tokenizer (xshared.c add_param_to_argv) splits on spaces
 * and tabs; only double quotes group, and inside them a backslash makes the next character literal.
 * Outside quotes every character is literal, so a bare word needs no escaping.
 */

/** Longest single parameter iptables-restore accepts ("Parameter too long!"). */
export const MAX_PARAM_LENGTH = 1023;
/** Most arguments a restore line may carry. */
export const MAX_ARGS = 255;
/** iptables-restore reads lines into a buffer of this size. */
export const MAX_LINE_LENGTH = 10240;

/** Quotes one argument for a restore line, or returns why it cannot be carried. */
const NEEDS_CARE = /[\s"\\'\0]/;
const UNSAFE_IN_QUOTES = /[\n\r\0"\\]/;

export function quoteRestoreArg(arg: string): { ok: true; text: string } | { ok: false; message: string } {
  // The common case first: a short plain word (3 bytes a UTF-16 unit at most, so 341 units fit in 1023 bytes).
  if (arg.length <= 341) {
    if (arg !== '' && !NEEDS_CARE.test(arg)) return { ok: true, text: arg };
    if (!UNSAFE_IN_QUOTES.test(arg)) return { ok: true, text: `"${arg}"` };
  }
  if (/[\n\r\0]/.test(arg)) {
    return { ok: false, message: `argument ${JSON.stringify(arg)} contains a newline or NUL, which iptables-restore cannot read` };
  }
  if (Buffer.byteLength(arg, 'utf8') > MAX_PARAM_LENGTH) {
    return {
      ok: false,
      message: `argument of ${Buffer.byteLength(arg, 'utf8')} bytes is longer than the ${MAX_PARAM_LENGTH} bytes iptables-restore accepts in one parameter`,
    };
  }
  if (arg !== '' && !/[ \t"\\']/.test(arg)) return { ok: true, text: arg };
  return { ok: true, text: `"${arg.replace(/[\\"]/g, '\\$&')}"` };
}

/** A rule spec as restore input: its quoted words joined by spaces, or why one cannot be carried. */
export type QuotedSpec = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly message: string };

/** Quotes every word of a rule spec (the part of its restore line after `-A CHAIN`). */
export function quoteSpec(spec: readonly string[]): QuotedSpec {
  // Joined, not concatenated: a rule keeps this text until the end, and a chain of concatenations
  // would keep one string object a word.
  const words: string[] = [];
  for (const arg of spec) {
    const q = quoteRestoreArg(arg);
    if (!q.ok) return q;
    words.push(q.text);
  }
  return { ok: true, text: words.join(' ') };
}
