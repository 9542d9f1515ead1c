// Splitting raw git commit and tag objects (as isomorphic-git's readObject({format: 'content'}) gives
// them) into the signed payload and the signature, the way git itself does (commit.c
// parse_buffer_signed_by_header, gpg-interface.c parse_signed_buffer). isomorphic-git reads back only
// OpenPGP signatures correctly, so SSH-signed objects must be split here.

/** The kind of a signature: SSH (gpg.format=ssh), OpenPGP, another format git knows (X.509), or none. */
export type SignatureKind = 'ssh' | 'pgp' | 'other' | 'none';

/** A raw object split for verification: the exact bytes that were signed, and the armored signature. */
export interface SplitObject {
  readonly payload: Buffer;
  /** The armored signature with its trailing newline; null when the object is not signed. */
  readonly signature: string | null;
  readonly kind: SignatureKind;
}

/** The lines that start a signature git recognises, by kind (gpg-interface.c). */
const MARKERS: ReadonlyArray<readonly [string, SignatureKind]> = [
  ['-----BEGIN SSH SIGNATURE-----', 'ssh'],
  ['-----BEGIN PGP SIGNATURE-----', 'pgp'],
  ['-----BEGIN PGP MESSAGE-----', 'pgp'],
  ['-----BEGIN SIGNED MESSAGE-----', 'other'],
];

/** The commit header that holds the signature in a SHA-1 repository (SHA-256 ones use `gpgsig-sha256`). */
const SIG_HEADER = Buffer.from('gpgsig ', 'latin1');
const ANY_SIG_HEADER = Buffer.from('gpgsig', 'latin1');
const NEWLINE = 0x0a;
const SPACE = 0x20;

/** Bytes of a raw object. */
function bytesOf(raw: Uint8Array | string): Buffer {
  return typeof raw === 'string' ? Buffer.from(raw, 'utf8') : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
}

/** The kind of an armored signature, from its first line; 'none' for null or empty. */
export function signatureKind(signature: string | null): SignatureKind {
  if (signature === null || signature === '') return 'none';
  for (const [marker, kind] of MARKERS) if (signature.startsWith(marker)) return kind;
  return 'other';
}

/**
 * Splits a raw commit: the signature is the `gpgsig` header (continuation lines start with a space),
 * the payload the commit without it. Other signature headers (`gpgsig-sha256`) are left out of the
 * payload too, as git does; `mergetag` headers stay.
 */
export function splitSignedCommit(raw: Uint8Array | string): SplitObject {
  const buf = bytesOf(raw);
  const payload: Buffer[] = [];
  const signature: Buffer[] = [];
  let inSignature = false;
  let otherSignature = false;
  let saw = false;
  let line = 0;
  while (line < buf.length) {
    const nl = buf.indexOf(NEWLINE, line);
    let next = nl < 0 ? buf.length : nl + 1;
    let sigStart = -1;
    if (inSignature && buf[line] === SPACE) sigStart = line + 1;
    else if (buf.subarray(line, line + SIG_HEADER.length).equals(SIG_HEADER)) {
      sigStart = line + SIG_HEADER.length;
      otherSignature = false;
    } else if (buf.subarray(line, line + ANY_SIG_HEADER.length).equals(ANY_SIG_HEADER)) otherSignature = true;
    else if (otherSignature && buf[line] !== SPACE) otherSignature = false;
    if (sigStart >= 0) {
      signature.push(buf.subarray(sigStart, next));
      saw = true;
      inSignature = true;
    } else {
      if (buf[line] === NEWLINE) next = buf.length; // the blank line: the rest is the message
      if (!otherSignature) payload.push(buf.subarray(line, next));
      inSignature = false;
    }
    line = next;
  }
  if (!saw) return { payload: Buffer.from(buf), signature: null, kind: 'none' };
  const text = Buffer.concat(signature).toString('utf8');
  return { payload: Buffer.concat(payload), signature: text, kind: signatureKind(text) };
}

/**
 * Splits a raw annotated tag: the signature is appended after the message, from the last line that
 * starts a signature git recognises (`-----BEGIN SSH SIGNATURE-----`, `-----BEGIN PGP SIGNATURE-----`…)
 * to the end; the payload is everything before it.
 */
export function splitSignedTag(raw: Uint8Array | string): SplitObject {
  const buf = bytesOf(raw);
  let match = -1;
  let kind: SignatureKind = 'none';
  for (let line = 0; line < buf.length; ) {
    for (const [marker, k] of MARKERS) {
      if (buf.subarray(line, line + marker.length).toString('latin1') === marker) {
        match = line;
        kind = k;
      }
    }
    const nl = buf.indexOf(NEWLINE, line);
    line = nl < 0 ? buf.length : nl + 1;
  }
  if (match < 0) return { payload: Buffer.from(buf), signature: null, kind: 'none' };
  return { payload: Buffer.from(buf.subarray(0, match)), signature: buf.subarray(match).toString('utf8'), kind };
}
