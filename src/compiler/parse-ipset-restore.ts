// `ipset restore` input inside a rule file (`ipset restore <<EOF … EOF`, `ipset restore -file F`):
// one ipset command a line, without the word `ipset`, as ipset 7 reads it (lib/ipset.c,
// ipset_parse_stream and build_argv): blank lines and `#` comments skipped, `COMMIT` accepted, words
// split at blanks with double quotes grouping (a comment with spaces), global flags on any line. Pure.

import { parseIpset, type IpsetCall } from './parse-ipset.js';

/** One command of the input, with its line (1-based) in the input. */
export interface IpsetRestoreLine {
  readonly call: IpsetCall;
  readonly line: number;
}

export type IpsetRestoreParse =
  | { readonly ok: true; readonly commands: readonly IpsetRestoreLine[] }
  | { readonly ok: false; readonly line: number; readonly message: string };

/** The commands ipset refuses inside restore input (ipset: "Command `X' is invalid in restore mode"). */
const INVALID_IN_RESTORE = new Set(['restore', 'version', 'help']);

/** Splits one line into words as ipset's build_argv does: blanks separate, double quotes group. */
export function ipsetWords(line: string): string[] | undefined {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quoted = false;
  for (const c of line) {
    if (c === '"') {
      quoted = !quoted;
      inWord = true;
    } else if (!quoted && (c === ' ' || c === '\t')) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quoted) return undefined;
  if (inWord) words.push(word);
  return words;
}

/**
 * Parses restore input; `exist` and `quiet` are the flags of the `ipset restore` call itself, which
 * every line inherits. The first bad line is the error, with its number.
 */
export function parseIpsetRestore(input: string, exist: boolean, quiet: boolean): IpsetRestoreParse {
  const commands: IpsetRestoreLine[] = [];
  const lines = input.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const [i, text] of lines.entries()) {
    const line = i + 1;
    const trimmed = text.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed === 'COMMIT') continue;
    const words = ipsetWords(trimmed);
    if (words === undefined) return { ok: false, line, message: `a double quote is not closed` };
    const parsed = parseIpset(words);
    if (!parsed.ok) return { ok: false, line, message: `${parsed.message}` };
    const call = parsed.call;
    if (INVALID_IN_RESTORE.has(call.op)) return { ok: false, line, message: `Command \`${call.op}' is invalid in restore mode.` };
    if (call.op === 'list' || call.op === 'save') {
      return {
        ok: false,
        line,
        message: `${call.op} inside restore input is not supported in a rule file; call ipset ${call.op} after the restore`,
      };
    }
    commands.push({ call: { ...call, exist: call.exist || exist, quiet: call.quiet || quiet }, line });
  }
  return { ok: true, commands };
}
