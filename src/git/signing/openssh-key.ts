import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { closeSync, fchmodSync, fstatSync, fsyncSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { InternalError, NfgitError, UsageError } from '../../errors/errors.js';

// OpenSSH key encodings: the SSH wire format (RFC 4251), public key blobs and lines, and the
// `openssh-key-v1` private key file (PROTOCOL.key), for the ed25519 host key nfgit signs with.

/** An SSH public key as it travels: the wire blob, its type, `TYPE BASE64`, and its SHA256 fingerprint. */
export interface SshPublicKey {
  /** The key type named inside the blob, for example `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`. */
  readonly type: string;
  readonly blob: Buffer;
  /** `TYPE BASE64`, as in authorized_keys and allowed_signers, without a comment. */
  readonly text: string;
  /** `SHA256:…` as ssh-keygen prints it. */
  readonly fingerprint: string;
}

/** The host's ed25519 signing key, loaded from an OpenSSH private key file. */
export interface HostKey {
  readonly privateKey: KeyObject;
  /** The public key blob (string "ssh-ed25519" ‖ string key). */
  readonly publicKeyBlob: Buffer;
  /** `ssh-ed25519 AAAA…`, without the comment. */
  readonly publicKey: string;
  readonly comment: string;
}

/** The key type nfgit signs with. */
export const ED25519 = 'ssh-ed25519';

/** Key types whose public blobs nfgit understands, with the fields each holds after its type name. */
const BLOB_FIELDS: Readonly<Record<string, number>> = {
  'ssh-ed25519': 1, // string key
  'ssh-rsa': 2, // mpint e, mpint n
  'ssh-dss': 4, // mpint p, q, g, y
  'ecdsa-sha2-nistp256': 2, // string curve, string point
  'ecdsa-sha2-nistp384': 2,
  'ecdsa-sha2-nistp521': 2,
  'sk-ssh-ed25519@openssh.com': 2, // string key, string application
  'sk-ecdsa-sha2-nistp256@openssh.com': 3, // string curve, string point, string application
};

const PRIVATE_BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const PRIVATE_END = '-----END OPENSSH PRIVATE KEY-----';
const PUBLIC_LINE = /^(?:ssh-|ecdsa-|sk-)\S+ AAAA/;
const AUTH_MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');

/** Thrown by SshReader when a field runs past the end; callers turn it into their own error. */
export class SshFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SshFormatError';
  }
}

/** Reads SSH wire-format fields (uint32, string, mpint) from a buffer, throwing SshFormatError on truncation. */
export class SshReader {
  private offset = 0;
  constructor(private readonly buf: Buffer) {}

  /** Bytes not read yet. */
  get remaining(): number {
    return this.buf.length - this.offset;
  }

  /** A big-endian uint32. */
  uint32(): number {
    if (this.remaining < 4) throw new SshFormatError('truncated (expected a 32-bit number)');
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  /** Exactly n raw bytes. */
  bytes(n: number): Buffer {
    if (this.remaining < n) throw new SshFormatError(`truncated (expected ${n} more bytes)`);
    const b = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return b;
  }

  /** A length-prefixed byte string. */
  string(): Buffer {
    return this.bytes(this.uint32());
  }

  /** A length-prefixed string read as UTF-8. */
  text(): string {
    return this.string().toString('utf8');
  }

  /** The rest of the buffer. */
  rest(): Buffer {
    return this.bytes(this.remaining);
  }

  /** Fails unless everything was read. */
  end(what: string): void {
    if (this.remaining !== 0) throw new SshFormatError(`${what} has ${this.remaining} unexpected trailing bytes`);
  }
}

/** Encodes SSH wire strings (uint32 length ‖ bytes), concatenated. */
export function sshString(...parts: ReadonlyArray<Buffer | string>): Buffer {
  return Buffer.concat(
    parts.flatMap((p) => {
      const b = typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
      return [sshUint32(b.length), b];
    }),
  );
}

/** Encodes a big-endian uint32. */
export function sshUint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** Base64 wrapped at 70 columns, each line ending in a newline, as OpenSSH armors keys and signatures. */
export function wrapBase64(data: Buffer): string {
  const b64 = data.toString('base64');
  let out = '';
  for (let i = 0; i < b64.length; i += 70) out += `${b64.slice(i, i + 70)}\n`;
  return out;
}

/** Decodes base64, refusing anything but base64 characters and whitespace (Node silently skips the rest). */
export function strictBase64(text: string): Buffer | undefined {
  const compact = text.replace(/\s+/g, '');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/.test(compact)) return undefined;
  return Buffer.from(compact, 'base64');
}

/** `SHA256:` and the unpadded base64 of the SHA-256 of a public key blob, like ssh-keygen -l. */
export function fingerprintSha256(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Checks a public key blob's structure and describes it; throws SshFormatError for an unknown type or a bad blob. */
export function parsePublicKeyBlob(blob: Buffer): SshPublicKey {
  const r = new SshReader(blob);
  const type = r.text();
  const fields = BLOB_FIELDS[type];
  if (fields === undefined) {
    if (type.includes('-cert-v01@openssh.com')) throw new SshFormatError(`SSH certificates (${type}) are not supported`);
    throw new SshFormatError(`unknown key type "${type}"`);
  }
  const values: Buffer[] = [];
  for (let i = 0; i < fields; i++) values.push(r.string());
  r.end('the public key');
  if ((type === ED25519 || type === 'sk-ssh-ed25519@openssh.com') && values[0]?.length !== 32)
    throw new SshFormatError('an ed25519 public key must be 32 bytes');
  if (type === 'sk-ecdsa-sha2-nistp256@openssh.com' && values[0]?.toString('latin1') !== 'nistp256') {
    throw new SshFormatError(`the curve inside the key does not match its type ${type}`);
  }
  // OpenSSH reads a security key's application as a C string and refuses one with a NUL in it; a blob
  // that could be read as "ssh:" by one reader and "ssh:\0…" by another is refused here as well
  if (type.startsWith('sk-') && values[values.length - 1]?.includes(0) === true) {
    throw new SshFormatError("the security key's application contains a NUL byte");
  }
  if (type.startsWith('ecdsa-sha2-') && values[0]?.toString('latin1') !== type.slice('ecdsa-sha2-'.length)) {
    throw new SshFormatError(`the curve inside the key does not match its type ${type}`);
  }
  return { type, blob, text: `${type} ${blob.toString('base64')}`, fingerprint: fingerprintSha256(blob) };
}

/**
 * Parses `TYPE BASE64 [COMMENT]` (a .pub file or an allowed_signers key); throws SshFormatError when
 * the text is not a key or the named type differs from the blob's.
 */
export function parsePublicKeyText(text: string): SshPublicKey {
  const [type, b64] = text.trim().split(/[ \t]+/);
  if (type === undefined || b64 === undefined) throw new SshFormatError('expected "KEYTYPE BASE64KEY"');
  const blob = strictBase64(b64);
  if (blob === undefined || blob.length === 0) throw new SshFormatError('the key is not valid base64');
  const key = parsePublicKeyBlob(blob);
  if (key.type !== type) throw new SshFormatError(`the key is named ${type} but holds an ${key.type} key`);
  return key;
}

/** The public key blob of an ed25519 key: string "ssh-ed25519" ‖ string key (32 bytes). */
function ed25519Blob(pub: Buffer): Buffer {
  return sshString(ED25519, pub);
}

/** An ed25519 host key from its 32-byte seed, checked against the public half stored beside it. */
function hostKeyFromSeed(seed: Buffer, pub: Buffer, comment: string): HostKey | undefined {
  const privateKey = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: seed.toString('base64url'), x: pub.toString('base64url') },
    format: 'jwk',
  });
  const derived = createPublicKey(privateKey).export({ format: 'jwk' }).x;
  if (derived !== pub.toString('base64url')) return undefined;
  const blob = ed25519Blob(pub);
  return { privateKey, publicKeyBlob: blob, publicKey: `${ED25519} ${blob.toString('base64')}`, comment };
}

/**
 * Parses the text of an unencrypted OpenSSH (`openssh-key-v1`) ed25519 private key file. Pure: the
 * file mode is checked by loadHostKey. Throws NfgitError('UsageError') saying what is wrong.
 */
export function parseOpenSshPrivateKey(text: string, source = 'the host key'): HostKey {
  const bad = (why: string): NfgitError => new UsageError(`${source} ${why}`);
  const trimmed = text.trim();
  if (PUBLIC_LINE.test(trimmed)) {
    throw bad('is a public key: nfgit needs the private key file (the one without .pub)');
  }
  const begin = trimmed.indexOf(PRIVATE_BEGIN);
  if (begin < 0) {
    const other = /-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----/.exec(trimmed);
    if (other !== null) {
      throw bad(
        `is a PEM "${other[1] ?? ''}" file: nfgit needs an OpenSSH ed25519 private key (make one with \`nfgit keygen\` or \`ssh-keygen -t ed25519\`)`,
      );
    }
    throw bad('is not an OpenSSH private key (no "-----BEGIN OPENSSH PRIVATE KEY-----" line)');
  }
  const end = trimmed.indexOf(PRIVATE_END, begin);
  if (end < 0) throw bad('is malformed: the "-----END OPENSSH PRIVATE KEY-----" line is missing');
  const data = strictBase64(trimmed.slice(begin + PRIVATE_BEGIN.length, end));
  if (data === undefined) throw bad('is malformed: the key is not valid base64');
  if (data.length < AUTH_MAGIC.length || !data.subarray(0, AUTH_MAGIC.length).equals(AUTH_MAGIC)) {
    throw bad('is malformed: it does not start with "openssh-key-v1"');
  }
  try {
    const r = new SshReader(data.subarray(AUTH_MAGIC.length));
    const cipher = r.text();
    const kdf = r.text();
    r.string(); // kdf options
    if (cipher !== 'none' || kdf !== 'none') {
      throw bad(
        `is encrypted with a passphrase (${cipher}/${kdf}): nfgit needs an unencrypted host key (remove the passphrase with \`ssh-keygen -p -N "" -f FILE\` or make a new key with \`nfgit keygen\`)`,
      );
    }
    const count = r.uint32();
    if (count !== 1) throw bad(`is malformed: it holds ${count} keys, nfgit expects exactly one`);
    const outerBlob = r.string();
    const outerType = new SshReader(outerBlob).text();
    if (outerType !== ED25519) {
      throw bad(
        `holds an ${outerType} key: nfgit signs with ed25519 keys only (make one with \`nfgit keygen\` or \`ssh-keygen -t ed25519\`)`,
      );
    }
    const section = r.string();
    r.end('the key file');
    if (section.length % 8 !== 0) throw bad('is malformed: the private section is not padded to 8 bytes');
    const p = new SshReader(section);
    const check1 = p.uint32();
    const check2 = p.uint32();
    if (check1 !== check2) throw bad('is malformed: its check bytes differ (a damaged file)');
    const type = p.text();
    if (type !== ED25519) throw bad(`is malformed: its private part is ${type}, its public part ${ED25519}`);
    const pub = p.string();
    const priv = p.string();
    const comment = p.text();
    const padding = p.rest();
    if (pub.length !== 32 || priv.length !== 64) throw bad('is malformed: wrong ed25519 key sizes');
    if (!priv.subarray(32).equals(pub) || !ed25519Blob(pub).equals(outerBlob)) {
      throw bad('is malformed: its public and private parts do not belong together');
    }
    for (let i = 0; i < padding.length; i++) {
      if (padding[i] !== i + 1) throw bad('is malformed: bad padding at the end of the private section');
    }
    const key = hostKeyFromSeed(priv.subarray(0, 32), pub, comment);
    if (key === undefined) throw bad('is malformed: its public key does not match its private key');
    return key;
  } catch (err) {
    if (err instanceof SshFormatError) throw bad(`is malformed: ${err.message}`);
    throw err;
  }
}

/** Encodes an ed25519 private key as an unencrypted OpenSSH private key file (what ssh-keygen writes). */
export function formatOpenSshPrivateKey(privateKey: KeyObject, comment: string): string {
  const jwk = privateKey.export({ format: 'jwk' });
  if (privateKey.asymmetricKeyType !== 'ed25519' || jwk.d === undefined || jwk.x === undefined) {
    throw new InternalError('internal error: only ed25519 private keys can be written in OpenSSH format');
  }
  const seed = Buffer.from(jwk.d, 'base64url');
  const pub = Buffer.from(jwk.x, 'base64url');
  const check = randomBytes(4);
  let section = Buffer.concat([check, check, sshString(ED25519, pub, Buffer.concat([seed, pub]), comment)]);
  const pad = (8 - (section.length % 8)) % 8;
  section = Buffer.concat([section, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([AUTH_MAGIC, sshString('none', 'none', ''), sshUint32(1), sshString(ed25519Blob(pub), section)]);
  return `${PRIVATE_BEGIN}\n${wrapBase64(body)}${PRIVATE_END}\n`;
}

/**
 * Reads the host key file: refuses a file group or others can access (ssh-keygen refuses those too),
 * then parses it. Throws NfgitError('UsageError').
 */
export function loadHostKey(file: string): HostKey {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`the host key ${file} does not exist (make one with \`nfgit keygen\`)`, { cause: err });
    throw new UsageError(`cannot read the host key ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UsageError(`the host key ${file} is not a regular file`);
    const text = readFileSync(fd, 'utf8');
    const mode = st.mode & 0o777;
    // a public key given by mistake is reported as such, not as too open
    if ((mode & 0o077) !== 0 && !PUBLIC_LINE.test(text.trim())) {
      throw new UsageError(
        `the host key ${file} is accessible to group or others (mode ${mode.toString(8).padStart(4, '0')}): run \`chmod 600 ${file}\` (ssh-keygen refuses such keys too)`,
      );
    }
    return parseOpenSshPrivateKey(text, `the host key ${file}`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Makes a new ed25519 host key and writes it to file in OpenSSH format, mode 0600, refusing to
 * overwrite an existing file. Returns the public key line (`ssh-ed25519 AAAA… comment`).
 */
export function generateHostKey(file: string, comment: string): string {
  if (/[\r\n]/.test(comment)) throw new UsageError('a key comment cannot contain a line break');
  const { privateKey } = generateKeyPairSync('ed25519');
  const text = formatOpenSshPrivateKey(privateKey, comment);
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UsageError(`${file} already exists: nfgit keygen does not overwrite a key`, { cause: err });
    throw new UsageError(`cannot create the host key ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    fchmodSync(fd, 0o600); // whatever the umask
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(file, { force: true });
    throw new UsageError(`cannot write the host key ${file}: ${(err as Error).message}`, { cause: err });
  }
  closeSync(fd);
  const key = parseOpenSshPrivateKey(text, file);
  return comment === '' ? key.publicKey : `${key.publicKey} ${comment}`;
}
