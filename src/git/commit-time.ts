// The committer time of a raw commit, which git uses as the time of an SSH signature when it checks
// allowed_signers valid-after/valid-before (gpg-interface.c, `-Overify-time=`).

const COMMITTER = /^committer [^\n]*> (\d+) [+-]\d{4}$/;
const COMMITTER_EMAIL = /^committer [^\n]*<([^<>\n]*)> \d+ [+-]\d{4}$/;

/** The first `committer` line of a raw commit's header, or undefined. */
function committerLine(raw: Uint8Array | string, encoding: 'latin1' | 'utf8'): string | undefined {
  const text = typeof raw === 'string' ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString(encoding);
  const headerEnd = text.indexOf('\n\n');
  const header = headerEnd < 0 ? text : text.slice(0, headerEnd);
  return header.split('\n').find((line) => line.startsWith('committer '));
}

/** The committer time from the header of a raw commit (or its signed payload); undefined when there is no valid committer line. */
export function committerTime(raw: Uint8Array | string): Date | undefined {
  const line = committerLine(raw, 'latin1');
  const m = line === undefined ? null : COMMITTER.exec(line);
  const seconds = Number(m?.[1]);
  return m === null || !Number.isSafeInteger(seconds) ? undefined : new Date(seconds * 1000);
}

/** The committer e-mail (between the last `<` and `>`) of a raw commit; undefined when there is no valid committer line. */
export function committerEmail(raw: Uint8Array | string): string | undefined {
  const line = committerLine(raw, 'utf8');
  return line === undefined ? undefined : COMMITTER_EMAIL.exec(line)?.[1];
}
