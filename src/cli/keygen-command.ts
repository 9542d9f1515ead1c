// `nfgit keygen`: the host's signing key for status tags, and its allowed_signers line.

import { chmodSync, existsSync, lstatSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { generateHostKey, loadHostKey } from '../git/signing/openssh-key.js';
import { allowedSignersLine, DEFAULT_SIGNING_KEY, signerPrincipal } from '../git/signing/host-identity.js';
import { makeDirsSync } from '../util/make-dirs.js';
import { UsageError } from '../errors/errors.js';

/** The host a key was made for, from its comment (`HOST@nfgit`, what keygen writes), if it has one. */
function hostOfComment(comment: string): string | undefined {
  const m = /^(.+)@nfgit$/.exec(comment.trim());
  return m?.[1];
}

/**
 * `--if-missing` with a key already there (a first-boot unit, postinst, a configuration tool run
 * again): keep it, make its .pub if that is gone, and print its allowed_signers line. A file there
 * that is not a usable key is an error (exit 2), never replaced.
 */
function keepExisting(key: string, host: string | undefined): void {
  const existing = loadHostKey(key);
  const name = host ?? hostOfComment(existing.comment) ?? os.hostname();
  if (!existsSync(`${key}.pub`)) {
    const comment = existing.comment === '' ? '' : ` ${existing.comment}`;
    writePublicKey(`${key}.pub`, `${existing.publicKey}${comment}\n`);
  }
  process.stderr.write(`${key} exists: kept (--if-missing); its allowed_signers line:\n`);
  process.stdout.write(allowedSignersLine(name, existing.publicKey) + '\n');
}

/** Writes the public key file, mode 0644 whatever the umask (nfgit-keygen.service runs with UMask=0077). */
function writePublicKey(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o644 });
  chmodSync(file, 0o644);
}

/** Adds `nfgit keygen`. */
export function registerKeygen(program: Command): void {
  program
    .command('keygen')
    .description("make this host's signing key (OpenSSH ed25519) for status tags, and print its allowed_signers line")
    .option('--key <file>', 'where to write the private key (the public key goes beside it, with .pub)', DEFAULT_SIGNING_KEY)
    .option('--host <name>', 'host name for the principal (default: this host name)')
    .option(
      '--if-missing',
      "do nothing if the key exists, but print its allowed_signers line (exit 0): for a host's first boot, like ssh-keygen -A",
    )
    .action((flags: { key: string; host?: string; ifMissing?: boolean }) => {
      // lstat: a dangling symbolic link is "there" too, and is not followed to create a key elsewhere.
      if (flags.ifMissing === true && lstatSync(flags.key, { throwIfNoEntry: false }) !== undefined) {
        keepExisting(flags.key, flags.host);
        return;
      }
      const host = flags.host ?? os.hostname();
      const principal = signerPrincipal(host);
      try {
        makeDirsSync(path.dirname(flags.key), 0o700);
      } catch (err) {
        throw new UsageError(`cannot make the directory of ${flags.key}: ${(err as Error).message}`, { cause: err });
      }
      const publicKey = generateHostKey(flags.key, principal);
      writePublicKey(`${flags.key}.pub`, publicKey + '\n');
      const line = allowedSignersLine(host, publicKey);
      process.stderr.write(
        `wrote ${flags.key} (private, mode 0600) and ${flags.key}.pub; add this line to the allowed_signers file that verifies status tags:\n`,
      );
      process.stdout.write(line + '\n');
    });
}
