import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { NfgitError } from '../../../src/errors/errors.js';
import { loadPgpKeyFile, parsePgpPublicKeys, verifyPgpSignature } from '../../../src/git/signing/verify-pgp.js';
import { gpgKeygen, withGpgHome, withTempDir, type GpgHome } from './tools.js';

const DATA =
  'tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1700000000 +0000\ncommitter A <a@x> 1700000000 +0000\n\nrules\n';

/** A detached binary signature, armored, as git makes it (`gpg -bsau KEY`). */
function sign(home: GpgHome, key: string, data = DATA, extra: readonly string[] = []): Promise<string> {
  return home.gpg([...extra, '--armor', '--detach-sign', '--local-user', key], { input: data });
}

/** Fingerprints of a key's subkeys, as gpg lists them. */
async function subkeys(home: GpgHome, fpr: string): Promise<string[]> {
  const colons = await home.gpg(['--with-colons', '--list-keys', fpr]);
  return [...colons.matchAll(/^sub:[^\n]*\nfpr:+([0-9A-F]{40}):/gm)].map((m) => m[1] ?? '');
}

test('signatures from gpg 2.2 ed25519 keys: primary key, subkey, unknown key, tampered data, malformed', async (t) => {
  await withTempDir('verify-pgp', (dir) =>
    withGpgHome(dir, async (home) => {
      const alice = await gpgKeygen(home, 'Alice <alice@example.net>');
      const mallory = await gpgKeygen(home, 'Mallory <mallory@example.net>');
      const byPrimary = await sign(home, `${alice}!`);
      await home.gpg(['--quick-add-key', alice, 'ed25519', 'sign']);
      const [sub] = await subkeys(home, alice);
      t.truthy(sub);
      const bySubkey = await sign(home, alice); // gpg picks the newest signing subkey
      const file = path.join(dir, 'alice.asc');
      writeFileSync(file, await home.gpg(['--armor', '--export', alice]));
      const keys = await loadPgpKeyFile(file);
      t.is(keys.length, 1);
      t.is(keys[0]?.source, file);
      const now = new Date();

      t.deepEqual(await verifyPgpSignature(Buffer.from(DATA), byPrimary, keys, now), {
        ok: true,
        signer: 'Alice <alice@example.net>',
        fingerprint: alice,
        signingKey: alice,
      });
      t.deepEqual(await verifyPgpSignature(Buffer.from(DATA), bySubkey, keys, now), {
        ok: true,
        signer: 'Alice <alice@example.net>',
        fingerprint: alice,
        signingKey: sub ?? '',
      });
      t.deepEqual(await verifyPgpSignature(Buffer.from(DATA), await sign(home, mallory), keys, now), {
        ok: false,
        failure: 'untrusted-key',
        reason: `signed by OpenPGP key ${mallory}, which is not among the trusted keys (trust.pgpKeys)`,
      });
      t.deepEqual(await verifyPgpSignature(Buffer.from(`${DATA}evil\n`), byPrimary, keys, now), {
        ok: false,
        failure: 'bad-signature',
        reason: `signature does not match the data (key ${alice} (Alice <alice@example.net>))`,
      });
      t.like(await verifyPgpSignature(Buffer.from(DATA), 'not a signature', keys, now), { ok: false, failure: 'malformed' });
      // a signature dated after the time it is checked at (a host clock far behind)
      const early = await verifyPgpSignature(Buffer.from(DATA), byPrimary, keys, new Date('2020-01-01T00:00:00Z'));
      t.like(early, { ok: false, failure: 'bad-signature' });
      t.regex(early.ok ? '' : early.reason, /is dated .*, after 2020-01-01T00:00:00.000Z \(is this host's clock behind\?\)$/);
    }),
  );
});

test('an expired key: trusted while it was valid, expired-key afterwards', async (t) => {
  await withTempDir('verify-pgp-exp', (dir) =>
    withGpgHome(dir, async (home) => {
      const faked = ['--faked-system-time', '20200101T120000!', '--ignore-time-conflict'];
      const old = await gpgKeygen(home, 'Old <old@example.net>', '1d', faked);
      const sig = await sign(home, old, DATA, faked);
      const keys = await parsePgpPublicKeys(await home.gpg(['--armor', '--export', old]), 'old.asc');
      t.like(await verifyPgpSignature(Buffer.from(DATA), sig, keys, new Date('2020-01-01T13:00:00Z')), { ok: true, fingerprint: old });
      const r = await verifyPgpSignature(Buffer.from(DATA), sig, keys, new Date('2024-01-01T00:00:00Z'));
      t.like(r, { ok: false, failure: 'expired-key' });
      t.regex(
        r.ok ? '' : r.reason,
        new RegExp(`^OpenPGP key ${old} \\(Old <old@example.net>\\) expired at 2020-01-02T12:00:00.000Z, before 2024-01-01T00:00:00.000Z`),
      );
    }),
  );
});

test('key files: several keys in one block or several blocks; missing, empty, garbage and private key files are refused by name', async (t) => {
  await withTempDir('pgp-keys', (dir) =>
    withGpgHome(dir, async (home) => {
      const alice = await gpgKeygen(home, 'Alice <alice@example.net>');
      const bob = await gpgKeygen(home, 'Bob <bob@example.net>');
      const both = await parsePgpPublicKeys(await home.gpg(['--armor', '--export', alice, bob]), 'both.asc');
      t.deepEqual(both.map((k) => k.key.getFingerprint().toUpperCase()).sort(), [alice, bob].sort());
      const concatenated = `${await home.gpg(['--armor', '--export', alice])}\n${await home.gpg(['--armor', '--export', bob])}`;
      t.is((await parsePgpPublicKeys(concatenated, 'cat.asc')).length, 2);

      const missing = path.join(dir, 'missing.asc');
      await t.throwsAsync(loadPgpKeyFile(missing), {
        instanceOf: NfgitError,
        message: `${missing}: cannot read the OpenPGP key file: it does not exist`,
      });
      const empty = path.join(dir, 'empty.asc');
      writeFileSync(empty, '');
      await t.throwsAsync(loadPgpKeyFile(empty), {
        message: `${empty}: no armored OpenPGP public key found (a -----BEGIN PGP PUBLIC KEY BLOCK----- line): export it with \`gpg --armor --export FINGERPRINT\``,
      });
      const binary = path.join(dir, 'binary.gpg');
      writeFileSync(binary, await home.gpg(['--export', alice]));
      await t.throwsAsync(loadPgpKeyFile(binary), { message: /^.*binary\.gpg: no armored OpenPGP public key found/ });
      const garbage = path.join(dir, 'garbage.asc');
      writeFileSync(garbage, '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n=AAAA\n-----END PGP PUBLIC KEY BLOCK-----\n');
      const g = await t.throwsAsync(loadPgpKeyFile(garbage), { instanceOf: NfgitError });
      t.regex(g?.message ?? '', new RegExp(`^${garbage}: the public key block is not a valid OpenPGP key \\(.*\\): export it with`));
      t.is(g?.code, 'UsageError');
      const secret = path.join(dir, 'secret.asc');
      writeFileSync(secret, await home.gpg(['--armor', '--export-secret-keys', alice]));
      await t.throwsAsync(loadPgpKeyFile(secret), {
        message: `${secret}: holds an OpenPGP private key, which nfgit refuses to read: give the public key instead (export it with \`gpg --armor --export FINGERPRINT\`), and remove the private key from this host`,
      });
    }),
  );
});
