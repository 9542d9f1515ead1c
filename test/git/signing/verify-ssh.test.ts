import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllowedSigners } from '../../../src/git/signing/allowed-signers.js';
import { verifySshSignature } from '../../../src/git/signing/verify-ssh.js';
import { mustRun, sshFingerprint, sshKeygen, withTempDir } from './tools.js';

const DATA =
  'tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1700000000 +0000\ncommitter A <a@x> 1700000000 +0000\n\nrules\n';
const NOW = new Date('2024-06-01T00:00:00Z');

test('signatures from ssh-keygen: trusted, unknown key, restricted namespace, expired, tampered, other namespace', async (t) => {
  await withTempDir('verify-ssh', async (dir) => {
    const alice = await sshKeygen(dir, 'alice', 'ed25519');
    const mallory = await sshKeygen(dir, 'mallory', 'ed25519');
    const aliceFp = await sshFingerprint(alice.file);
    const malloryFp = await sshFingerprint(mallory.file);
    const data = path.join(dir, 'data');
    writeFileSync(data, DATA);
    const sign = (file: string, ns = 'git'): Promise<string> =>
      mustRun('ssh-keygen', ['-Y', 'sign', '-n', ns, '-f', file], { input: DATA });
    const aliceSig = await sign(alice.file);
    const signers = parseAllowedSigners(`alice@example.net,admins@example.net ${alice.pub}\n`);

    const ok = verifySshSignature(DATA, aliceSig, signers, NOW);
    t.true(ok.ok);
    if (ok.ok) {
      t.deepEqual(ok.principals, ['alice@example.net', 'admins@example.net']);
      t.is(ok.key.fingerprint, aliceFp);
      t.is(ok.key.text, alice.pub);
    }
    t.deepEqual(verifySshSignature(Buffer.from(DATA), aliceSig, signers, NOW).ok, true);

    t.like(verifySshSignature(DATA, await sign(mallory.file), signers, NOW), {
      ok: false,
      failure: 'untrusted-key',
      reason: `signed by a key not in allowed_signers (${malloryFp})`,
    });
    t.not(aliceFp, malloryFp);

    const nsOnly = parseAllowedSigners(`alice@example.net namespaces="file" ${alice.pub}\n`);
    const ns = verifySshSignature(DATA, aliceSig, nsOnly, NOW);
    t.like(ns, { ok: false, failure: 'untrusted-key' });
    t.regex(
      ns.ok ? '' : ns.reason,
      new RegExp(`^key ${aliceFp.replace(/[+/]/g, '\\$&')} \\(alice@example.net, line 1\\) is not valid for namespace git`),
    );

    const expired = parseAllowedSigners(`alice@example.net valid-before="20240101Z" ${alice.pub}\n`);
    const exp = verifySshSignature(DATA, aliceSig, expired, NOW);
    t.regex(
      exp.ok ? '' : exp.reason,
      /expired at 2024-01-01T00:00:00.000Z \(valid-before\), the signature is from 2024-06-01T00:00:00.000Z/,
    );
    const early = parseAllowedSigners(`alice@example.net valid-after="20250101Z" ${alice.pub}\n`);
    const ea = verifySshSignature(DATA, aliceSig, early, NOW);
    t.regex(ea.ok ? '' : ea.reason, /is not valid before 2025-01-01T00:00:00.000Z \(valid-after\)/);

    t.like(verifySshSignature(`${DATA}evil\n`, aliceSig, signers, NOW), {
      ok: false,
      failure: 'bad-signature',
      reason: `signature does not match the data (key ${aliceFp})`,
    });
    t.like(verifySshSignature(DATA, await sign(alice.file, 'file'), signers, NOW), {
      ok: false,
      failure: 'wrong-namespace',
      reason: 'the signature was made for namespace "file", not "git"',
    });
    t.like(verifySshSignature(DATA, 'not a signature', signers, NOW), { ok: false, failure: 'malformed' });
    // an RSA signer works the same way
    const rsa = await sshKeygen(dir, 'rsa', 'rsa', ['-b', '2048']);
    const rsaSigners = parseAllowedSigners(`ops@example.net ${rsa.pub}\n`);
    t.like(verifySshSignature(DATA, await sign(rsa.file), rsaSigners, NOW), { ok: true, principals: ['ops@example.net'] });
  });
});
