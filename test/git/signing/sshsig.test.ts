import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateHostKey, loadHostKey } from '../../../src/git/signing/openssh-key.js';
import { parseSshsig, signSshsig, verifySshsig } from '../../../src/git/signing/sshsig.js';
import { mustRun, runTool, sshFingerprint, sshKeygen, withTempDir } from './tools.js';

const DATA = 'object 0123456789abcdef0123456789abcdef01234567\ntype commit\ntag nfgit/fw1/0123456\n\nApplied\n\nResult: applied\n';

test('a signature nfgit makes passes ssh-keygen -Y verify, and fails on other data', async (t) => {
  await withTempDir('sshsig-out', async (dir) => {
    const keyFile = path.join(dir, 'key');
    const line = generateHostKey(keyFile, 'fw1');
    const key = loadHostKey(keyFile);
    const armored = signSshsig(DATA, key);
    t.regex(armored, /^-----BEGIN SSH SIGNATURE-----\n([A-Za-z0-9+/=]{1,70}\n)+-----END SSH SIGNATURE-----\n$/);
    const sig = path.join(dir, 'sig');
    writeFileSync(sig, armored);
    const signers = path.join(dir, 'allowed_signers');
    writeFileSync(signers, `nfgit@fw1 namespaces="git" ${line}\n`);
    const ok = await runTool('ssh-keygen', ['-Y', 'verify', '-f', signers, '-I', 'nfgit@fw1', '-n', 'git', '-s', sig], { input: DATA });
    t.is(ok.code, 0, ok.stderr);
    t.is(ok.stdout.toString().trim(), `Good "git" signature for nfgit@fw1 with ED25519 key ${await sshFingerprint(keyFile)}`);
    const tampered = await runTool('ssh-keygen', ['-Y', 'verify', '-f', signers, '-I', 'nfgit@fw1', '-n', 'git', '-s', sig], {
      input: `${DATA}x`,
    });
    t.not(tampered.code, 0);
    const otherNs = await runTool('ssh-keygen', ['-Y', 'verify', '-f', signers, '-I', 'nfgit@fw1', '-n', 'file', '-s', sig], {
      input: DATA,
    });
    t.not(otherNs.code, 0);
    // binary data and another namespace
    const bin = Buffer.from([0, 1, 2, 255, 10, 13]);
    writeFileSync(sig, signSshsig(bin, key, 'file'));
    writeFileSync(signers, `nfgit@fw1 ${line}\n`);
    const binOk = await runTool('ssh-keygen', ['-Y', 'verify', '-f', signers, '-I', 'nfgit@fw1', '-n', 'file', '-s', sig], { input: bin });
    t.is(binOk.code, 0, binOk.stderr);
  });
});

test('ed25519 signatures are deterministic: nfgit writes exactly what ssh-keygen -Y sign writes', async (t) => {
  await withTempDir('sshsig-same', async (dir) => {
    const { file } = await sshKeygen(dir, 'k', 'ed25519');
    const data = path.join(dir, 'data');
    writeFileSync(data, DATA);
    await mustRun('ssh-keygen', ['-Y', 'sign', '-n', 'git', '-f', file, data]);
    t.is(signSshsig(DATA, loadHostKey(file)), readFileSync(`${data}.sig`, 'utf8'));
  });
});

test('signatures ssh-keygen makes with ed25519, RSA and ECDSA keys verify in nfgit', async (t) => {
  await withTempDir('sshsig-in', async (dir) => {
    const data = path.join(dir, 'data');
    writeFileSync(data, DATA);
    const kinds: Array<[string, string[]]> = [
      ['ed25519', []],
      ['rsa', ['-b', '2048']],
      ['ecdsa', ['-b', '256']],
      ['ecdsa', ['-b', '384']],
      ['ecdsa', ['-b', '521']],
    ];
    for (const [type, extra] of kinds) {
      const name = `${type}${extra.join('')}`;
      const { file, pub } = await sshKeygen(dir, name, type, extra);
      const armored = await mustRun('ssh-keygen', ['-Y', 'sign', '-n', 'git', '-f', file], { input: DATA });
      const r = verifySshsig(DATA, armored, 'git');
      t.true(r.ok, `${name}: ${r.ok ? '' : r.reason}`);
      if (!r.ok) continue;
      t.is(r.key.text, pub);
      t.is(r.key.fingerprint, await sshFingerprint(file));
      const bad = verifySshsig(`${DATA} `, armored, 'git');
      t.like(bad, { ok: false, failure: 'bad-signature' }, name);
    }
    // sha256 as the message hash (ssh-keygen -O hashalg=sha256)
    const { file } = await sshKeygen(dir, 'h256', 'ed25519');
    const armored = await mustRun('ssh-keygen', ['-Y', 'sign', '-n', 'git', '-O', 'hashalg=sha256', '-f', file], { input: DATA });
    const parsed = parseSshsig(armored);
    t.like(parsed, { ok: true, signature: { hashAlgorithm: 'sha256', namespace: 'git', signatureType: 'ssh-ed25519' } });
    t.like(verifySshsig(DATA, armored, 'git'), { ok: true });
  });
});

test('wrong namespace, tampered data and damaged signatures are told apart', async (t) => {
  await withTempDir('sshsig-bad', async (dir) => {
    const { file } = await sshKeygen(dir, 'k', 'ed25519');
    const fp = await sshFingerprint(file);
    const gitSig = await mustRun('ssh-keygen', ['-Y', 'sign', '-n', 'git', '-f', file], { input: DATA });
    const fileSig = await mustRun('ssh-keygen', ['-Y', 'sign', '-n', 'file', '-f', file], { input: DATA });
    t.like(verifySshsig(DATA, gitSig, 'git'), { ok: true });
    t.like(verifySshsig(DATA, fileSig, 'git'), {
      ok: false,
      failure: 'wrong-namespace',
      reason: 'the signature was made for namespace "file", not "git"',
    });
    const tampered = verifySshsig(DATA.replace('applied', 'failed'), gitSig, 'git');
    t.like(tampered, { ok: false, failure: 'bad-signature', reason: `signature does not match the data (key ${fp})` });
    // a flipped bit in the raw signature (the last bytes of the blob)
    const parsed = parseSshsig(gitSig);
    t.true(parsed.ok);
    const body = gitSig.split('\n').slice(1, -2).join('');
    const blob = Buffer.from(body, 'base64');
    blob[blob.length - 5] = (blob[blob.length - 5] ?? 0) ^ 1;
    const damaged = `-----BEGIN SSH SIGNATURE-----\n${blob.toString('base64')}\n-----END SSH SIGNATURE-----\n`;
    t.like(verifySshsig(DATA, damaged, 'git'), { ok: false, failure: 'bad-signature' });
    // unreadable ones
    for (const text of [
      '',
      'hello',
      '-----BEGIN SSH SIGNATURE-----\nAAAA\n',
      '-----BEGIN SSH SIGNATURE-----\n!!!!\n-----END SSH SIGNATURE-----\n',
    ]) {
      t.like(verifySshsig(DATA, text, 'git'), { ok: false, failure: 'malformed' }, JSON.stringify(text));
    }
    const truncated = `-----BEGIN SSH SIGNATURE-----\n${blob.subarray(0, 40).toString('base64')}\n-----END SSH SIGNATURE-----\n`;
    t.like(verifySshsig(DATA, truncated, 'git'), { ok: false, failure: 'malformed' });
    const pgp = '-----BEGIN PGP SIGNATURE-----\n\niQ==\n-----END PGP SIGNATURE-----\n';
    t.like(verifySshsig(DATA, pgp, 'git'), { ok: false, failure: 'malformed' });
    // CRLF line ends (a signature copied through Windows) are fine
    t.like(verifySshsig(DATA, gitSig.replace(/\n/g, '\r\n'), 'git'), { ok: true });
  });
});

test('a tag nfgit signs passes stock git tag -v with gpg.ssh.allowedSignersFile', async (t) => {
  await withTempDir('sshsig-tag', async (dir) => {
    const keyFile = path.join(dir, 'key');
    const line = generateHostKey(keyFile, 'fw1');
    const key = loadHostKey(keyFile);
    const repo = path.join(dir, 'repo');
    await mustRun('git', ['init', '-q', '-b', 'main', repo]);
    await mustRun('git', ['commit', '-q', '--allow-empty', '-m', 'rules'], { cwd: repo });
    const head = (await mustRun('git', ['rev-parse', 'HEAD'], { cwd: repo })).trim();
    const payload = `object ${head}\ntype commit\ntag nfgit/fw1/${head.slice(0, 7)}\ntagger nfgit fw1 <nfgit@fw1> 1700000000 +0000\n\nApplied ${head.slice(0, 7)}\n\nResult: applied\nHost: fw1\n`;
    const tag = (await mustRun('git', ['mktag'], { cwd: repo, input: payload + signSshsig(payload, key) })).trim();
    await mustRun('git', ['update-ref', `refs/tags/nfgit/fw1/${head.slice(0, 7)}`, tag], { cwd: repo });
    const signers = path.join(dir, 'allowed_signers');
    writeFileSync(signers, `nfgit@fw1 ${line}\n`);
    const v = await runTool('git', ['-c', `gpg.ssh.allowedSignersFile=${signers}`, 'tag', '-v', `nfgit/fw1/${head.slice(0, 7)}`], {
      cwd: repo,
    });
    t.is(v.code, 0, v.stderr);
    t.regex(v.stderr, /Good "git" signature for nfgit@fw1 with ED25519 key SHA256:/);
    // the tag is reported as not trusted when the key is not listed
    writeFileSync(signers, '');
    const untrusted = await runTool('git', ['-c', `gpg.ssh.allowedSignersFile=${signers}`, 'tag', '-v', `nfgit/fw1/${head.slice(0, 7)}`], {
      cwd: repo,
    });
    t.not(untrusted.code, 0);
  });
});
