// repository.caFile: certificate authorities to trust for an HTTPS remote, beside the usual ones. Node
// replaces its whole trust store when a request names CAs, so the bundle is added to Node's built-in
// list (tls.rootCertificates, Mozilla's) and to the system bundle of Debian's ca-certificates, which is
// where `update-ca-certificates` puts local CAs; without a caFile, Node's default store is used as is.

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { UsageError } from '../errors/errors.js';

/** Debian's bundle of the system's CAs (ca-certificates), local ones included. */
export const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/** The certificates of a PEM file, or what is wrong with it (unreadable, none in it, one unreadable). */
export function readPemCertificates(file: string): string[] | { readonly problem: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'a directory'
            : (err as Error).message;
    return { problem: `cannot read ${file}: ${why}` };
  }
  const certs = text.match(PEM_CERT) ?? [];
  if (certs.length === 0)
    return { problem: `${file} holds no certificate (a PEM file with -----BEGIN CERTIFICATE----- blocks is expected)` };
  for (const [i, pem] of certs.entries()) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      return { problem: `certificate ${i + 1} in ${file} cannot be read: ${(err as Error).message}` };
    }
  }
  return certs;
}

/** What is wrong with a caFile, for the configuration's list of problems; undefined when it is usable. */
export function caFileProblem(file: string): string | undefined {
  const certs = readPemCertificates(file);
  return Array.isArray(certs) ? undefined : certs.problem;
}

/**
 * The CAs an HTTPS request trusts with caFile: Node's built-in list, the system bundle when there is
 * one, and the file's. Read at each use, so a renewed bundle counts without a restart. A UsageError
 * when the file has become unusable.
 */
export function trustedCas(caFile: string): string[] {
  const own = readPemCertificates(caFile);
  if (!Array.isArray(own)) throw new UsageError(`repository.caFile: ${own.problem}`);
  const system = readPemCertificates(SYSTEM_CA_BUNDLE);
  return [...rootCertificates, ...(Array.isArray(system) ? system : []), ...own];
}
