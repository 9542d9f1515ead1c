import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { allowedSignersLine, signerPrincipal } from '../../src/git/signing/host-identity.js';
import { generateHostKey, loadHostKey, type HostKey } from '../../src/git/signing/openssh-key.js';

/** Makes a host key in dir as `nfgit keygen` does, and adds its line to the allowed_signers file. */
export function hostKey(dir: string, host: string, allowedSigners: string): HostKey {
  const file = path.join(dir, `${host}.key`);
  const pub = generateHostKey(file, signerPrincipal(host));
  appendFileSync(allowedSigners, allowedSignersLine(host, pub) + '\n');
  return loadHostKey(file);
}
