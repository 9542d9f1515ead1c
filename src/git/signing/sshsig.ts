import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { UsageError } from '../../errors/errors.js';
import {
  ED25519,
  SshFormatError,
  SshReader,
  parsePublicKeyBlob,
  sshString,
  sshUint32,
  strictBase64,
  wrapBase64,
  type HostKey,
  type SshPublicKey,
} from './openssh-key.js';

// SSH signatures (OpenSSH PROTOCOL.sshsig), as `ssh-keygen -Y sign` writes them and git uses them with
// gpg.format=ssh: signing with the host's ed25519 key, verifying ed25519, RSA and ECDSA signatures, and
// those of FIDO security keys (sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com,
// OpenSSH PROTOCOL.u2f), which also carry the authenticator's flags and counter.

/** First line of an armored SSH signature. */
export const SSHSIG_BEGIN = '-----BEGIN SSH SIGNATURE-----';
/** Last line of an armored SSH signature. */
export const SSHSIG_END = '-----END SSH SIGNATURE-----';

const MAGIC = Buffer.from('SSHSIG', 'latin1');
const HASHES = new Set(['sha256', 'sha512']);

/** What an SSH signature holds. */
export interface SshSignature {
  readonly publicKey: SshPublicKey;
  readonly namespace: string;
  /** The hash of the message: `sha256` or `sha512` (checked by verifySshsig). */
  readonly hashAlgorithm: string;
  /** The signature algorithm named inside, for example `ssh-ed25519` or `rsa-sha2-512`. */
  readonly signatureType: string;
  /** The inner signature blob (string algorithm ‖ string signature …). */
  readonly signatureBlob: Buffer;
}

/** FIDO authenticator data of a security-key signature: what it attests about the signing gesture. */
export interface SkSignatureDetails {
  /** The flags byte: 0x01 user presence (touched), 0x04 user verification (PIN or biometric). */
  readonly flags: number;
  /** The authenticator's signature counter. */
  readonly counter: number;
  /** The key's FIDO application (relying party), usually `ssh:`. */
  readonly application: string;
}

/** Flag of a security-key signature: the user touched the key (FIDO "user present"). */
export const SK_USER_PRESENCE = 0x01;
/** Flag of a security-key signature: the key verified the user (PIN or biometric). */
export const SK_USER_VERIFICATION = 0x04;

/** Why a signature was not accepted: unreadable, of a kind nfgit cannot check, made for another namespace, or not matching the data. */
export type SshsigFailure = 'malformed' | 'unsupported' | 'wrong-namespace' | 'bad-signature';

/** parseSshsig's answer. */
export type ParsedSshsig =
  | { readonly ok: true; readonly signature: SshSignature }
  | { readonly ok: false; readonly failure: 'malformed' | 'unsupported'; readonly reason: string };

/** verifySshsig's answer: the signer's key, or why not (with the key when the signature could be read). */
export type SshsigVerification =
  | { readonly ok: true; readonly key: SshPublicKey; readonly signature: SshSignature; readonly sk?: SkSignatureDetails }
  | { readonly ok: false; readonly failure: SshsigFailure; readonly reason: string; readonly key?: SshPublicKey };

/** Bytes of what was signed. */
function bytesOf(data: Buffer | Uint8Array | string): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** The buffer the key actually signs: "SSHSIG" ‖ string namespace ‖ string reserved ‖ string hash ‖ string H(message). */
function signedData(namespace: string, hashAlgorithm: string, message: Buffer): Buffer {
  const digest = createHash(hashAlgorithm).update(message).digest();
  return Buffer.concat([MAGIC, sshString(namespace, Buffer.alloc(0), hashAlgorithm, digest)]);
}

/**
 * Signs data with the host's ed25519 key in namespace `git` (or another), producing the armored
 * `-----BEGIN SSH SIGNATURE-----` text that `ssh-keygen -Y verify` and `git tag -v` accept.
 */
export function signSshsig(data: Buffer | Uint8Array | string, key: HostKey, namespace = 'git'): string {
  if (namespace === '') throw new UsageError('an SSH signature needs a namespace');
  const hashAlgorithm = 'sha512'; // what ssh-keygen uses
  const raw = sign(null, signedData(namespace, hashAlgorithm, bytesOf(data)), key.privateKey);
  const blob = Buffer.concat([
    MAGIC,
    sshUint32(1),
    sshString(key.publicKeyBlob, namespace, Buffer.alloc(0), hashAlgorithm, sshString(ED25519, raw)),
  ]);
  return `${SSHSIG_BEGIN}\n${wrapBase64(blob)}${SSHSIG_END}\n`;
}

/** Reads an armored SSH signature; a typed failure, never an exception, for anything unreadable. */
export function parseSshsig(armored: string): ParsedSshsig {
  const malformed = (why: string): ParsedSshsig => ({ ok: false, failure: 'malformed', reason: `the SSH signature is malformed: ${why}` });
  const text = armored.replace(/\r\n/g, '\n').trim();
  if (!text.startsWith(`${SSHSIG_BEGIN}\n`)) return malformed(`it does not start with ${SSHSIG_BEGIN}`);
  const end = text.indexOf(`\n${SSHSIG_END}`);
  if (end < 0) return malformed(`the ${SSHSIG_END} line is missing`);
  if (text.slice(end + 1 + SSHSIG_END.length).trim() !== '') return malformed(`text follows the ${SSHSIG_END} line`);
  const blob = strictBase64(text.slice(SSHSIG_BEGIN.length + 1, end));
  if (blob === undefined) return malformed('it is not valid base64');
  try {
    const r = new SshReader(blob);
    if (!r.bytes(MAGIC.length).equals(MAGIC)) return malformed('it does not start with "SSHSIG"');
    const version = r.uint32();
    if (version !== 1)
      return { ok: false, failure: 'unsupported', reason: `SSH signature version ${version} is not supported (only version 1)` };
    const keyBlob = r.string();
    const namespace = r.text();
    r.string(); // reserved
    const hashAlgorithm = r.text();
    const signatureBlob = r.string();
    r.end('the signature');
    const signatureType = new SshReader(signatureBlob).text();
    let publicKey: SshPublicKey;
    try {
      publicKey = parsePublicKeyBlob(keyBlob);
    } catch (err) {
      if (err instanceof SshFormatError)
        return { ok: false, failure: 'unsupported', reason: `the signing key cannot be read: ${err.message}` };
      throw err;
    }
    return { ok: true, signature: { publicKey, namespace, hashAlgorithm, signatureType, signatureBlob } };
  } catch (err) {
    if (err instanceof SshFormatError) return malformed(err.message);
    throw err;
  }
}

/** Strips an mpint's sign byte and left-pads it to size bytes; undefined when it does not fit. */
function unsignedFixed(mpint: Buffer, size: number): Buffer | undefined {
  let v = mpint;
  while (v.length > 0 && v[0] === 0) v = v.subarray(1);
  if (v.length > size) return undefined;
  return Buffer.concat([Buffer.alloc(size - v.length), v]);
}

/** Strips leading zero bytes (JWK wants unsigned big-endian integers without them). */
function unsigned(mpint: Buffer): Buffer {
  let v = mpint;
  while (v.length > 1 && v[0] === 0) v = v.subarray(1);
  return v;
}

const CURVES: Readonly<Record<string, { readonly crv: string; readonly size: number; readonly hash: string }>> = {
  'ecdsa-sha2-nistp256': { crv: 'P-256', size: 32, hash: 'sha256' },
  'ecdsa-sha2-nistp384': { crv: 'P-384', size: 48, hash: 'sha384' },
  'ecdsa-sha2-nistp521': { crv: 'P-521', size: 66, hash: 'sha512' },
};

/** verifyRaw's answer: whether the signature matches (with a security key's authenticator data), or why it cannot be checked. */
type RawCheck = { readonly match: boolean; readonly sk?: SkSignatureDetails } | { readonly unsupported: string };

/** A node:crypto key for an uncompressed ECDSA point on a curve; undefined for a compressed point. */
function ecdsaKey(point: Buffer, curve: { readonly crv: string; readonly size: number }): KeyObject | undefined {
  if (point.length !== 1 + 2 * curve.size || point[0] !== 4) return undefined;
  return createPublicKey({
    key: {
      kty: 'EC',
      crv: curve.crv,
      x: point.subarray(1, 1 + curve.size).toString('base64url'),
      y: point.subarray(1 + curve.size).toString('base64url'),
    },
    format: 'jwk',
  });
}

/** Checks an SSH ECDSA signature (string ‖ mpint r ‖ mpint s inside) over data with a hash. */
function verifyEcdsa(publicKey: KeyObject, size: number, hash: string, sig: Buffer, data: Buffer): boolean {
  const rs = new SshReader(sig);
  const r = unsignedFixed(rs.string(), size);
  const sv = unsignedFixed(rs.string(), size);
  rs.end('the ECDSA signature');
  if (r === undefined || sv === undefined) return false;
  return verify(hash, data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.concat([r, sv]));
}

const SK_ED25519 = 'sk-ssh-ed25519@openssh.com';
const SK_ECDSA = 'sk-ecdsa-sha2-nistp256@openssh.com';

/**
 * Checks a security-key signature (PROTOCOL.u2f): string type ‖ string signature ‖ byte flags ‖
 * uint32 counter, where the authenticator signed SHA256(application) ‖ flags ‖ counter ‖ SHA256(data)
 * (ed25519 signs those bytes; ECDSA P-256 signs their SHA-256), as ssh-ed25519-sk.c and ssh-ecdsa-sk.c do.
 */
function verifySk(key: SshPublicKey, signatureBlob: Buffer, data: Buffer): RawCheck {
  const k = new SshReader(key.blob);
  k.text(); // type
  const s = new SshReader(signatureBlob);
  const sigType = s.text();
  if (sigType.startsWith('webauthn-')) {
    return { unsupported: `web-browser (WebAuthn) security-key signatures (${sigType}) are not supported; sign with ssh-keygen or git` };
  }
  const sig = s.string();
  const flags = s.bytes(1)[0] ?? 0;
  const counter = s.uint32();
  s.end('the security-key signature');
  if (sigType !== key.type) return { match: false };
  let publicKey: KeyObject;
  let ecdsa = false;
  // parsePublicKeyBlob checked the key's length, curve and application
  if (key.type === SK_ED25519) {
    publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: k.string().toString('base64url') }, format: 'jwk' });
  } else {
    k.string(); // curve name
    const pk = ecdsaKey(k.string(), { crv: 'P-256', size: 32 });
    if (pk === undefined) return { unsupported: 'compressed ECDSA points are not supported' };
    publicKey = pk;
    ecdsa = true;
  }
  const appBytes = k.string();
  const application = appBytes.toString('utf8');
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(counter, 1);
  const signed = Buffer.concat([createHash('sha256').update(appBytes).digest(), head, createHash('sha256').update(data).digest()]);
  const sk: SkSignatureDetails = { flags, counter, application };
  const match = ecdsa ? verifyEcdsa(publicKey, 32, 'sha256', sig, signed) : sig.length === 64 && verify(null, signed, publicKey, sig);
  return { match, sk };
}

/** Checks one raw key signature over data; a reason string when the key or signature type cannot be checked. */
function verifyRaw(key: SshPublicKey, signatureBlob: Buffer, data: Buffer): RawCheck {
  if (key.type === SK_ED25519 || key.type === SK_ECDSA) return verifySk(key, signatureBlob, data);
  const k = new SshReader(key.blob);
  k.text(); // type
  const s = new SshReader(signatureBlob);
  const sigType = s.text();
  const sig = s.string();
  s.end('the inner signature');
  if (key.type === ED25519) {
    if (sigType !== ED25519) return { match: false };
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: k.string().toString('base64url') }, format: 'jwk' });
    return { match: sig.length === 64 && verify(null, data, publicKey, sig) };
  }
  if (key.type === 'ssh-rsa') {
    const hash = sigType === 'rsa-sha2-512' ? 'sha512' : sigType === 'rsa-sha2-256' ? 'sha256' : undefined;
    if (hash === undefined) {
      return {
        unsupported: `RSA signatures of type ${sigType} are refused (SHA-1); ssh-keygen and git accept only rsa-sha2-256 and rsa-sha2-512`,
      };
    }
    const e = unsigned(k.string());
    const n = unsigned(k.string());
    if (n.length * 8 < 1024) return { unsupported: 'RSA keys shorter than 1024 bits are refused (as OpenSSH does)' };
    const publicKey: KeyObject = createPublicKey({
      key: { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') },
      format: 'jwk',
    });
    const padded = unsignedFixed(sig, n.length);
    return { match: padded !== undefined && verify(hash, data, publicKey, padded) };
  }
  const curve = CURVES[key.type];
  if (curve !== undefined) {
    if (sigType !== key.type) return { match: false };
    k.string(); // curve name, checked by parsePublicKeyBlob
    const publicKey = ecdsaKey(k.string(), curve);
    if (publicKey === undefined) return { unsupported: 'compressed ECDSA points are not supported' };
    return { match: verifyEcdsa(publicKey, curve.size, curve.hash, sig, data) };
  }
  return { unsupported: `${key.type} signatures are not supported` };
}

/**
 * Verifies an armored SSH signature over data for a namespace, the way `ssh-keygen -Y verify` does
 * before it looks at allowed signers. Returns the signer's key or a typed failure; pure.
 */
export function verifySshsig(data: Buffer | Uint8Array | string, armored: string, namespace = 'git'): SshsigVerification {
  const parsed = parseSshsig(armored);
  if (!parsed.ok) return parsed;
  const sig = parsed.signature;
  const key = sig.publicKey;
  if (sig.namespace !== namespace) {
    return {
      ok: false,
      failure: 'wrong-namespace',
      reason: `the signature was made for namespace "${sig.namespace}", not "${namespace}"`,
      key,
    };
  }
  if (!HASHES.has(sig.hashAlgorithm)) {
    return {
      ok: false,
      failure: 'unsupported',
      reason: `the signature uses hash "${sig.hashAlgorithm}" (only sha256 and sha512 are allowed)`,
      key,
    };
  }
  let result: RawCheck;
  try {
    result = verifyRaw(key, sig.signatureBlob, signedData(namespace, sig.hashAlgorithm, bytesOf(data)));
  } catch (err) {
    if (err instanceof SshFormatError)
      return { ok: false, failure: 'malformed', reason: `the SSH signature is malformed: ${err.message}`, key };
    // node:crypto rejects keys it cannot load (a point not on the curve, an absurd RSA modulus)
    return { ok: false, failure: 'malformed', reason: `the SSH signature's key cannot be used: ${(err as Error).message}`, key };
  }
  if ('unsupported' in result) return { ok: false, failure: 'unsupported', reason: result.unsupported, key };
  if (!result.match)
    return { ok: false, failure: 'bad-signature', reason: `signature does not match the data (key ${key.fingerprint})`, key };
  return result.sk === undefined ? { ok: true, key, signature: sig } : { ok: true, key, signature: sig, sk: result.sk };
}
