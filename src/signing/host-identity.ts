/** Where a host's signing key lives by default (the agent's `signing.key`). */
export const DEFAULT_SIGNING_KEY = '/etc/nfgit/signing_key';

/**
 * The identity a host signs status tags as: `HOST@nfgit`, used as the tagger e-mail and as the
 * principal of its allowed_signers line, so `git tag -v` (which looks the tagger up) finds the key.
 */
export function signerPrincipal(host: string): string {
  return `${host}@nfgit`;
}
