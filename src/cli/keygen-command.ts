// `nfgit keygen`: the host's signing key for status tags, and its allowed_signers line.

import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { generateHostKey } from '../git/signing/openssh-key.js';
import { allowedSignersLine, DEFAULT_SIGNING_KEY, signerPrincipal } from '../git/signing/host-identity.js';
import { makeDirsSync } from '../util/make-dirs.js';
import { UsageError } from '../errors/errors.js';

/** Adds `nfgit keygen`. */
export function registerKeygen(program: Command): void {
  program
    .command('keygen')
    .description("make this host's signing key (OpenSSH ed25519) for status tags, and print its allowed_signers line")
    .option('--key <file>', 'where to write the private key (the public key goes beside it, with .pub)', DEFAULT_SIGNING_KEY)
    .option('--host <name>', 'host name for the principal (default: this host name)')
    .action((flags: { key: string; host?: string }) => {
      const host = flags.host ?? os.hostname();
      const principal = signerPrincipal(host);
      try {
        makeDirsSync(path.dirname(flags.key), 0o700);
      } catch (err) {
        throw new UsageError(`cannot make the directory of ${flags.key}: ${(err as Error).message}`, { cause: err });
      }
      const publicKey = generateHostKey(flags.key, principal);
      writeFileSync(`${flags.key}.pub`, publicKey + '\n', { mode: 0o644 });
      const line = allowedSignersLine(host, publicKey);
      process.stderr.write(
        `wrote ${flags.key} (private, mode 0600) and ${flags.key}.pub; add this line to the allowed_signers file that verifies status tags:\n`,
      );
      process.stdout.write(line + '\n');
    });
}
