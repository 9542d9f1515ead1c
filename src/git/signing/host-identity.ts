/** Where a host's signing key lives by default (the agent's `signing.key`). */
export const DEFAULT_SIGNING_KEY = '/etc/nfgit/signing_key';

/**
 * The identity a host signs status tags as: `HOST@nfgit`, used as the tagger e-mail and as the
 * principal of its allowed_signers line, so `git tag -v` (which looks the tagger up) finds the key.
 */
export function signerPrincipal(host: string): string {
  return `${host}@nfgit`;
}

/**
 * The allowed_signers line that lets git (and `nfgit status`) verify a host's status tags:
 * `HOST@nfgit namespaces="git" TYPE BASE64` (the public key's comment dropped).
 */
export function allowedSignersLine(host: string, publicKey: string): string {
  return `${signerPrincipal(host)} namespaces="git" ${publicKey.split(' ').slice(0, 2).join(' ')}`;
}
