import { readFile } from 'node:fs/promises';
import { NfgitError, NfgitErrors, UsageError } from '../../errors/errors.js';
import { formatLocation } from '../../errors/source-location.js';
import { committerEmail, committerTime } from '../commit-time.js';
import { splitSignedCommit } from '../signed-objects.js';
import { readProblem } from '../../util/read-problem.js';
import { matchPatternList, parseAllowedSigners, type AllowedSigner } from './allowed-signers.js';
import { loadPgpKeyFile, verifyPgpSignature, type PgpTrustedKey } from './verify-pgp.js';
import { verifySshSignature } from './verify-ssh.js';

// Whether the agent may apply a commit: the `trust` section of the agent configuration, read once,
// and a verdict per commit. A present but bad signature is refused even when unsigned commits are
// allowed: it means the commit was changed after signing, or signed wrongly.

/** The `trust` section of the agent configuration (AgentConfig['trust']). */
export interface TrustConfig {
  readonly requireSignedCommits: boolean;
  /** An allowed_signers file (git's gpg.ssh.allowedSignersFile format); null when SSH signatures are not trusted. */
  readonly allowedSigners: string | null;
  /** Armored OpenPGP public key files. */
  readonly pgpKeys: readonly string[];
  /** The committer e-mail must be a principal (SSH) or a user ID e-mail (OpenPGP) of the signing key; false when absent. */
  readonly matchCommitter?: boolean;
}

/** The trust configuration with its files read. */
export interface LoadedTrust {
  readonly requireSignedCommits: boolean;
  /** The allowed_signers lines; null when trust.allowedSigners is not set. */
  readonly allowedSigners: readonly AllowedSigner[] | null;
  readonly pgpKeys: readonly PgpTrustedKey[];
  readonly matchCommitter: boolean;
}

/** Whether a commit may be applied, who signed it, and a phrase that completes "commit abc1234 …". */
export type CommitVerdict =
  | { readonly trusted: true; readonly kind: 'ssh' | 'pgp' | 'unsigned-allowed'; readonly signer: string | null; readonly detail: string }
  | { readonly trusted: false; readonly reason: 'unsigned' | 'untrusted' | 'bad-signature' | 'unsupported'; readonly detail: string };

/** Reads an allowed_signers file; the problems in it as `FILE[:LINE]: message` lines. */
async function readAllowedSigners(file: string): Promise<{ signers: AllowedSigner[] } | { problems: string[] }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return { problems: [`${file}: cannot read the allowed signers file (trust.allowedSigners): ${readProblem(err)}`] };
  }
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    return {
      problems: [
        `${file}: is a private key, not an allowed_signers file (trust.allowedSigners): list public keys as "principals keytype base64key" lines, and remove the private key from this host`,
      ],
    };
  }
  let signers: AllowedSigner[];
  try {
    signers = parseAllowedSigners(text, file);
  } catch (err) {
    if (!(err instanceof NfgitErrors)) throw err;
    return { problems: err.errors.map((e) => `${e.trace[0] === undefined ? file : formatLocation(e.trace[0])}: ${e.message}`) };
  }
  if (signers.length === 0) {
    return {
      problems: [
        `${file}: holds no keys (trust.allowedSigners): add a line "principals keytype base64key" for each signer: their email and their SSH public key`,
      ],
    };
  }
  return { signers };
}

/** Reads the allowed_signers file and the OpenPGP key files of a trust configuration; one UsageError naming every file with a problem. */
export async function loadTrust(cfg: TrustConfig): Promise<LoadedTrust> {
  const problems: string[] = [];
  let allowedSigners: AllowedSigner[] | null = null;
  if (cfg.allowedSigners !== null) {
    const read = await readAllowedSigners(cfg.allowedSigners);
    if ('problems' in read) problems.push(...read.problems);
    else allowedSigners = read.signers;
  }
  const pgpKeys: PgpTrustedKey[] = [];
  for (const file of cfg.pgpKeys) {
    try {
      pgpKeys.push(...(await loadPgpKeyFile(file)));
    } catch (err) {
      if (!(err instanceof NfgitError)) throw err;
      problems.push(err.message);
    }
  }
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  return { requireSignedCommits: cfg.requireSignedCommits, allowedSigners, pgpKeys, matchCommitter: cfg.matchCommitter ?? false };
}

type Refusal = Extract<CommitVerdict, { trusted: false }>;

/**
 * A refusal, unless signatures are optional and the problem is only that nfgit cannot vouch for the
 * signer: such a commit is no worse than an unsigned one. Bad signatures are always refused.
 */
function refuse(trust: LoadedTrust, refusal: Refusal): CommitVerdict {
  if (trust.requireSignedCommits || refusal.reason === 'bad-signature') return refusal;
  return {
    trusted: true,
    kind: 'unsigned-allowed',
    signer: null,
    detail: `${refusal.detail} (accepted as unsigned: trust.requireSignedCommits is false)`,
  };
}

/**
 * A good signature by a key that may not commit as the committer it names (trust.matchCommitter):
 * refused even when signatures are optional, as the commit misstates who made it.
 */
function committerMismatch(detail: string, email: string | undefined): CommitVerdict {
  const who = email === undefined ? 'has no valid committer line' : `names the committer ${email}, which is not an identity of that key`;
  return {
    trusted: false,
    reason: 'untrusted',
    detail: `${detail}, but ${who} (trust.matchCommitter is true: commit as one of the key's identities)`,
  };
}

/** The verdict on an SSH-signed commit; the committer time is the signature time, as git uses it. */
function verifySshCommit(payload: Buffer, signature: string, trust: LoadedTrust): CommitVerdict {
  const when = committerTime(payload);
  if (when === undefined)
    return { trusted: false, reason: 'bad-signature', detail: 'has an SSH signature but no valid committer line to date it' };
  const r = verifySshSignature(payload, signature, trust.allowedSigners ?? [], when);
  if (r.ok) {
    const signer = r.principals.join(',');
    const detail = `is signed by ${signer} with SSH key ${r.key.fingerprint}`;
    if (trust.matchCommitter) {
      const email = committerEmail(payload);
      if (email === undefined || !matchPatternList(email, r.principals)) return committerMismatch(detail, email);
    }
    return { trusted: true, kind: 'ssh', signer, detail };
  }
  switch (r.failure) {
    case 'untrusted-key':
      if (trust.allowedSigners === null) {
        const key = r.key === undefined ? 'an SSH key' : `SSH key ${r.key.fingerprint}`;
        return refuse(trust, { trusted: false, reason: 'untrusted', detail: `is signed with ${key}, but trust.allowedSigners is not set` });
      }
      return refuse(trust, { trusted: false, reason: 'untrusted', detail: `has an untrusted SSH signature: ${r.reason}` });
    case 'unsupported':
      return refuse(trust, { trusted: false, reason: 'unsupported', detail: `has an SSH signature nfgit cannot check: ${r.reason}` });
    default:
      return { trusted: false, reason: 'bad-signature', detail: `has a bad SSH signature: ${r.reason}` };
  }
}

/** The verdict on an OpenPGP-signed commit, with keys checked at `now` as gpg does. */
async function verifyPgpCommit(payload: Buffer, signature: string, trust: LoadedTrust, now: Date): Promise<CommitVerdict> {
  const r = await verifyPgpSignature(payload, signature, trust.pgpKeys, now);
  if (r.ok) {
    const key = r.signingKey === r.fingerprint ? `OpenPGP key ${r.fingerprint}` : `OpenPGP subkey ${r.signingKey} of key ${r.fingerprint}`;
    const detail = `is signed by ${r.signer} with ${key}`;
    if (trust.matchCommitter) {
      const email = committerEmail(payload);
      const trusted = trust.pgpKeys.find((k) => k.key.getFingerprint().toUpperCase() === r.fingerprint.toUpperCase());
      const emails = (trusted?.key.users ?? []).map((u) => u.userID?.email ?? '').filter((e) => e !== '');
      if (email === undefined || !emails.some((e) => e.toLowerCase() === email.toLowerCase())) return committerMismatch(detail, email);
    }
    return { trusted: true, kind: 'pgp', signer: r.signer, detail };
  }
  switch (r.failure) {
    case 'untrusted-key':
    case 'expired-key':
      return refuse(trust, { trusted: false, reason: 'untrusted', detail: `has an untrusted OpenPGP signature: ${r.reason}` });
    default:
      return { trusted: false, reason: 'bad-signature', detail: `has a bad OpenPGP signature: ${r.reason}` };
  }
}

/**
 * Decides whether a commit may be applied, from its raw object content (without the `commit N\0`
 * header, as isomorphic-git's readObject({format: 'content'}) and `git cat-file commit` give it).
 * SSH signatures are checked at the committer time, OpenPGP keys at `now`. Pure but for the clock default.
 */
export async function verifyCommit(raw: Uint8Array, trust: LoadedTrust, now: Date = new Date()): Promise<CommitVerdict> {
  const split = splitSignedCommit(raw);
  switch (split.kind) {
    case 'none':
      if (trust.requireSignedCommits)
        return { trusted: false, reason: 'unsigned', detail: 'is not signed, and trust.requireSignedCommits is true' };
      return {
        trusted: true,
        kind: 'unsigned-allowed',
        signer: null,
        detail: 'is not signed (allowed: trust.requireSignedCommits is false)',
      };
    case 'other':
      return refuse(trust, {
        trusted: false,
        reason: 'unsupported',
        detail: 'is signed in a format nfgit cannot check (X.509?): sign commits with SSH or OpenPGP keys',
      });
    case 'ssh':
      return verifySshCommit(split.payload, split.signature ?? '', trust);
    case 'pgp':
      return verifyPgpCommit(split.payload, split.signature ?? '', trust, now);
  }
}

/** One sentence about a verdict for logs and status: `commit abc1234 is not signed, and …`. */
export function describeVerdict(oid: string, verdict: CommitVerdict): string {
  return `commit ${oid.slice(0, 7)} ${verdict.detail}`;
}
