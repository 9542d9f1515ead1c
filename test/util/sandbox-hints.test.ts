import test from 'ava';
import { errnoCode, readHint, writeHint } from '../../src/util/sandbox-hints.js';

const SYSTEMD = { INVOCATION_ID: '0b3c5e0d6f8a4a8e9c1d2e3f4a5b6c7d' };

test('a key or trust file under /root or /home that cannot be read, under systemd: ProtectHome hides it', (t) => {
  for (const code of ['ENOENT', 'EACCES']) {
    t.is(
      readHint('/root/keys/allowed_signers', code, SYSTEMD),
      ' (nfgit.service runs with ProtectHome=yes, which hides /root and /home from it: move /root/keys/allowed_signers to /etc/nfgit, or give the unit ProtectHome=read-only with systemctl edit nfgit)',
    );
    t.regex(readHint('/home/alice/signing_key', code, SYSTEMD), /ProtectHome=yes/);
  }
  // Elsewhere, outside systemd, or another failure: no hint (a wrong hint would send the admin astray).
  t.is(readHint('/etc/nfgit/signing_key', 'ENOENT', SYSTEMD), '');
  t.is(readHint('/rootkit/key', 'ENOENT', SYSTEMD), '');
  t.is(readHint('/root/key', 'ENOENT', {}), '');
  t.is(readHint('/root/key', 'EISDIR', SYSTEMD), '');
});

test('a read-only repository path under systemd: add ReadWritePaths with systemctl edit', (t) => {
  for (const code of ['EROFS', 'EACCES'])
    t.is(
      writeHint('/srv/git/firewall.git', code, SYSTEMD),
      ' (nfgit.service sees the file system read-only but for its own directories: add ReadWritePaths=/srv/git/firewall.git with systemctl edit nfgit, under [Service])',
    );
  t.is(writeHint('/srv/git/firewall.git', 'EROFS', {}), '');
  t.is(writeHint('/srv/git/firewall.git', 'ENOSPC', SYSTEMD), '');
  t.regex(writeHint('/home/git/firewall.git', 'EACCES', SYSTEMD), /ProtectHome=yes/);
});

test('the errno code is found on an error or its causes', (t) => {
  const inner = Object.assign(new Error('read-only'), { code: 'EROFS' });
  t.is(errnoCode(new Error('wrapped', { cause: inner })), 'EROFS');
  t.is(errnoCode(Object.assign(new Error('x'), { code: 'UsageError' })), undefined);
  t.is(errnoCode(undefined), undefined);
});
