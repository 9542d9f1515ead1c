import test from 'ava';
import fs, { writeFileSync } from 'node:fs';
import path from 'node:path';
import git from 'isomorphic-git';
import { signatureKind, splitSignedCommit, splitSignedTag } from '../../src/git/signed-objects.js';
import { parseAllowedSigners } from '../../src/git/signing/allowed-signers.js';
import { verifySshSignature } from '../../src/git/signing/verify-ssh.js';
import { mustRun, runTool, sshKeygen, withTempDir, type ToolOptions } from './signing/tools.js';

/** A repository with an SSH signing key configured the way an administrator would for git. */
async function sshRepo(
  dir: string,
): Promise<{ repo: string; key: string; pub: string; gitc: (args: string[], o?: ToolOptions) => Promise<string> }> {
  const { file, pub } = await sshKeygen(dir, 'admin', 'ed25519');
  const repo = path.join(dir, 'repo');
  await mustRun('git', ['init', '-q', '-b', 'main', repo]);
  const signers = path.join(dir, 'allowed_signers');
  writeFileSync(signers, `alice@example.net ${pub}\n`);
  const gitc = (args: string[], o: ToolOptions = {}): Promise<string> =>
    mustRun('git', ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${file}`, '-c', `gpg.ssh.allowedSignersFile=${signers}`, ...args], {
      cwd: repo,
      ...o,
    });
  return { repo, key: file, pub, gitc };
}

/** The raw object as `git cat-file` prints it. */
async function catFile(repo: string, type: 'commit' | 'tag', rev: string): Promise<Buffer> {
  return (await runTool('git', ['cat-file', type, rev], { cwd: repo })).stdout;
}

test('a commit signed by stock git with an SSH key splits and verifies, read by git or by isomorphic-git', async (t) => {
  await withTempDir('commit-ssh', async (dir) => {
    const { repo, pub, gitc } = await sshRepo(dir);
    writeFileSync(path.join(repo, 'rules.sh'), 'iptables -A INPUT -j ACCEPT\n');
    await gitc(['add', 'rules.sh']);
    await gitc(['commit', '-q', '-S', '-m', 'Allow everything\n\nwith a body line\n']);
    await gitc(['verify-commit', 'HEAD']); // stock git agrees it is good
    const oid = (await gitc(['rev-parse', 'HEAD'])).trim();
    const raw = await catFile(repo, 'commit', 'HEAD');
    const viaIso = await git.readObject({ fs, dir: repo, oid, format: 'content' });
    t.true(viaIso.object instanceof Uint8Array);
    t.true(Buffer.from(viaIso.object as Uint8Array).equals(raw));

    const split = splitSignedCommit(viaIso.object as Uint8Array);
    t.is(split.kind, 'ssh');
    t.regex(split.signature ?? '', /^-----BEGIN SSH SIGNATURE-----\n[\s\S]*\n-----END SSH SIGNATURE-----\n$/);
    t.false(split.payload.includes('gpgsig'));
    t.true(split.payload.toString().endsWith('\n\nAllow everything\n\nwith a body line\n'));
    const signers = parseAllowedSigners(`alice@example.net ${pub}\n`);
    const r = verifySshSignature(split.payload, split.signature ?? '', signers, new Date());
    t.like(r, { ok: true, principals: ['alice@example.net'] });
    // the raw object itself (signature included) is not what was signed
    t.like(verifySshSignature(raw, split.signature ?? '', signers, new Date()), { ok: false, failure: 'bad-signature' });
    // an edited message no longer matches
    const edited = Buffer.from(split.payload.toString().replace('Allow everything', 'Allow nothing'));
    t.like(verifySshSignature(edited, split.signature ?? '', signers, new Date()), { ok: false, failure: 'bad-signature' });
  });
});

test('an unsigned commit has no signature and its payload is the whole object', async (t) => {
  await withTempDir('commit-none', async (dir) => {
    const { repo, gitc } = await sshRepo(dir);
    await gitc(['commit', '-q', '--allow-empty', '-m', 'unsigned']);
    const raw = await catFile(repo, 'commit', 'HEAD');
    const split = splitSignedCommit(raw);
    t.is(split.kind, 'none');
    t.is(split.signature, null);
    t.true(split.payload.equals(raw));
  });
});

test('an annotated tag signed by stock git with -s splits and verifies', async (t) => {
  await withTempDir('tag-ssh', async (dir) => {
    const { repo, pub, gitc } = await sshRepo(dir);
    await gitc(['commit', '-q', '--allow-empty', '-m', 'rules']);
    await gitc(['tag', '-s', '-m', 'Release\n\nResult: applied', 'v1']);
    const v = await runTool('git', ['-c', `gpg.ssh.allowedSignersFile=${path.join(dir, 'allowed_signers')}`, 'tag', '-v', 'v1'], {
      cwd: repo,
    });
    t.is(v.code, 0, v.stderr);
    const raw = await catFile(repo, 'tag', 'v1');
    const split = splitSignedTag(raw);
    t.is(split.kind, 'ssh');
    t.true(split.payload.toString().endsWith('\n\nRelease\n\nResult: applied\n'));
    t.true(Buffer.concat([split.payload, Buffer.from(split.signature ?? '')]).equals(raw));
    const signers = parseAllowedSigners(`alice@example.net ${pub}\n`);
    t.like(verifySshSignature(split.payload, split.signature ?? '', signers, new Date()), { ok: true, principals: ['alice@example.net'] });
    // an unsigned annotated tag
    await gitc(['tag', '-a', '-m', 'plain', 'v2']);
    const plain = splitSignedTag(await catFile(repo, 'tag', 'v2'));
    t.is(plain.kind, 'none');
    t.is(plain.signature, null);
  });
});

test('a signed merge of a signed tag keeps the mergetag header (and its signature) in the payload', async (t) => {
  await withTempDir('mergetag', async (dir) => {
    const { repo, pub, gitc } = await sshRepo(dir);
    await gitc(['commit', '-q', '--allow-empty', '-m', 'base']);
    await gitc(['checkout', '-q', '-b', 'feature']);
    await gitc(['commit', '-q', '--allow-empty', '-m', 'feature work']);
    await gitc(['tag', '-s', '-m', 'reviewed', 'reviewed-1']);
    await gitc(['checkout', '-q', 'main']);
    await gitc(['merge', '-q', '--no-ff', '-S', '-m', 'Merge reviewed-1', 'reviewed-1']);
    await gitc(['verify-commit', 'HEAD']);
    const raw = await catFile(repo, 'commit', 'HEAD');
    t.true(raw.includes('\nmergetag object '), 'git wrote a mergetag header');
    const split = splitSignedCommit(raw);
    t.is(split.kind, 'ssh');
    t.true(split.payload.includes('\nmergetag object '));
    t.true(split.payload.includes(' -----BEGIN SSH SIGNATURE-----\n'), 'the merged tag signature stays in the payload');
    const signers = parseAllowedSigners(`alice@example.net ${pub}\n`);
    t.like(verifySshSignature(split.payload, split.signature ?? '', signers, new Date()), { ok: true });
  });
});

test('OpenPGP-signed commits and tags from stock git split into what gpg verifies', async (t) => {
  await withTempDir('pgp', async (dir) => {
    const home = path.join(dir, 'gnupg');
    fs.mkdirSync(home, { mode: 0o700 });
    const env = { GNUPGHOME: home };
    try {
      await mustRun(
        'gpg',
        [
          '--batch',
          '--pinentry-mode',
          'loopback',
          '--passphrase',
          '',
          '--quick-gen-key',
          'PGP Admin <pgp@example.net>',
          'ed25519',
          'sign',
          'never',
        ],
        { env },
      );
      const repo = path.join(dir, 'repo');
      await mustRun('git', ['init', '-q', '-b', 'main', repo], { env });
      const gitc = (args: string[]): Promise<string> =>
        mustRun('git', ['-c', 'gpg.format=openpgp', '-c', 'user.signingkey=pgp@example.net', ...args], { cwd: repo, env });
      await gitc(['commit', '-q', '--allow-empty', '-S', '-m', 'pgp signed']);
      await gitc(['tag', '-s', '-m', 'pgp tag', 'p1']);
      const commit = splitSignedCommit(await catFile(repo, 'commit', 'HEAD'));
      const tag = splitSignedTag(await catFile(repo, 'tag', 'p1'));
      for (const [name, split] of [
        ['commit', commit],
        ['tag', tag],
      ] as const) {
        t.is(split.kind, 'pgp', name);
        t.regex(split.signature ?? '', /^-----BEGIN PGP SIGNATURE-----\n/);
        writeFileSync(path.join(dir, `${name}.payload`), split.payload);
        writeFileSync(path.join(dir, `${name}.sig`), split.signature ?? '');
        const v = await runTool('gpg', ['--batch', '--verify', path.join(dir, `${name}.sig`), path.join(dir, `${name}.payload`)], { env });
        t.is(v.code, 0, `${name}: ${v.stderr}`);
        t.regex(v.stderr, /Good signature from "PGP Admin <pgp@example.net>"/);
      }
      // an SSH verifier says plainly that this is not an SSH signature
      t.like(verifySshSignature(commit.payload, commit.signature ?? '', [], new Date()), { ok: false, failure: 'malformed' });
    } finally {
      await runTool('gpgconf', ['--kill', 'gpg-agent'], { env });
    }
  });
});

test('git rules on synthetic objects: other signature headers, last marker in a tag, kinds', (t) => {
  const commit = [
    'tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904',
    'author A <a@x> 1700000000 +0000',
    'committer A <a@x> 1700000000 +0000',
    'gpgsig-sha256 -----BEGIN SSH SIGNATURE-----',
    ' OTHER',
    ' -----END SSH SIGNATURE-----',
    'gpgsig -----BEGIN SSH SIGNATURE-----',
    ' AAAA',
    ' -----END SSH SIGNATURE-----',
    'encoding ISO-8859-1',
    '',
    'message',
    'gpgsig not a header in the message',
    '',
  ].join('\n');
  const split = splitSignedCommit(commit);
  t.is(split.signature, '-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n');
  t.is(
    split.payload.toString(),
    'tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1700000000 +0000\ncommitter A <a@x> 1700000000 +0000\nencoding ISO-8859-1\n\nmessage\ngpgsig not a header in the message\n',
  );
  // only a sha256 signature: unsigned for a SHA-1 repository (the payload is then the whole object)
  const onlyOther = 'tree x\ngpgsig-sha256 -----BEGIN SSH SIGNATURE-----\n Z\n -----END SSH SIGNATURE-----\n\nm\n';
  t.like(splitSignedCommit(onlyOther), { kind: 'none', signature: null });
  t.is(splitSignedCommit(onlyOther).payload.toString(), onlyOther);
  // non-UTF-8 bytes in the message survive
  const latin = Buffer.concat([
    Buffer.from('tree x\ngpgsig -----BEGIN PGP SIGNATURE-----\n X\n -----END PGP SIGNATURE-----\n\n'),
    Buffer.from([0xe9, 0x0a]),
  ]);
  const l = splitSignedCommit(latin);
  t.is(l.kind, 'pgp');
  t.true(l.payload.equals(Buffer.concat([Buffer.from('tree x\n\n'), Buffer.from([0xe9, 0x0a])])));

  const tag =
    'object x\ntype commit\ntag t\ntagger A <a@x> 1 +0000\n\nquote:\n-----BEGIN PGP SIGNATURE-----\nfake\n-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n';
  const ts = splitSignedTag(tag);
  t.is(ts.kind, 'ssh');
  t.is(ts.signature, '-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n');
  t.true(ts.payload.toString().endsWith('quote:\n-----BEGIN PGP SIGNATURE-----\nfake\n'));
  // a marker must start a line
  t.is(splitSignedTag('object x\n\nsee  -----BEGIN SSH SIGNATURE-----\n').kind, 'none');

  t.is(signatureKind(null), 'none');
  t.is(signatureKind('-----BEGIN PGP MESSAGE-----\n'), 'pgp');
  t.is(signatureKind('-----BEGIN SIGNED MESSAGE-----\n'), 'other');
  t.is(signatureKind('junk'), 'other');
});
