// The committer time of a raw commit, which git uses as the time of an SSH signature when it checks
// allowed_signers valid-after/valid-before (gpg-interface.c, `-Overify-time=`).

const COMMITTER = /^committer [^\n]*> (\d+) [+-]\d{4}$/;

/** The committer time from the header of a raw commit (or its signed payload); undefined when there is no valid committer line. */
export function committerTime(raw: Uint8Array | string): Date | undefined {
  const text = typeof raw === 'string' ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1');
  const headerEnd = text.indexOf('\n\n');
  const header = headerEnd < 0 ? text : text.slice(0, headerEnd);
  for (const line of header.split('\n')) {
    if (!line.startsWith('committer ')) continue;
    const m = COMMITTER.exec(line);
    const seconds = Number(m?.[1]);
    return m === null || !Number.isSafeInteger(seconds) ? undefined : new Date(seconds * 1000);
  }
  return undefined;
}
