import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NfgitError } from '../../../src/errors/errors.js';
import {
  fingerprintSha256,
  formatOpenSshPrivateKey,
  generateHostKey,
  loadHostKey,
  parseOpenSshPrivateKey,
  parsePublicKeyText,
} from '../../../src/git/signing/openssh-key.js';
import { mustRun, runTool, sshFingerprint, sshKeygen, withTempDir } from './tools.js';

function usageError(t: { throws: (fn: () => unknown, e: object) => unknown }, fn: () => unknown, message: RegExp): void {
  t.throws(fn, { instanceOf: NfgitError, message });
}

test('generateHostKey writes a 0600 OpenSSH key that ssh-keygen reads and signs with', async (t) => {
  await withTempDir('keygen', async (dir) => {
    const file = path.join(dir, 'signing_key');
    const line = generateHostKey(file, 'nfgit@fw1');
    t.is(statSync(file).mode & 0o777, 0o600);
    t.regex(line, /^ssh-ed25519 AAAA[A-Za-z0-9+/]+=* nfgit@fw1$/);
    // ssh-keygen prints the same public key and comment, and the same fingerprint
    t.is((await mustRun('ssh-keygen', ['-y', '-f', file])).trim(), line);
    const key = loadHostKey(file);
    t.is(`${key.publicKey} ${key.comment}`, line);
    t.is(fingerprintSha256(key.publicKeyBlob), await sshFingerprint(file));
    // and signs with it
    const data = path.join(dir, 'data');
    writeFileSync(data, 'payload\n');
    await mustRun('ssh-keygen', ['-Y', 'sign', '-n', 'git', '-f', file, data]);
    t.regex(readFileSync(`${data}.sig`, 'utf8'), /^-----BEGIN SSH SIGNATURE-----\n/);
    // never overwrites a key
    usageError(t, () => generateHostKey(file, 'again'), /already exists/);
    t.is((await mustRun('ssh-keygen', ['-y', '-f', file])).trim(), line);
  });
});

test('every comment length pads the private section correctly for ssh-keygen', async (t) => {
  await withTempDir('keygen-pad', async (dir) => {
    for (let n = 0; n <= 9; n++) {
      const file = path.join(dir, `k${n}`);
      const comment = 'c'.repeat(n);
      const line = generateHostKey(file, comment);
      t.is((await mustRun('ssh-keygen', ['-y', '-f', file])).trim(), line, `comment length ${n}`);
      t.is(loadHostKey(file).comment, comment);
    }
  });
});

test('a key made by ssh-keygen loads with the public key of its .pub file', async (t) => {
  await withTempDir('load', async (dir) => {
    const { file, pub } = await sshKeygen(dir, 'host', 'ed25519');
    const key = loadHostKey(file);
    t.is(key.publicKey, pub);
    t.is(key.comment, 'host@test');
    t.is(readFileSync(`${file}.pub`, 'utf8').trim(), `${pub} host@test`);
    t.is(key.privateKey.asymmetricKeyType, 'ed25519');
  });
});

test('a key group or others can read is refused, like ssh-keygen does', async (t) => {
  await withTempDir('mode', async (dir) => {
    const file = path.join(dir, 'key');
    generateHostKey(file, '');
    for (const mode of [0o640, 0o604, 0o644, 0o660]) {
      chmodSync(file, mode);
      usageError(t, () => loadHostKey(file), new RegExp(`accessible to group or others \\(mode 0${mode.toString(8)}\\).*chmod 600`));
    }
    chmodSync(file, 0o644);
    const r = await runTool('ssh-keygen', ['-y', '-f', file]);
    t.not(r.code, 0, 'ssh-keygen refuses it too');
    t.regex(r.stderr, /UNPROTECTED PRIVATE KEY FILE/);
    chmodSync(file, 0o400);
    t.notThrows(() => loadHostKey(file));
  });
});

test('encrypted, RSA and ECDSA keys are refused with clear messages', async (t) => {
  await withTempDir('refuse', async (dir) => {
    const enc = path.join(dir, 'enc');
    await mustRun('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret phrase', '-f', enc]);
    usageError(t, () => loadHostKey(enc), /is encrypted with a passphrase .*nfgit needs an unencrypted host key/);
    const rsa = await sshKeygen(dir, 'rsa', 'rsa', ['-b', '2048']);
    usageError(t, () => loadHostKey(rsa.file), /holds an ssh-rsa key: nfgit signs with ed25519 keys only/);
    const ecdsa = await sshKeygen(dir, 'ecdsa', 'ecdsa');
    usageError(t, () => loadHostKey(ecdsa.file), /holds an ecdsa-sha2-nistp256 key/);
    usageError(t, () => loadHostKey(`${ecdsa.file}.pub`), /is a public key: nfgit needs the private key file/);
    usageError(t, () => loadHostKey(path.join(dir, 'missing')), /does not exist \(make one with `nfgit keygen`\)/);
    usageError(t, () => loadHostKey(dir), /not a regular file|cannot read/);
  });
});

test('malformed key files are refused without crashing', (t) => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const good = formatOpenSshPrivateKey(privateKey, 'x');
  t.notThrows(() => parseOpenSshPrivateKey(good));
  const lines = good.trimEnd().split('\n');
  const body = lines.slice(1, -1).join('');
  const armor = (b64: string): string => `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}\n-----END OPENSSH PRIVATE KEY-----\n`;
  const bytes = Buffer.from(body, 'base64');
  const cases: Array<[string, RegExp]> = [
    ['', /not an OpenSSH private key/],
    ['hello\n', /not an OpenSSH private key/],
    [privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), /is a PEM "PRIVATE KEY" file/],
    [good.replace('-----END OPENSSH PRIVATE KEY-----', ''), /END OPENSSH PRIVATE KEY.* is missing/],
    [armor('not*base64'), /not valid base64/],
    [armor(Buffer.from('openssh-key-v2\0').toString('base64')), /does not start with "openssh-key-v1"/],
    [armor(bytes.subarray(0, bytes.length - 20).toString('base64')), /is malformed: truncated/],
    [armor(Buffer.concat([bytes, Buffer.from([0])]).toString('base64')), /trailing bytes/],
  ];
  // flip a byte of the private seed: the halves no longer match
  const flipped = Buffer.from(bytes);
  const seedAt = flipped.indexOf(Buffer.from(privateKey.export({ format: 'jwk' }).d ?? '', 'base64url'));
  t.true(seedAt > 0);
  flipped[seedAt] = (flipped[seedAt] ?? 0) ^ 0xff;
  cases.push([armor(flipped.toString('base64')), /public key does not match its private key/]);
  for (const [text, message] of cases) {
    t.throws(() => parseOpenSshPrivateKey(text, 'the key'), { instanceOf: NfgitError, message }, JSON.stringify(text.slice(0, 60)));
  }
});

test('public key lines parse and name their fingerprint', async (t) => {
  await withTempDir('pub', async (dir) => {
    const { file, pub } = await sshKeygen(dir, 'k', 'ed25519');
    const key = parsePublicKeyText(`${pub} a comment`);
    t.is(key.type, 'ssh-ed25519');
    t.is(key.text, pub);
    t.is(key.fingerprint, await sshFingerprint(file));
    t.throws(() => parsePublicKeyText(pub.replace('ssh-ed25519', 'ssh-rsa')), { message: /named ssh-rsa but holds an ssh-ed25519 key/ });
    t.throws(() => parsePublicKeyText('ssh-ed25519 AAAA!!'), { message: /not valid base64/ });
  });
});
