// `iptables-restore` input read by a rule file (`iptables-restore <<EOF … EOF`, `iptables-restore
// FILE`): split into table blocks of chain declarations and rule lines, each with its line number,
// the way iptables-restore reads it (iptables/iptables-restore.c; words split as xshared.c's
// add_param_to_argv does: blanks separate, double quotes group, a backslash escapes the next
// character, single quotes are plain characters). Pure: the compiler applies the blocks to its model.

/** A chain declaration `:NAME POLICY [packets:bytes]`; policy `-` for a user chain. */
export interface RestoreChain {
  readonly name: string;
  readonly policy: string;
  readonly line: number;
}

/** One `*table` … `COMMIT` block. */
export interface RestoreBlock {
  readonly table: string;
  readonly line: number;
  readonly chains: readonly RestoreChain[];
  /** Rule lines as argv words (`-A CHAIN …`, or any command iptables-restore accepts in a block). */
  readonly commands: ReadonlyArray<{ readonly argv: readonly string[]; readonly line: number }>;
}

/** The blocks, or where and why the input is not restore input (as iptables-restore words it). */
export type ParsedRestore =
  | { readonly ok: true; readonly blocks: readonly RestoreBlock[] }
  | { readonly ok: false; readonly line: number; readonly message: string };

/** Splits one line into words as iptables-restore does. */
export function restoreWords(text: string): { ok: true; words: string[] } | { ok: false; message: string } {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (c === '"') {
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
  if (quoted) return { ok: false, message: 'Unterminated quoted string' };
  if (inWord) words.push(word);
  return { ok: true, words };
}

/** Parses restore input into table blocks. */
export function parseRestore(text: string): ParsedRestore {
  const blocks: RestoreBlock[] = [];
  let current: { table: string; line: number; chains: RestoreChain[]; commands: Array<{ argv: string[]; line: number }> } | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const raw = (lines[i] as string).replace(/\r$/, '');
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    if (trimmed.startsWith('*')) {
      if (current !== undefined) return { ok: false, line, message: `COMMIT expected at line ${line}` };
      current = { table: trimmed.slice(1).trim(), line, chains: [], commands: [] };
      continue;
    }
    if (current === undefined) return { ok: false, line, message: `no table specified at line ${line} (a *table line must come first)` };
    if (trimmed === 'COMMIT') {
      blocks.push(current);
      current = undefined;
      continue;
    }
    if (trimmed.startsWith(':')) {
      const m = /^:(\S+)\s+(\S+)(?:\s+\[\d+:\d+\])?$/.exec(trimmed);
      if (m === null) return { ok: false, line, message: `bad chain declaration at line ${line}: ${trimmed}` };
      current.chains.push({ name: m[1] as string, policy: m[2] as string, line });
      continue;
    }
    const words = restoreWords(trimmed);
    if (!words.ok) return { ok: false, line, message: `${words.message} at line ${line}` };
    current.commands.push({ argv: words.words, line });
  }
  if (current !== undefined) return { ok: false, line: lines.length, message: `COMMIT expected at line ${lines.length}` };
  return { ok: true, blocks };
}
