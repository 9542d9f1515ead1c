// Writes fw1's status tag into a local repository as nfgit.service does (umask 077), in a process of
// its own, so that a test can run it with the service's capabilities and groups (setpriv):
//   node write-status-tag.js GITDIR KEY_FILE COMMIT
// Prints {"name": …} or {"code": …, "message": …}.
import { writeStatusTag } from '../../../src/git/status-tags.js';
import { loadHostKey } from '../../../src/git/signing/openssh-key.js';
import { NfgitError } from '../../../src/errors/errors.js';
import { appliedRecord } from './status-record.js';

const [gitdir = '', keyFile = '', commit = ''] = process.argv.slice(2);
process.umask(0o077);
try {
  const written = await writeStatusTag({ gitdir, remote: null, record: appliedRecord(commit), key: loadHostKey(keyFile), keep: 1 });
  process.stdout.write(JSON.stringify({ name: written.name }) + '\n');
} catch (err) {
  const code = err instanceof NfgitError ? err.code : 'Error';
  process.stdout.write(JSON.stringify({ code, message: (err as Error).message }) + '\n');
}
