import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { NfgitErrors } from '../../../src/errors/errors.js';
import { parseAllowedSigners } from '../../../src/git/signing/allowed-signers.js';
import { SshReader, sshString, sshUint32, wrapBase64 } from '../../../src/git/signing/openssh-key.js';
import { SSHSIG_BEGIN, SSHSIG_END, parseSshsig, verifySshsig } from '../../../src/git/signing/sshsig.js';
import { loadTrust, verifyCommit } from '../../../src/git/signing/commit-trust.js';
import { verifySshSignature, type SshVerifyResult } from '../../../src/git/signing/verify-ssh.js';
import { skKey, skSshsig, type SkKind, type SkSignOptions, type SkTestKey } from './sk-keys.js';
import { mustRun, runTool, withTempDir } from './tools.js';

// Security-key (FIDO) SSH signatures, as YubiKeys make them: vectors made with node:crypto in the
// authenticator's place, each checked against stock `ssh-keygen -Y verify` and nfgit's verifier.

const DATA =
  'tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1700000000 +0000\ncommitter A <a@x> 1700000000 +0000\n\nrules\n';
const NOW = new Date('2024-06-01T00:00:00Z');
const KINDS: readonly SkKind[] = ['ed25519', 'ecdsa'];

/** What ssh-keygen -Y verify says of a signature over data with an allowed_signers text: its fingerprint when Good, else its complaint. */
async function sshKeygenVerify(
  dir: string,
  signers: string,
  armored: string,
  data: string,
  namespace = 'git',
): Promise<{ good: boolean; out: string }> {
  const signersFile = path.join(dir, 'allowed_signers');
  const sigFile = path.join(dir, 'data.sig');
  writeFileSync(signersFile, signers);
  writeFileSync(sigFile, armored);
  const r = await runTool('ssh-keygen', ['-Y', 'verify', '-f', signersFile, '-I', 'alice@example.net', '-n', namespace, '-s', sigFile], {
    input: data,
    cwd: dir,
  });
  return { good: r.code === 0, out: `${r.stdout.toString('utf8')}${r.stderr}` };
}

/** The fingerprint ssh-keygen printed for a Good signature. */
function goodFingerprint(out: string): string {
  return (
    /Good "git" signature for alice@example\.net with (?:ED25519|ECDSA)-SK key (SHA256:\S+)/.exec(out)?.[1] ?? `no Good line in: ${out}`
  );
}

/** Armors an SSHSIG around a key blob and an inner signature blob, for forgeries sk-keys.ts cannot make. */
function armor(keyBlob: Buffer, inner: Buffer, namespace = 'git'): string {
  const blob = Buffer.concat([
    Buffer.from('SSHSIG', 'latin1'),
    sshUint32(1),
    sshString(keyBlob, namespace, Buffer.alloc(0), 'sha512', inner),
  ]);
  return `${SSHSIG_BEGIN}\n${wrapBase64(blob)}${SSHSIG_END}\n`;
}

/** The inner signature blob of an armored SSHSIG. */
function innerOf(armored: string): Buffer {
  const p = parseSshsig(armored);
  if (!p.ok) throw new Error(p.reason);
  return p.signature.signatureBlob;
}

for (const kind of KINDS) {
  test(`${kind}-sk: signatures ssh-keygen calls Good are trusted, with the authenticator's flags and counter`, async (t) => {
    await withTempDir(`sk-good-${kind}`, async (dir) => {
      const key = skKey(kind);
      const line = `alice@example.net ${key.pub}\n`;
      const signers = parseAllowedSigners(line);
      for (const options of [{}, { hashAlgorithm: 'sha256' as const }, { flags: 0x05, counter: 0xfffffffe }]) {
        const sig = skSshsig(key, DATA, options);
        const stock = await sshKeygenVerify(dir, line, sig, DATA);
        t.true(stock.good, stock.out);
        const ours = verifySshSignature(DATA, sig, signers, NOW);
        t.like(ours, { ok: true, principals: ['alice@example.net'] });
        if (ours.ok) {
          t.is(ours.key.fingerprint, goodFingerprint(stock.out));
          t.is(ours.key.type, key.type);
        }
        const raw = verifySshsig(DATA, sig);
        t.deepEqual(raw.ok ? raw.sk : undefined, { flags: options.flags ?? 0x01, counter: options.counter ?? 7, application: 'ssh:' });
      }
      // an application other than ssh: (ssh-keygen -O application=ssh:nfgit) works the same way
      const other = skKey(kind, 'ssh:nfgit');
      const otherLine = `alice@example.net ${other.pub}\n`;
      const otherSig = skSshsig(other, DATA);
      t.true((await sshKeygenVerify(dir, otherLine, otherSig, DATA)).good);
      t.like(verifySshSignature(DATA, otherSig, parseAllowedSigners(otherLine), NOW), { ok: true });
    });
  });

  test(`${kind}-sk: forgeries both ssh-keygen and nfgit refuse`, async (t) => {
    await withTempDir(`sk-bad-${kind}`, async (dir) => {
      const key = skKey(kind);
      const line = `alice@example.net ${key.pub}\n`;
      const signers = parseAllowedSigners(line);
      const good = skSshsig(key, DATA);
      const bothRefuse = async (what: string, sig: string, data = DATA, failure = 'bad-signature'): Promise<SshVerifyResult> => {
        const stock = await sshKeygenVerify(dir, line, sig, data);
        t.false(stock.good, `ssh-keygen accepted ${what}: ${stock.out}`);
        const ours = verifySshSignature(data, sig, signers, NOW);
        t.like(ours, { ok: false, failure }, what);
        return ours;
      };

      const tampered = await bothRefuse('tampered data', good, `${DATA}evil\n`);
      t.regex(tampered.ok ? '' : tampered.reason, /^signature does not match the data \(key SHA256:/);
      // the authenticator signed another relying party's application (a key of the same pair
      // registered for a web site must not sign for ssh)
      await bothRefuse('a signature over another application', skSshsig(key, DATA, { signedApplication: 'https://example.com' }));
      await bothRefuse('a wrong namespace', skSshsig(key, DATA, { namespace: 'file' }), DATA, 'wrong-namespace');

      // flags or counter changed after signing: they are covered by the signature
      const inner = innerOf(good);
      const flagsAt = inner.length - 5;
      const noTouchAdded = Buffer.from(inner);
      noTouchAdded[flagsAt] = 0x05; // claims user verification it did not have
      await bothRefuse('flags changed after signing', armor(key.blob, noTouchAdded));
      const counterChanged = Buffer.from(inner);
      counterChanged.writeUInt32BE(8, flagsAt + 1);
      await bothRefuse('a counter changed after signing', armor(key.blob, counterChanged));

      // the signature names the plain key type, or the key is presented as a plain key
      await bothRefuse(
        'a signature naming another key type',
        skSshsig(key, DATA, { signatureType: kind === 'ed25519' ? 'ssh-ed25519' : 'ecdsa-sha2-nistp256' }),
      );
      const asOtherSk = skSshsig(key, DATA, {
        signatureType: kind === 'ed25519' ? 'sk-ecdsa-sha2-nistp256@openssh.com' : 'sk-ssh-ed25519@openssh.com',
      });
      await bothRefuse('a signature naming the other security-key type', asOtherSk);

      // trailing bytes after the counter, and a truncated counter
      await bothRefuse('trailing bytes', armor(key.blob, Buffer.concat([inner, Buffer.from([0])])), DATA, 'malformed');
      await bothRefuse('a truncated counter', armor(key.blob, inner.subarray(0, inner.length - 2)), DATA, 'malformed');
    });
  });

  test(`${kind}-sk: user presence is required unless no-touch-required; verify-required demands user verification`, async (t) => {
    await withTempDir(`sk-flags-${kind}`, async (dir) => {
      const key = skKey(kind);
      const line = `alice@example.net ${key.pub}\n`;
      const untouched = skSshsig(key, DATA, { flags: 0x00 });
      // ssh-keygen -Y verify (OpenSSH 9.2 and current) does not look at the flags: sshd does, for
      // authorized_keys. nfgit refuses an untouched signature as sshd would refuse such a login,
      // since malware on the signer's machine could otherwise sign silently with a plugged-in key.
      t.true((await sshKeygenVerify(dir, line, untouched, DATA)).good, 'ssh-keygen is expected to ignore the flags');
      const refused = verifySshSignature(DATA, untouched, parseAllowedSigners(line), NOW);
      t.like(refused, { ok: false, failure: 'untrusted-key' });
      t.regex(
        refused.ok ? '' : refused.reason,
        /^security key SHA256:\S+ \(alice@example\.net, line 1\) signed without user presence \(the key was not touched\); add no-touch-required/,
      );

      const noTouch = `alice@example.net no-touch-required ${key.pub}\n`;
      t.like(verifySshSignature(DATA, untouched, parseAllowedSigners(noTouch), NOW), { ok: true, principals: ['alice@example.net'] });
      // ssh-keygen does not know the option and skips the line (so git verify-commit refuses): the README says so
      const stockNoTouch = await sshKeygenVerify(dir, noTouch, untouched, DATA);
      t.false(stockNoTouch.good);
      t.regex(stockNoTouch.out, /unknown key option/);

      const verify = `alice@example.net verify-required ${key.pub}\n`;
      const touchedOnly = verifySshSignature(DATA, skSshsig(key, DATA, { flags: 0x01 }), parseAllowedSigners(verify), NOW);
      t.regex(
        touchedOnly.ok ? '' : touchedOnly.reason,
        /signed without user verification \(PIN or biometric\), which the line's verify-required demands/,
      );
      t.like(verifySshSignature(DATA, skSshsig(key, DATA, { flags: 0x05 }), parseAllowedSigners(verify), NOW), { ok: true });
      // verify-required does not waive touch; both options together accept a PIN without a touch
      t.like(verifySshSignature(DATA, skSshsig(key, DATA, { flags: 0x04 }), parseAllowedSigners(verify), NOW), {
        ok: false,
        failure: 'untrusted-key',
      });
      const both = `alice@example.net namespaces="git",no-touch-required,verify-required ${key.pub}\n`;
      t.like(verifySshSignature(DATA, skSshsig(key, DATA, { flags: 0x04 }), parseAllowedSigners(both), NOW), { ok: true });
      t.like(verifySshSignature(DATA, skSshsig(key, DATA, { flags: 0x01 }), parseAllowedSigners(both), NOW), {
        ok: false,
        failure: 'untrusted-key',
      });

      // another line for the same key that allows the signature wins, as with namespaces and times
      const twoLines = `alice@example.net ${key.pub}\nci@example.net no-touch-required ${key.pub}\n`;
      t.like(verifySshSignature(DATA, untouched, parseAllowedSigners(twoLines), NOW), { ok: true, principals: ['ci@example.net'] });
    });
  });
}

test('allowed_signers: the security-key options are read, and refused on other keys', (t) => {
  const sk: SkTestKey = skKey('ed25519');
  const [plain] = parseAllowedSigners(`a@x ${sk.pub}\n`);
  t.like(plain, { touchRequired: true, verifyRequired: false });
  const [opts] = parseAllowedSigners(`a@x No-Touch-Required,valid-after="20240101Z",VERIFY-REQUIRED ${sk.pub}\n`);
  t.like(opts, { touchRequired: false, verifyRequired: true, validAfter: new Date('2024-01-01T00:00:00Z') });
  const ed = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb0pl1jo1lG2vTl9c9uRS0eIzHGzEjtYZ2oWMS0V0hq';
  const err = t.throws(
    () =>
      parseAllowedSigners(
        `a@x no-touch-required ${ed}\na@x verify-required ${ed}\na@x no-touch-required, ${sk.pub}\na@x no-touch-requiredx ${sk.pub}\n`,
      ),
    {
      instanceOf: NfgitErrors,
    },
  );
  t.deepEqual(
    err?.errors.map((e) => e.message),
    [
      'no-touch-required is only for security keys (sk-…), not ssh-ed25519',
      'verify-required is only for security keys (sk-…), not ssh-ed25519',
      'the options end with a comma',
      'unknown option "no-touch-requiredx" (known: namespaces, valid-after, valid-before, and for security keys no-touch-required, verify-required)',
    ],
  );
});

test('WebAuthn security-key signatures are refused as unsupported', (t) => {
  const key = skKey('ecdsa');
  const inner = innerOf(skSshsig(key, DATA));
  const webauthnType = 'webauthn-sk-ecdsa-sha2-nistp256@openssh.com';
  // the same signature, flags and counter, followed by WebAuthn's origin, client data and extensions
  const typeLen = inner.readUInt32BE(0);
  const webauthn = Buffer.concat([
    sshString(webauthnType),
    inner.subarray(4 + typeLen),
    sshString('https://example.com'),
    sshString(''),
    sshString(''),
  ]);
  t.like(verifySshsig(DATA, armor(key.blob, webauthn)), {
    ok: false,
    failure: 'unsupported',
    reason: `web-browser (WebAuthn) security-key signatures (${webauthnType}) are not supported; sign with ssh-keygen or git`,
  });
});

test('a security key whose application holds a NUL byte is refused, by ssh-keygen too', async (t) => {
  await withTempDir('sk-nul', async (dir) => {
    // OpenSSH reads the application as a C string; such a blob is refused, not read as "ssh:"
    const nul = skKey('ed25519', 'ssh:\0evil');
    const sig = skSshsig(nul, DATA);
    const reason = "the signing key cannot be read: the security key's application contains a NUL byte";
    t.like(verifySshsig(DATA, sig), { ok: false, failure: 'unsupported', reason });
    t.false((await sshKeygenVerify(dir, `alice@example.net ${nul.pub}\n`, sig, DATA)).good);
    const err = t.throws(() => parseAllowedSigners(`a@x ${nul.pub}\n`), { instanceOf: NfgitErrors });
    t.is(err?.errors[0]?.message, "invalid key: the security key's application contains a NUL byte");
    // the curve of an ecdsa-sk key must be nistp256
    const ec = skKey('ecdsa');
    const fields = new SshReader(ec.blob);
    fields.text(); // type
    fields.text(); // curve
    const wrongCurve = sshString(ec.type, 'nistp384', fields.string(), 'ssh:');
    const curveErr = t.throws(() => parseAllowedSigners(`a@x ${ec.type} ${wrongCurve.toString('base64')}\n`), { instanceOf: NfgitErrors });
    t.is(curveErr?.errors[0]?.message, `invalid key: the curve inside the key does not match its type ${ec.type}`);
  });
});

/** Signs an unsigned commit object the way git does with gpg.format=ssh: a gpgsig header after the committer line. */
function signCommit(unsigned: Buffer, key: SkTestKey, options: SkSignOptions = {}): Buffer {
  const text = unsigned.toString('utf8');
  const end = text.indexOf('\n\n');
  const armored = skSshsig(key, unsigned, options).replace(/\n$/, '');
  return Buffer.from(`${text.slice(0, end)}\ngpgsig ${armored.replace(/\n/g, '\n ')}${text.slice(end)}`, 'utf8');
}

test('a commit signed with a security key: git verify-commit and nfgit trust it; an untouched one only git does', async (t) => {
  await withTempDir('sk-commit', async (dir) => {
    const repo = path.join(dir, 'repo');
    await mustRun('git', ['init', '-q', '-b', 'main', repo]);
    const env = { GIT_COMMITTER_DATE: '1717200000 +0000', GIT_AUTHOR_DATE: '1717200000 +0000' };
    const tree = (await mustRun('git', ['mktree'], { cwd: repo, input: '' })).trim();
    const unsignedId = (await mustRun('git', ['commit-tree', '-m', 'Allow ssh', tree], { cwd: repo, env })).trim();
    const unsigned = Buffer.from(await mustRun('git', ['cat-file', 'commit', unsignedId], { cwd: repo }), 'utf8');
    const signersFile = path.join(dir, 'allowed_signers');
    const trustOf = async (lines: string): Promise<Awaited<ReturnType<typeof loadTrust>>> => {
      writeFileSync(signersFile, lines);
      return loadTrust({ requireSignedCommits: true, allowedSigners: signersFile, pgpKeys: [] });
    };
    /** Writes a commit object and asks git verify-commit about it. */
    const gitVerify = async (commit: Buffer): Promise<{ code: number | null; out: string }> => {
      const id = (await mustRun('git', ['hash-object', '-t', 'commit', '-w', '--stdin'], { cwd: repo, input: commit })).trim();
      const r = await runTool('git', ['-c', `gpg.ssh.allowedSignersFile=${signersFile}`, 'verify-commit', id], { cwd: repo });
      return { code: r.code, out: `${r.stdout.toString('utf8')}${r.stderr}` };
    };

    for (const kind of KINDS) {
      const key = skKey(kind);
      const line = `alice@example.net ${key.pub}\n`;
      const trust = await trustOf(line);
      const signed = signCommit(unsigned, key);
      const git = await gitVerify(signed);
      t.is(git.code, 0, git.out);
      const fp = goodFingerprint(git.out);
      t.deepEqual(await verifyCommit(signed, trust), {
        trusted: true,
        kind: 'ssh',
        signer: 'alice@example.net',
        detail: `is signed by alice@example.net with SSH key ${fp}`,
      });

      const tampered = Buffer.from(signed.toString('utf8').replace('Allow ssh', 'Allow all'), 'utf8');
      t.not((await gitVerify(tampered)).code, 0);
      t.like(await verifyCommit(tampered, trust), { trusted: false, reason: 'bad-signature' });

      // no touch: git (ssh-keygen) accepts it, nfgit refuses it unless the line says no-touch-required
      const untouched = signCommit(unsigned, key, { flags: 0 });
      t.is((await gitVerify(untouched)).code, 0);
      const refused = await verifyCommit(untouched, trust);
      t.like(refused, { trusted: false, reason: 'untrusted' });
      t.regex(
        refused.detail,
        /^has an untrusted SSH signature: security key SHA256:\S+ \(alice@example\.net, line 1\) signed without user presence/,
      );
      t.like(await verifyCommit(untouched, await trustOf(`alice@example.net no-touch-required ${key.pub}\n`)), {
        trusted: true,
        signer: 'alice@example.net',
      });
    }
  });
});

// Signatures made by real security keys, from OpenSSH's own unit tests (openssh-portable
// regress/unittests/sshsig/testdata, BSD licence): namespace "unittest", flags 0x01, counter 0x12345678.
const OPENSSH_DATA = 'This is a test, this is only a test';
const OPENSSH_VECTORS = [
  {
    pub: 'sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIJsaDYXQYruc6bilCYDIK4YSOeG+zmrRO2M9t03//7LHAAAABHNzaDo=',
    sig: `${SSHSIG_BEGIN}
U1NIU0lHAAAAAQAAAEoAAAAac2stc3NoLWVkMjU1MTlAb3BlbnNzaC5jb20AAAAgmxoNhd
Biu5zpuKUJgMgrhhI54b7OatE7Yz23Tf//sscAAAAEc3NoOgAAAAh1bml0dGVzdAAAAAAA
AAAGc2hhNTEyAAAAZwAAABpzay1zc2gtZWQyNTUxOUBvcGVuc3NoLmNvbQAAAEAi+7eTjW
/+LQ2M+sCD+KFtH1n7VFFJon/SZFsxODyV8cWTlFKj617Ys1Ur5TV6uaEXQhck8rBA2oQI
HTPANLIPARI0Vng=
${SSHSIG_END}
`,
  },
  {
    pub: 'sk-ecdsa-sha2-nistp256@openssh.com AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5jb20AAAAIbmlzdHAyNTYAAABBBKDVa5jRcT5V7E6ysmwVi7HJWh7p5D+hebLPakQcpnD2ajJZ6G/4WzuhlYWnclWY63JspDp299Rlhq5AT86/g8AAAAAEc3NoOg==',
    sig: `${SSHSIG_BEGIN}
U1NIU0lHAAAAAQAAAH8AAAAic2stZWNkc2Etc2hhMi1uaXN0cDI1NkBvcGVuc3NoLmNvbQ
AAAAhuaXN0cDI1NgAAAEEEoNVrmNFxPlXsTrKybBWLsclaHunkP6F5ss9qRBymcPZqMlno
b/hbO6GVhadyVZjrcmykOnb31GWGrkBPzr+DwAAAAARzc2g6AAAACHVuaXR0ZXN0AAAAAA
AAAAZzaGE1MTIAAAB3AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5jb20A
AABIAAAAIHohGwyy8iKT3zwd1TYA9V/Ioo7h/3zCJUtyq/Qigt/HAAAAIGzidTwq7D/kFa
7Xjcp/KkdbIs4MfQpfAW/0OciajlpzARI0Vng=
${SSHSIG_END}
`,
  },
];

test("signatures made by real security keys (OpenSSH's test vectors) verify", (t) => {
  for (const v of OPENSSH_VECTORS) {
    const signers = parseAllowedSigners(`test@openssh.com ${v.pub}\n`);
    t.like(verifySshSignature(OPENSSH_DATA, v.sig, signers, NOW, 'unittest'), { ok: true, principals: ['test@openssh.com'] });
    const raw = verifySshsig(OPENSSH_DATA, v.sig, 'unittest');
    t.deepEqual(raw.ok ? raw.sk : undefined, { flags: 0x01, counter: 0x12345678, application: 'ssh:' });
    t.like(verifySshsig(`${OPENSSH_DATA}!`, v.sig, 'unittest'), { ok: false, failure: 'bad-signature' });
  }
});
