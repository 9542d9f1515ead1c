import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { sshString, sshUint32, wrapBase64 } from '../../../src/git/signing/openssh-key.js';
import { SSHSIG_BEGIN, SSHSIG_END } from '../../../src/git/signing/sshsig.js';

// Security-key (FIDO) signatures without a security key: node:crypto plays the authenticator, signing
// what PROTOCOL.u2f says one signs, so the vectors can be checked against stock `ssh-keygen -Y verify`.

/** The two key kinds OpenSSH makes on security keys. */
export type SkKind = 'ed25519' | 'ecdsa';

/** A software stand-in for a security key: its public blob and `TYPE BASE64` text, and its private key. */
export interface SkTestKey {
  readonly type: string;
  readonly application: string;
  readonly blob: Buffer;
  /** `TYPE BASE64`, as in an allowed_signers line or a .pub file. */
  readonly pub: string;
  readonly privateKey: KeyObject;
}

/** What the authenticator reports and signs, and deliberate faults for the tests. */
export interface SkSignOptions {
  readonly namespace?: string;
  readonly hashAlgorithm?: 'sha256' | 'sha512';
  /** The flags byte: 0x01 user presence (the default), 0x04 user verification. */
  readonly flags?: number;
  readonly counter?: number;
  /** The application whose hash is signed, when it should differ from the key's (a forgery test). */
  readonly signedApplication?: string;
  /** The key type named inside the signature, when it should differ from the key's. */
  readonly signatureType?: string;
}

/** Makes a security-key stand-in (application `ssh:` as ssh-keygen -t …-sk uses by default). */
export function skKey(kind: SkKind, application = 'ssh:'): SkTestKey {
  if (kind === 'ed25519') {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url');
    const type = 'sk-ssh-ed25519@openssh.com';
    const blob = sshString(type, raw, application);
    return { type, application, blob, pub: `${type} ${blob.toString('base64')}`, privateKey };
  }
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x ?? '', 'base64url'), Buffer.from(jwk.y ?? '', 'base64url')]);
  const type = 'sk-ecdsa-sha2-nistp256@openssh.com';
  const blob = sshString(type, 'nistp256', point, application);
  return { type, application, blob, pub: `${type} ${blob.toString('base64')}`, privateKey };
}

/** An SSH mpint of an unsigned big-endian integer: no leading zeros, one added when the top bit is set. */
function mpint(v: Buffer): Buffer {
  let b = v;
  while (b.length > 0 && b[0] === 0) b = b.subarray(1);
  if (b.length > 0 && ((b[0] ?? 0) & 0x80) !== 0) b = Buffer.concat([Buffer.from([0]), b]);
  return b;
}

/** Signs data the way ssh-keygen -Y sign does with a security key, and armors it. */
export function skSshsig(key: SkTestKey, data: Buffer | string, options: SkSignOptions = {}): string {
  const namespace = options.namespace ?? 'git';
  const hashAlgorithm = options.hashAlgorithm ?? 'sha512';
  const flags = options.flags ?? 0x01;
  const counter = options.counter ?? 7;
  const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  // what the SSHSIG layer hands to the key (PROTOCOL.sshsig)
  const message = Buffer.concat([
    Buffer.from('SSHSIG', 'latin1'),
    sshString(namespace, Buffer.alloc(0), hashAlgorithm, createHash(hashAlgorithm).update(payload).digest()),
  ]);
  // what the authenticator signs (PROTOCOL.u2f)
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(counter, 1);
  const signed = Buffer.concat([
    createHash('sha256')
      .update(options.signedApplication ?? key.application)
      .digest(),
    head,
    createHash('sha256').update(message).digest(),
  ]);
  let sig: Buffer;
  if (key.type === 'sk-ssh-ed25519@openssh.com') {
    sig = sign(null, signed, key.privateKey);
  } else {
    const rs = sign('sha256', signed, { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
    sig = sshString(mpint(rs.subarray(0, 32)), mpint(rs.subarray(32)));
  }
  const inner = Buffer.concat([sshString(options.signatureType ?? key.type, sig), Buffer.from([flags]), sshUint32(counter)]);
  const blob = Buffer.concat([
    Buffer.from('SSHSIG', 'latin1'),
    sshUint32(1),
    sshString(key.blob, namespace, Buffer.alloc(0), hashAlgorithm, inner),
  ]);
  return `${SSHSIG_BEGIN}\n${wrapBase64(blob)}${SSHSIG_END}\n`;
}
