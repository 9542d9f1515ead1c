import { readFile } from 'node:fs/promises';
import type { PublicKey, Signature, Subkey } from 'openpgp';
import { UsageError } from '../../errors/errors.js';
import { readProblem } from '../../util/read-problem.js';

/** openpgp, loaded on first use: most hosts trust SSH keys only, and it costs memory and start-up time. */
const openpgp = (): Promise<typeof import('openpgp')> => import('openpgp');

// Checking an OpenPGP signature over a git object the way `git verify-commit` does through gpg: the
// signature (binary, detached, made by `gpg -bsau KEY`) must match the data and come from a trusted
// key or one of its subkeys, and that key must not be expired or revoked. Keys are read from armored
// files an administrator exported with `gpg --armor --export`.

/** A trusted OpenPGP public key and the file it was read from (for messages). */
export interface PgpTrustedKey {
  readonly source: string;
  readonly key: PublicKey;
}

/** Why a signature is not trusted. */
export type PgpVerifyFailure = 'bad-signature' | 'untrusted-key' | 'expired-key' | 'malformed';

/** The answer: who signed (primary user ID, else fingerprint) and the primary key's fingerprint, or why it is not trusted. */
export type PgpVerifyResult =
  | {
      readonly ok: true;
      readonly signer: string;
      /** Fingerprint of the trusted primary key, upper-case hex as gpg prints it. */
      readonly fingerprint: string;
      /** Fingerprint of the key that made the signature: the primary key or one of its subkeys. */
      readonly signingKey: string;
    }
  | { readonly ok: false; readonly failure: PgpVerifyFailure; readonly reason: string };

const ARMOR_BLOCK = /-----BEGIN PGP (PUBLIC|PRIVATE) KEY BLOCK-----[\s\S]*?-----END PGP \1 KEY BLOCK-----/g;
const EXPORT_HINT = 'export it with `gpg --armor --export FINGERPRINT`';

/** Upper-case hex, as gpg prints fingerprints and key IDs. */
function hex(text: string): string {
  return text.toUpperCase();
}

/**
 * Parses armored OpenPGP public keys: one or more `PUBLIC KEY BLOCK`s, each holding one or more keys.
 * Throws a UsageError `SOURCE: …` when there is no key, a block cannot be read, or a private key is given.
 */
export async function parsePgpPublicKeys(text: string, source: string): Promise<PgpTrustedKey[]> {
  const blocks = [...text.matchAll(ARMOR_BLOCK)];
  if (blocks.some((b) => b[1] === 'PRIVATE')) {
    throw new UsageError(
      `${source}: holds an OpenPGP private key, which nfgit refuses to read: give the public key instead (${EXPORT_HINT}), and remove the private key from this host`,
    );
  }
  if (blocks.length === 0) {
    throw new UsageError(`${source}: no armored OpenPGP public key found (a -----BEGIN PGP PUBLIC KEY BLOCK----- line): ${EXPORT_HINT}`);
  }
  const keys: PgpTrustedKey[] = [];
  for (const [i, block] of blocks.entries()) {
    let read;
    try {
      read = await (await openpgp()).readKeys({ armoredKeys: block[0] });
    } catch (err) {
      const which = blocks.length > 1 ? `public key block ${i + 1}` : 'the public key block';
      throw new UsageError(`${source}: ${which} is not a valid OpenPGP key (${(err as Error).message}): ${EXPORT_HINT} again`, {
        cause: err,
      });
    }
    for (const key of read) {
      if (key.isPrivate()) {
        throw new UsageError(
          `${source}: key ${hex(key.getFingerprint())} is a private key, which nfgit refuses to read: give the public key instead (${EXPORT_HINT})`,
        );
      }
      keys.push({ source, key });
    }
  }
  return keys;
}

/** Reads an armored OpenPGP public key file; a UsageError `FILE: …` when it cannot be read or holds no public key. */
export async function loadPgpKeyFile(file: string): Promise<PgpTrustedKey[]> {
  let text: string;
  try {
    text = await readFile(file, 'latin1');
  } catch (err) {
    throw new UsageError(`${file}: cannot read the OpenPGP key file: ${readProblem(err)}`, { cause: err });
  }
  return parsePgpPublicKeys(text, file);
}

/** How a key reads in messages: `FINGERPRINT (User ID)`, or the fingerprint alone. */
async function describeKey(key: PublicKey, when: Date): Promise<{ signer: string; label: string }> {
  const fpr = hex(key.getFingerprint());
  const user = await key.getPrimaryUser(when).catch(() => undefined);
  const id = user?.user.userID?.userID;
  if (id === undefined || id === '') return { signer: fpr, label: fpr };
  return { signer: id, label: `${fpr} (${id})` };
}

/** Why a key that verified the signature is not valid at `when`: expired or revoked; undefined when it is valid. */
async function keyRefusal(
  trusted: PgpTrustedKey,
  signing: PublicKey | Subkey,
  label: string,
  when: Date,
): Promise<{ failure: PgpVerifyFailure; reason: string } | undefined> {
  try {
    await trusted.key.getSigningKey(signing.getKeyID(), when);
    return undefined;
  } catch (err) {
    const primaryExpiry = await trusted.key.getExpirationTime().catch(() => null);
    const subkeyExpiry = signing === trusted.key ? null : await (signing as Subkey).getExpirationTime(when).catch(() => null);
    const expired = [primaryExpiry, subkeyExpiry].find((d): d is Date => d instanceof Date && d.getTime() <= when.getTime());
    if (expired !== undefined) {
      const what = signing === trusted.key ? `key ${label}` : `subkey ${hex(signing.getFingerprint())} of key ${label}`;
      return {
        failure: 'expired-key',
        reason: `OpenPGP ${what} expired at ${expired.toISOString()}, before ${when.toISOString()}: extend it (gpg --quick-set-expire) and update ${trusted.source}`,
      };
    }
    return {
      failure: 'untrusted-key',
      reason: `OpenPGP key ${label} from ${trusted.source} cannot sign at ${when.toISOString()}: ${(err as Error).message}`,
    };
  }
}

/** Classifies openpgp's verification error. */
function verifyFailure(err: unknown, label: string, sigCreated: Date | null, when: Date): { failure: PgpVerifyFailure; reason: string } {
  const message = (err as Error).message;
  if (/in the future/i.test(message)) {
    const at = sigCreated === null ? 'a later time' : sigCreated.toISOString();
    return {
      failure: 'bad-signature',
      reason: `the signature by key ${label} is dated ${at}, after ${when.toISOString()} (is this host's clock behind?)`,
    };
  }
  if (/expired/i.test(message))
    return {
      failure: 'expired-key',
      reason: `the signature by key ${label} was made while the key or its signature had expired: ${message}`,
    };
  if (/revoked/i.test(message)) return { failure: 'untrusted-key', reason: `key ${label} is revoked: ${message}` };
  if (/digest did not match|signature did not verify|invalid signature/i.test(message)) {
    return { failure: 'bad-signature', reason: `signature does not match the data (key ${label})` };
  }
  return { failure: 'bad-signature', reason: `the signature by key ${label} does not verify: ${message}` };
}

/**
 * Verifies an armored detached OpenPGP signature over payload against trusted keys at time `when`:
 * the signature must match, come from a trusted key or its subkey, not be dated after `when`, and the
 * key must have been valid when it signed and still be at `when` (not expired or revoked), as gpg does.
 * Reasons are for administrators and name keys by fingerprint.
 */
export async function verifyPgpSignature(
  payload: Buffer | Uint8Array,
  armored: string,
  keys: readonly PgpTrustedKey[],
  when: Date,
): Promise<PgpVerifyResult> {
  let signature: Signature;
  try {
    signature = await (await openpgp()).readSignature({ armoredSignature: armored });
  } catch (err) {
    return { ok: false, failure: 'malformed', reason: `the OpenPGP signature cannot be read: ${(err as Error).message}` };
  }
  const packets = [...signature.packets];
  if (packets.length === 0) return { ok: false, failure: 'malformed', reason: 'the OpenPGP signature holds no signature packet' };
  const trustedFor = (packet: (typeof packets)[number]): PgpTrustedKey | undefined =>
    keys.find((k) => k.key.getKeys(packet.issuerKeyID).length > 0);
  const verificationKeys = [
    ...new Set(
      packets
        .map(trustedFor)
        .filter((k) => k !== undefined)
        .map((k) => k.key),
    ),
  ];
  const message = await (await openpgp()).createMessage({ binary: Uint8Array.from(payload) });
  // One result per signature packet, in order; every `verified` promise is awaited so none rejects unhandled.
  const results =
    verificationKeys.length === 0 ? [] : (await (await openpgp()).verify({ message, signature, verificationKeys, date: when })).signatures;
  for (const r of results) r.signature.catch(() => undefined);
  let failure: { failure: PgpVerifyFailure; reason: string } | undefined;
  for (const [i, packet] of packets.entries()) {
    const outcome =
      results[i] === undefined
        ? undefined
        : await results[i].verified.then(
            () => null,
            (err: unknown) => err,
          );
    const trusted = trustedFor(packet);
    const signing = trusted?.key.getKeys(packet.issuerKeyID)[0];
    if (trusted === undefined || signing === undefined) {
      const issuer =
        packet.issuerFingerprint === null
          ? `ID ${hex(packet.issuerKeyID.toHex())}`
          : hex(Buffer.from(packet.issuerFingerprint).toString('hex'));
      failure ??= {
        failure: 'untrusted-key',
        reason: `signed by OpenPGP key ${issuer}, which is not among the trusted keys (trust.pgpKeys)`,
      };
      continue;
    }
    const { signer, label } = await describeKey(trusted.key, when);
    if (outcome !== null) {
      failure ??= verifyFailure(outcome ?? new Error('no verification result'), label, packet.created, when);
      continue;
    }
    const refusal = await keyRefusal(trusted, signing, label, when);
    if (refusal !== undefined) {
      failure ??= refusal;
      continue;
    }
    return { ok: true, signer, fingerprint: hex(trusted.key.getFingerprint()), signingKey: hex(signing.getFingerprint()) };
  }
  return { ok: false, ...(failure ?? { failure: 'malformed', reason: 'the OpenPGP signature holds no signature packet' }) };
}
