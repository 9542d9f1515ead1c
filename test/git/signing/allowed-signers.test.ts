import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { NfgitErrors } from '../../../src/errors/errors.js';
import {
  findPrincipals,
  loadAllowedSigners,
  matchPatternList,
  parseAllowedSigners,
  parseSignerTime,
} from '../../../src/git/signing/allowed-signers.js';
import { generateHostKey, loadHostKey } from '../../../src/git/signing/openssh-key.js';
import { signSshsig } from '../../../src/git/signing/sshsig.js';
import { verifySshSignature } from '../../../src/git/signing/verify-ssh.js';
import { runTool, withTempDir } from './tools.js';

// Local times in allowed_signers follow the time zone, as in ssh-keygen: use one that is not UTC. Each
// test file runs in its own process, and runTool hands the same TZ to ssh-keygen.
process.env['TZ'] = 'America/New_York';

const K1 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAII20lANwrDrBtepd7bHHy+SuINM2HwQ+locNS00iU7T3';
const K2 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFh6pPZObeplCzRCeMRsX+ZnBT1kL6d59b3cZBuBTY68';
const blob = (k: string): Buffer => Buffer.from(k.split(' ')[1] ?? '', 'base64');

test('lines, comments, principals, options and key comments', (t) => {
  const signers = parseAllowedSigners(
    [
      '# admins',
      '',
      '   alice@example.net,bob@example.net ' + K1 + ' alice laptop',
      '"carol@example.net" NAMESPACES="git,file",Valid-After="20240101",valid-before="20250101120000Z" ' + K2,
      '\t# indented comment',
      '*@ops.example.net namespaces="git" ' + K1 + '\r',
    ].join('\n'),
  );
  t.is(signers.length, 3);
  t.deepEqual(signers[0]?.principals, ['alice@example.net', 'bob@example.net']);
  t.is(signers[0]?.namespaces, null);
  t.is(signers[0]?.key.text, K1);
  t.is(signers[0]?.line, 3);
  t.deepEqual(signers[1]?.principals, ['carol@example.net']);
  t.deepEqual(signers[1]?.namespaces, ['git', 'file']);
  t.is(signers[1]?.validAfter?.toISOString(), '2024-01-01T05:00:00.000Z'); // local midnight in New York
  t.is(signers[1]?.validBefore?.toISOString(), '2025-01-01T12:00:00.000Z');
  t.deepEqual(signers[2]?.principals, ['*@ops.example.net']);
  t.deepEqual(signers[2]?.namespaces, ['git']);
});

test('every bad line is reported at once with its line number', (t) => {
  const text = [
    `a@b valid-after=20240101 ${K1}`,
    `a@b valid-after="2024010112" ${K1}`,
    `a@b cert-authority ${K1}`,
    `a@b from="10.0.0.1" ${K1}`,
    `a@b ssh-ed25519 AAAA!!`,
    `a@b ${K1.replace('ssh-ed25519', 'ssh-rsa')}`,
    `a@b valid-after="20250101",valid-before="20240101" ${K1}`,
    'a@b',
    `a@b namespaces="git" `,
    `a@b namespaces="git",namespaces="file" ${K1}`,
    `a@b valid-after="20240231" ${K1}`,
    `a@b namespaces="git ${K1}`,
    `good@b ${K1}`,
  ].join('\n');
  const err = t.throws(() => parseAllowedSigners(text, '/etc/nfgit/allowed_signers'), { instanceOf: NfgitErrors });
  const messages = err?.errors.map((e) => e.format()) ?? [];
  const expected = [
    /allowed_signers:1: the value of valid-after must be in double quotes, for example valid-after="…"/,
    /:2: valid-after="2024010112" is not a time/,
    /:3: cert-authority \(SSH certificates\) is not supported by nfgit/,
    /:4: unknown option "from="10.0.0.1""/,
    /:5: invalid key: the key is not valid base64/,
    /:6: invalid key: the key is named ssh-rsa but holds an ssh-ed25519 key/,
    /:7: valid-before is not after valid-after/,
    /:8: expected "principals \[options\] keytype base64key"/,
    /:9: the key is missing after the options/,
    /:10: more than one namespaces option/,
    /:11: valid-after="20240231" is not a time/,
    /:12: an option value has no closing quote/,
  ];
  t.is(messages.length, expected.length, messages.join('\n'));
  expected.forEach((re, i) => t.regex(messages[i] ?? '', re));
  t.true(messages.every((m) => m.startsWith('/etc/nfgit/allowed_signers:')));
});

test('times: dates and times, local or UTC, and invalid ones', (t) => {
  t.is(parseSignerTime('20240101Z')?.toISOString(), '2024-01-01T00:00:00.000Z');
  t.is(parseSignerTime('202401011230Z')?.toISOString(), '2024-01-01T12:30:00.000Z');
  t.is(parseSignerTime('20240101123045utc')?.toISOString(), '2024-01-01T12:30:45.000Z');
  t.is(parseSignerTime('20240701')?.toISOString(), '2024-07-01T04:00:00.000Z'); // New York summer time
  for (const bad of ['2024', '2024010', '2024010112', '20241301', '20240100', '20240101246000', 'x0240101', '20240101 ']) {
    t.is(parseSignerTime(bad), undefined, bad);
  }
});

test('namespace pattern lists match as in OpenSSH', (t) => {
  t.true(matchPatternList('git', ['git']));
  t.true(matchPatternList('git', ['file', 'git']));
  t.true(matchPatternList('git', ['*']));
  t.true(matchPatternList('git', ['g?t']));
  t.false(matchPatternList('git', ['!git', '*']));
  t.false(matchPatternList('git', ['gi']));
  t.false(matchPatternList('git', ['GIT']));
  t.true(matchPatternList('git', ['*i*']));
});

test('findPrincipals: key, namespace and validity window (both ends inclusive)', (t) => {
  const signers = parseAllowedSigners(
    [
      `alice@example.net namespaces="git" ${K1}`,
      `alice-files@example.net namespaces="file" ${K1}`,
      `bob@example.net valid-after="20240101Z",valid-before="20240131235959Z" ${K2}`,
      `ops@example.net ${K2}`,
    ].join('\n'),
  );
  const at = (s: string): Date => new Date(s);
  t.deepEqual(findPrincipals(signers, blob(K1), 'git', at('2024-06-01T00:00:00Z')), ['alice@example.net']);
  t.deepEqual(findPrincipals(signers, blob(K1), 'file', at('2024-06-01T00:00:00Z')), ['alice-files@example.net']);
  t.deepEqual(findPrincipals(signers, blob(K1), 'other', at('2024-06-01T00:00:00Z')), []);
  t.deepEqual(findPrincipals(signers, blob(K2), 'git', at('2024-01-01T00:00:00Z')), ['bob@example.net', 'ops@example.net']);
  t.deepEqual(findPrincipals(signers, blob(K2), 'git', at('2023-12-31T23:59:59Z')), ['ops@example.net']);
  t.deepEqual(findPrincipals(signers, blob(K2), 'git', at('2024-01-31T23:59:59.900Z')), ['bob@example.net', 'ops@example.net']);
  t.deepEqual(findPrincipals(signers, blob(K2), 'git', at('2024-02-01T00:00:00Z')), ['ops@example.net']);
  t.deepEqual(findPrincipals([], blob(K2), 'git', at('2024-02-01T00:00:00Z')), []);
});

test('loadAllowedSigners reads a file and names it in errors', async (t) => {
  await withTempDir('signers-load', async (dir) => {
    const file = path.join(dir, 'allowed_signers');
    writeFileSync(file, `a@b ${K1}\n`);
    t.is(loadAllowedSigners(file).length, 1);
    writeFileSync(file, `a@b nope ${K1}\n`);
    const err = t.throws(() => loadAllowedSigners(file), { instanceOf: NfgitErrors });
    t.regex(err?.message ?? '', new RegExp(`${file}:1: unknown option "nope"`));
    t.throws(() => loadAllowedSigners(path.join(dir, 'missing')), { message: /cannot read the allowed signers file/ });
  });
});

test('nfgit agrees with ssh-keygen -Y verify on options, patterns and verify times', async (t) => {
  await withTempDir('signers-diff', async (dir) => {
    const keyFile = path.join(dir, 'key');
    const line = generateHostKey(keyFile, 'k');
    const pub = line.split(' ').slice(0, 2).join(' ');
    const armored = signSshsig('payload\n', loadHostKey(keyFile));
    const sigFile = path.join(dir, 'sig');
    writeFileSync(sigFile, armored);
    const signersFile = path.join(dir, 'allowed_signers');
    const cases: Array<{ lines: string[]; principal: string; time: string }> = [];
    const times = [
      '20231231235959Z',
      '20240101000000Z',
      '20240101045959Z',
      '20240101050000Z',
      '20240131235959Z',
      '20240201000000Z',
      '20240615120000',
    ];
    const variants = [
      'alice@example.net',
      'alice@example.net namespaces="git"',
      'alice@example.net namespaces="file"',
      'alice@example.net namespaces="file,git"',
      'alice@example.net namespaces="!git,*"',
      'alice@example.net namespaces="g?t"',
      'alice@example.net valid-after="20240101Z"',
      'alice@example.net valid-after="20240101"',
      'alice@example.net VALID-BEFORE="20240131235959Z"',
      'alice@example.net valid-before="20240131"',
      'alice@example.net valid-after="202401010500",valid-before="20240201000000Z"',
      '*@example.net namespaces="git"',
      '"alice@example.net" valid-after="20240101Z"',
      'bob@example.net,alice@example.net',
    ];
    for (const v of variants) for (const time of times) cases.push({ lines: [`${v} ${pub}`], principal: 'alice@example.net', time });
    // the first line excludes the namespace, a later one allows it
    cases.push({
      lines: [`alice@example.net namespaces="file" ${pub}`, `alice@example.net ${pub}`],
      principal: 'alice@example.net',
      time: '20240101Z',
    });
    let accepted = 0;
    for (const c of cases) {
      writeFileSync(signersFile, `${c.lines.join('\n')}\n`);
      const r = await runTool(
        'ssh-keygen',
        ['-Y', 'verify', '-f', signersFile, '-I', c.principal, '-n', 'git', '-s', sigFile, `-Overify-time=${c.time}`],
        { input: 'payload\n' },
      );
      const when = parseSignerTime(c.time);
      if (when === undefined) throw new Error(`bad test time ${c.time}`);
      const ours = verifySshSignature('payload\n', armored, parseAllowedSigners(c.lines.join('\n')), when);
      if (r.code === 0) accepted++;
      t.is(
        ours.ok,
        r.code === 0,
        `${c.lines.join(' | ')} at ${c.time}: ssh-keygen ${r.code === 0 ? 'accepts' : 'refuses'}, nfgit says ${ours.ok ? 'ok' : ours.reason}`,
      );
    }
    // both answers occur often enough for the comparison to mean something
    t.true(accepted > 20 && cases.length - accepted > 20, `${accepted} of ${cases.length} accepted`);
  });
});
