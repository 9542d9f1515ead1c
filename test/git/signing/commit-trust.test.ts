import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { NfgitError } from '../../../src/errors/errors.js';
import { describeVerdict, loadTrust, verifyCommit, type CommitVerdict, type LoadedTrust } from '../../../src/git/signing/commit-trust.js';
import { gpgKeygen, mustRun, sshFingerprint, sshKeygen, withGpgHome, withTempDir, type GpgHome } from './tools.js';

/** A repository, and commits made in it by stock git: unsigned, signed by gpg, or signed with an SSH key. Returns the raw commit. */
interface Repo {
  readonly unsigned: (message: string) => Promise<Buffer>;
  readonly pgp: (key: string, message: string) => Promise<Buffer>;
  readonly ssh: (keyFile: string, message: string) => Promise<Buffer>;
}

async function makeRepo(dir: string, home: GpgHome): Promise<Repo> {
  const repo = path.join(dir, 'repo');
  await mustRun('git', ['init', '-q', '-b', 'main', repo]);
  const commit = async (config: string[], message: string, sign: boolean): Promise<Buffer> => {
    await mustRun('git', [...config, 'commit', '-q', '--allow-empty', ...(sign ? ['-S'] : []), '-m', message], {
      cwd: repo,
      env: home.env,
    });
    // `git cat-file commit` prints exactly the object content, as isomorphic-git's readObject gives it
    return Buffer.from(await mustRun('git', ['cat-file', 'commit', 'HEAD'], { cwd: repo }), 'utf8');
  };
  return {
    unsigned: (message) => commit([], message, false),
    pgp: (key, message) => commit(['-c', 'gpg.program=gpg', '-c', `user.signingkey=${key}`], message, true),
    ssh: (keyFile, message) => commit(['-c', 'gpg.format=ssh', '-c', `user.signingkey=${keyFile}`], message, true),
  };
}

const REQUIRED = { requireSignedCommits: true };

test('commits signed by stock git with gpg and SSH keys, unsigned and tampered commits', async (t) => {
  await withTempDir('commit-trust', (dir) =>
    withGpgHome(dir, async (home) => {
      const alice = await gpgKeygen(home, 'Alice <alice@example.net>');
      const mallory = await gpgKeygen(home, 'Mallory <mallory@example.net>');
      const aliceSsh = await sshKeygen(dir, 'alice_ssh', 'ed25519');
      const mallorySsh = await sshKeygen(dir, 'mallory_ssh', 'ed25519');
      const aliceSshFp = await sshFingerprint(aliceSsh.file);
      const mallorySshFp = await sshFingerprint(mallorySsh.file);
      const repo = await makeRepo(dir, home);

      const byPrimary = await repo.pgp(`${alice}!`, 'Allow ssh');
      const byMallory = await repo.pgp(mallory, 'Allow everything');
      await home.gpg(['--quick-add-key', alice, 'ed25519', 'sign']);
      const bySubkey = await repo.pgp(alice, 'Allow http'); // gpg picks the new signing subkey
      const bySsh = await repo.ssh(aliceSsh.file, 'Allow dns');
      const byMallorySsh = await repo.ssh(mallorySsh.file, 'Allow smtp');
      const unsigned = await repo.unsigned('Allow ntp');
      const subkey = /^sub:[^\n]*\nfpr:+([0-9A-F]{40}):/m.exec(await home.gpg(['--with-colons', '--list-keys', alice]))?.[1] ?? '';

      const keyFile = path.join(dir, 'alice.asc');
      writeFileSync(keyFile, await home.gpg(['--armor', '--export', alice]));
      const signersFile = path.join(dir, 'allowed_signers');
      writeFileSync(signersFile, `alice@example.net ${aliceSsh.pub}\n`);
      const trust = await loadTrust({ ...REQUIRED, allowedSigners: signersFile, pgpKeys: [keyFile] });
      const optional: LoadedTrust = { ...trust, requireSignedCommits: false };

      const pgpOk: CommitVerdict = {
        trusted: true,
        kind: 'pgp',
        signer: 'Alice <alice@example.net>',
        detail: `is signed by Alice <alice@example.net> with OpenPGP key ${alice}`,
      };
      t.deepEqual(await verifyCommit(byPrimary, trust), pgpOk);
      t.is(describeVerdict('0123456789abcdef', pgpOk), `commit 0123456 is signed by Alice <alice@example.net> with OpenPGP key ${alice}`);
      t.deepEqual(await verifyCommit(bySubkey, trust), {
        trusted: true,
        kind: 'pgp',
        signer: 'Alice <alice@example.net>',
        detail: `is signed by Alice <alice@example.net> with OpenPGP subkey ${subkey} of key ${alice}`,
      });
      t.deepEqual(await verifyCommit(byMallory, trust), {
        trusted: false,
        reason: 'untrusted',
        detail: `has an untrusted OpenPGP signature: signed by OpenPGP key ${mallory}, which is not among the trusted keys (trust.pgpKeys)`,
      });
      const tampered = Buffer.from(byPrimary.toString('utf8').replace('Allow ssh', 'Allow all'));
      const bad: CommitVerdict = {
        trusted: false,
        reason: 'bad-signature',
        detail: `has a bad OpenPGP signature: signature does not match the data (key ${alice} (Alice <alice@example.net>))`,
      };
      t.deepEqual(await verifyCommit(tampered, trust), bad);
      t.deepEqual(await verifyCommit(tampered, optional), bad, 'a bad signature is refused even when signatures are optional');

      t.deepEqual(await verifyCommit(bySsh, trust), {
        trusted: true,
        kind: 'ssh',
        signer: 'alice@example.net',
        detail: `is signed by alice@example.net with SSH key ${aliceSshFp}`,
      });
      const untrustedSsh: CommitVerdict = {
        trusted: false,
        reason: 'untrusted',
        detail: `has an untrusted SSH signature: signed by a key not in allowed_signers (${mallorySshFp})`,
      };
      t.deepEqual(await verifyCommit(byMallorySsh, trust), untrustedSsh);
      t.is(
        describeVerdict('fedcba9876543210', untrustedSsh),
        `commit fedcba9 has an untrusted SSH signature: signed by a key not in allowed_signers (${mallorySshFp})`,
      );
      t.deepEqual(await verifyCommit(byMallorySsh, optional), {
        trusted: true,
        kind: 'unsigned-allowed',
        signer: null,
        detail: `has an untrusted SSH signature: signed by a key not in allowed_signers (${mallorySshFp}) (accepted as unsigned: trust.requireSignedCommits is false)`,
      });
      const tamperedSsh = Buffer.from(bySsh.toString('utf8').replace('Allow dns', 'Allow any'));
      t.like(await verifyCommit(tamperedSsh, optional), {
        trusted: false,
        reason: 'bad-signature',
        detail: `has a bad SSH signature: signature does not match the data (key ${aliceSshFp})`,
      });
      t.deepEqual(await verifyCommit(bySsh, { ...trust, allowedSigners: null }), {
        trusted: false,
        reason: 'untrusted',
        detail: `is signed with SSH key ${aliceSshFp}, but trust.allowedSigners is not set`,
      });

      const unsignedVerdict = await verifyCommit(unsigned, trust);
      t.deepEqual(unsignedVerdict, { trusted: false, reason: 'unsigned', detail: 'is not signed, and trust.requireSignedCommits is true' });
      t.is(describeVerdict('abc1234def', unsignedVerdict), 'commit abc1234 is not signed, and trust.requireSignedCommits is true');
      t.deepEqual(await verifyCommit(unsigned, optional), {
        trusted: true,
        kind: 'unsigned-allowed',
        signer: null,
        detail: 'is not signed (allowed: trust.requireSignedCommits is false)',
      });
      // an unsigned commit with the signed commit's message is still unsigned, not Alice's
      t.like(await verifyCommit(await repo.unsigned('Allow ssh'), trust), { trusted: false, reason: 'unsigned' });
    }),
  );
});

test('SSH signatures are dated by the committer time for valid-after/valid-before; OpenPGP keys are checked at now', async (t) => {
  await withTempDir('commit-trust-time', (dir) =>
    withGpgHome(dir, async (home) => {
      const key = await sshKeygen(dir, 'alice_ssh', 'ed25519');
      const repo = path.join(dir, 'repo');
      await mustRun('git', ['init', '-q', '-b', 'main', repo]);
      const at2021 = { ...home.env, GIT_COMMITTER_DATE: '2021-06-01T00:00:00Z', GIT_AUTHOR_DATE: '2021-06-01T00:00:00Z' };
      await mustRun(
        'git',
        ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${key.file}`, 'commit', '-q', '--allow-empty', '-S', '-m', 'old'],
        { cwd: repo, env: at2021 },
      );
      const sshRaw = Buffer.from(await mustRun('git', ['cat-file', 'commit', 'HEAD'], { cwd: repo }));
      const signers = path.join(dir, 'allowed_signers');
      writeFileSync(signers, `alice@example.net valid-before="20220101Z" ${key.pub}\n`);
      const trust = await loadTrust({ ...REQUIRED, allowedSigners: signers, pgpKeys: [] });
      t.like(
        await verifyCommit(sshRaw, trust),
        { trusted: true, kind: 'ssh' },
        'committed in 2021, key valid until 2022: good, though now is later',
      );
      writeFileSync(signers, `alice@example.net valid-before="20210101Z" ${key.pub}\n`);
      const expired = await verifyCommit(sshRaw, await loadTrust({ ...REQUIRED, allowedSigners: signers, pgpKeys: [] }));
      t.like(expired, { trusted: false, reason: 'untrusted' });
      t.regex(expired.detail, /expired at 2021-01-01T00:00:00.000Z \(valid-before\), the signature is from 2021-06-01T00:00:00.000Z$/);

      // an OpenPGP key that expired after the commit was signed: gpg (and so git verify-commit) refuses it now
      const faked = ['--faked-system-time', '20200101T120000!', '--ignore-time-conflict'];
      const old = await gpgKeygen(home, 'Old <old@example.net>', '1d', faked);
      const wrapper = path.join(dir, 'gpg-2020');
      writeFileSync(wrapper, `#!/bin/sh\nexec gpg ${faked.join(' ')} "$@"\n`, { mode: 0o755 });
      const at2020 = { ...home.env, GIT_COMMITTER_DATE: '2020-01-01T12:00:00Z', GIT_AUTHOR_DATE: '2020-01-01T12:00:00Z' };
      await mustRun(
        'git',
        ['-c', `gpg.program=${wrapper}`, '-c', `user.signingkey=${old}`, 'commit', '-q', '--allow-empty', '-S', '-m', 'older'],
        { cwd: repo, env: at2020 },
      );
      const pgpRaw = Buffer.from(await mustRun('git', ['cat-file', 'commit', 'HEAD'], { cwd: repo }));
      const keyFile = path.join(dir, 'old.asc');
      writeFileSync(keyFile, await home.gpg(['--armor', '--export', old]));
      const pgpTrust = await loadTrust({ ...REQUIRED, allowedSigners: null, pgpKeys: [keyFile] });
      t.like(await verifyCommit(pgpRaw, pgpTrust, new Date('2020-01-01T13:00:00Z')), {
        trusted: true,
        kind: 'pgp',
        signer: 'Old <old@example.net>',
      });
      const later = await verifyCommit(pgpRaw, pgpTrust, new Date('2024-01-01T00:00:00Z'));
      t.like(later, { trusted: false, reason: 'untrusted' });
      t.is(
        later.detail,
        `has an untrusted OpenPGP signature: OpenPGP key ${old} (Old <old@example.net>) expired at 2020-01-02T12:00:00.000Z, before 2024-01-01T00:00:00.000Z: extend it (gpg --quick-set-expire) and update ${keyFile}`,
      );
    }),
  );
});

test('an X.509 (gpgsm) signature is unsupported when signatures are required, and a commit without a committer line is refused', async (t) => {
  const trust: LoadedTrust = { requireSignedCommits: true, allowedSigners: [], pgpKeys: [], matchCommitter: false };
  const x509 = Buffer.from(
    'tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1700000000 +0000\ncommitter A <a@x> 1700000000 +0000\n' +
      'gpgsig -----BEGIN SIGNED MESSAGE-----\n MIAGCSqGSIb3DQEHAqCAMIACAQExDTALBglghkgBZQMEAgEw\n -----END SIGNED MESSAGE-----\n\nrules\n',
  );
  t.deepEqual(await verifyCommit(x509, trust), {
    trusted: false,
    reason: 'unsupported',
    detail: 'is signed in a format nfgit cannot check (X.509?): sign commits with SSH or OpenPGP keys',
  });
  t.like(await verifyCommit(x509, { ...trust, requireSignedCommits: false }), { trusted: true, kind: 'unsigned-allowed', signer: null });
  const noCommitter = Buffer.from(
    'tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\ngpgsig -----BEGIN SSH SIGNATURE-----\n AAAA\n -----END SSH SIGNATURE-----\n\nrules\n',
  );
  t.deepEqual(await verifyCommit(noCommitter, trust), {
    trusted: false,
    reason: 'bad-signature',
    detail: 'has an SSH signature but no valid committer line to date it',
  });
});

test('loadTrust names every file with a problem at once: missing, garbage, private keys', async (t) => {
  await withTempDir('trust-files', (dir) =>
    withGpgHome(dir, async (home) => {
      const alice = await gpgKeygen(home, 'Alice <alice@example.net>');
      const sshKey = await sshKeygen(dir, 'alice_ssh', 'ed25519');
      const missing = path.join(dir, 'missing_signers');
      const garbageSigners = path.join(dir, 'garbage_signers');
      writeFileSync(garbageSigners, '# admins\nthis is not a key\n');
      const missingKey = path.join(dir, 'missing.asc');
      const garbageKey = path.join(dir, 'garbage.asc');
      writeFileSync(garbageKey, 'hello\n');
      const secretKey = path.join(dir, 'secret.asc');
      writeFileSync(secretKey, await home.gpg(['--armor', '--export-secret-keys', alice]));

      await t.throwsAsync(loadTrust({ ...REQUIRED, allowedSigners: missing, pgpKeys: [missingKey, garbageKey, secretKey] }), {
        instanceOf: NfgitError,
        message: [
          `${missing}: cannot read the allowed signers file (trust.allowedSigners): it does not exist`,
          `${missingKey}: cannot read the OpenPGP key file: it does not exist`,
          `${garbageKey}: no armored OpenPGP public key found (a -----BEGIN PGP PUBLIC KEY BLOCK----- line): export it with \`gpg --armor --export FINGERPRINT\``,
          `${secretKey}: holds an OpenPGP private key, which nfgit refuses to read: give the public key instead (export it with \`gpg --armor --export FINGERPRINT\`), and remove the private key from this host`,
        ].join('\n'),
      });
      const garbage = await t.throwsAsync(loadTrust({ ...REQUIRED, allowedSigners: garbageSigners, pgpKeys: [] }), {
        instanceOf: NfgitError,
      });
      t.is(garbage?.code, 'UsageError');
      t.regex(garbage?.message ?? '', new RegExp(`^${garbageSigners}:2: `));
      await t.throwsAsync(loadTrust({ ...REQUIRED, allowedSigners: sshKey.file, pgpKeys: [] }), {
        message: `${sshKey.file}: is a private key, not an allowed_signers file (trust.allowedSigners): list public keys as "principals keytype base64key" lines, and remove the private key from this host`,
      });
      const empty = path.join(dir, 'empty_signers');
      writeFileSync(empty, '# nobody yet\n');
      await t.throwsAsync(loadTrust({ ...REQUIRED, allowedSigners: empty, pgpKeys: [] }), {
        message: /empty_signers: holds no keys \(trust\.allowedSigners\)/,
      });
      const none = await loadTrust({ requireSignedCommits: false, allowedSigners: null, pgpKeys: [] });
      t.deepEqual(none, { requireSignedCommits: false, allowedSigners: null, pgpKeys: [], matchCommitter: false });
    }),
  );
});

test('trust.matchCommitter: the committer e-mail must be a principal (SSH) or a user ID e-mail (OpenPGP) of the signing key', async (t) => {
  await withTempDir('commit-trust-committer', (dir) =>
    withGpgHome(dir, async (home) => {
      const alice = await gpgKeygen(home, 'Alice <Alice@example.net>');
      const aliceSsh = await sshKeygen(dir, 'alice_ssh', 'ed25519');
      const fp = await sshFingerprint(aliceSsh.file);
      const repo = path.join(dir, 'repo');
      await mustRun('git', ['init', '-q', '-b', 'main', repo]);
      const commit = async (config: string[], email: string): Promise<Buffer> => {
        await mustRun('git', [...config, 'commit', '-q', '--allow-empty', '-S', '-m', 'x'], {
          cwd: repo,
          env: { ...home.env, GIT_COMMITTER_EMAIL: email },
        });
        return Buffer.from(await mustRun('git', ['cat-file', 'commit', 'HEAD'], { cwd: repo }), 'utf8');
      };
      const ssh = ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${aliceSsh.file}`];
      const pgp = ['-c', 'gpg.program=gpg', '-c', `user.signingkey=${alice}`];
      const sshOwn = await commit(ssh, 'alice@example.net');
      const sshOther = await commit(ssh, 'bob@example.net');
      const pgpOwn = await commit(pgp, 'alice@example.net');
      const pgpOther = await commit(pgp, 'bob@example.net');
      const keyFile = path.join(dir, 'alice.asc');
      writeFileSync(keyFile, await home.gpg(['--armor', '--export', alice]));
      const signersFile = path.join(dir, 'allowed_signers');
      writeFileSync(signersFile, `alice@example.net,*@ops.example.net ${aliceSsh.pub}\n`);
      const off = await loadTrust({ ...REQUIRED, allowedSigners: signersFile, pgpKeys: [keyFile] });
      const on = await loadTrust({ ...REQUIRED, allowedSigners: signersFile, pgpKeys: [keyFile], matchCommitter: true });
      t.false(off.matchCommitter);
      for (const raw of [sshOwn, sshOther, pgpOwn, pgpOther]) t.like(await verifyCommit(raw, off), { trusted: true });
      t.like(await verifyCommit(sshOwn, on), { trusted: true, kind: 'ssh' });
      t.like(
        await verifyCommit(await commit(ssh, 'carol@ops.example.net'), on),
        { trusted: true, kind: 'ssh' },
        'a principal pattern matches',
      );
      t.like(await verifyCommit(pgpOwn, on), { trusted: true, kind: 'pgp' }, 'e-mails compare without case');
      t.deepEqual(await verifyCommit(sshOther, on), {
        trusted: false,
        reason: 'untrusted',
        detail: `is signed by alice@example.net,*@ops.example.net with SSH key ${fp}, but names the committer bob@example.net, which is not an identity of that key (trust.matchCommitter is true: commit as one of the key's identities)`,
      });
      const refused = await verifyCommit(pgpOther, on);
      t.like(refused, { trusted: false, reason: 'untrusted' });
      t.regex(
        refused.detail,
        /^is signed by Alice <Alice@example\.net> with OpenPGP key [0-9A-F]{40}, but names the committer bob@example\.net, which is not an identity of that key/,
      );
      // Not waved through as unsigned when signatures are optional: the commit misstates who made it.
      t.like(await verifyCommit(sshOther, { ...on, requireSignedCommits: false }), { trusted: false });
    }),
  );
});
