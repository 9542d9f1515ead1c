import { matchSigner, type AllowedSigner } from './allowed-signers.js';
import type { SshPublicKey } from './openssh-key.js';
import { verifySshsig, type SshsigFailure } from './sshsig.js';

// Checking an SSH signature over a git object the way git does with gpg.ssh.allowedSignersFile: the
// signature must match the data, be made for the namespace, and come from a key allowed_signers lists.

/** Why a signature is not trusted: the signature's own problems, or allowed_signers refusing its key. */
export type SshVerifyFailure = SshsigFailure | 'untrusted-key';

/** The answer: who signed (principals from allowed_signers) and with which key, or why it is not trusted. */
export type SshVerifyResult =
  | { readonly ok: true; readonly principals: readonly string[]; readonly key: SshPublicKey }
  | { readonly ok: false; readonly failure: SshVerifyFailure; readonly reason: string; readonly key?: SshPublicKey };

/**
 * Verifies an armored SSH signature over payload against allowed signers, at the time `when` (for
 * valid-after/valid-before; git uses the committer or tagger time). Reasons are for administrators,
 * and name the key by its SHA256 fingerprint. Pure.
 */
export function verifySshSignature(
  payload: Buffer | Uint8Array | string,
  armored: string,
  signers: readonly AllowedSigner[],
  when: Date,
  namespace = 'git',
): SshVerifyResult {
  const sig = verifySshsig(payload, armored, namespace);
  if (!sig.ok) return sig;
  const match = matchSigner(signers, sig.key.blob, namespace, when, sig.sk);
  if (!match.ok) return { ok: false, failure: 'untrusted-key', reason: match.reason, key: sig.key };
  return { ok: true, principals: match.principals, key: sig.key };
}
