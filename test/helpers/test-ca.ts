// A private CA and a server certificate signed by it, made by openssl in a temporary directory: what
// an HTTPS git server of a company's own CA looks like to nfgit.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { mustRun } from '../git/signing/tools.js';

/** PEM files and texts of a test CA and of a server certificate it signed. */
export interface TestCa {
  /** The CA's certificate (what repository.caFile names). */
  readonly caFile: string;
  readonly caPem: string;
  /** The server's key and certificate (for https.createServer). */
  readonly key: string;
  readonly cert: string;
}

/** Makes a CA (`CN=nfgit test CA`) and a server certificate for names (DNS or IP: `localhost`, `127.0.0.1`) in dir. */
export async function makeTestCa(dir: string, names: readonly string[] = ['localhost', '127.0.0.1']): Promise<TestCa> {
  const f = (n: string): string => path.join(dir, n);
  await mustRun(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2'].concat([
      '-keyout',
      f('ca.key'),
      '-out',
      f('ca.pem'),
      '-subj',
      '/CN=nfgit test CA',
    ]),
  );
  await mustRun(
    'openssl',
    ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'].concat([
      '-keyout',
      f('server.key'),
      '-out',
      f('server.csr'),
      '-subj',
      `/CN=${names[0] ?? 'localhost'}`,
    ]),
  );
  const san = names.map((n) => (/^[0-9.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  writeFileSync(f('server.ext'), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  await mustRun(
    'openssl',
    ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial'].concat([
      '-days',
      '2',
      '-extfile',
      f('server.ext'),
      '-out',
      f('server.pem'),
    ]),
  );
  return {
    caFile: f('ca.pem'),
    caPem: readFileSync(f('ca.pem'), 'utf8'),
    key: readFileSync(f('server.key'), 'utf8'),
    cert: readFileSync(f('server.pem'), 'utf8'),
  };
}
