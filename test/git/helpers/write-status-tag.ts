// Writes fw1's status tag into a local repository as nfgit.service does (umask 077), in a process of
// its own, so that a test can run it with the service's capabilities and groups (setpriv):
//   node write-status-tag.js GITDIR KEY_FILE COMMIT
// Prints {"name": …} or {"code": …, "message": …}.
import { writeStatusTag } from '../../../src/git/status-tags.js';
import { loadHostKey } from '../../../src/git/signing/openssh-key.js';
import { NfgitError } from '../../../src/errors/errors.js';

const [gitdir = '', keyFile = '', commit = ''] = process.argv.slice(2);
process.umask(0o077);
try {
  const record = {
    result: 'applied' as const,
    host: 'fw1',
    commit,
    previous: null,
    rules: { ipv4: { rules: 1, digest: 'sha256:' + '1'.repeat(64) }, ipv6: { rules: 0, digest: 'sha256:' + '2'.repeat(64) } },
    errors: [],
    agent: 'nfgit 0.1.0',
    time: new Date(Date.UTC(2025, 2, 1, 12, 0, 0)),
  };
  const written = await writeStatusTag({ gitdir, remote: null, record, key: loadHostKey(keyFile), keep: 1 });
  process.stdout.write(JSON.stringify({ name: written.name }) + '\n');
} catch (err) {
  const code = err instanceof NfgitError ? err.code : 'Error';
  process.stdout.write(JSON.stringify({ code, message: (err as Error).message }) + '\n');
}
