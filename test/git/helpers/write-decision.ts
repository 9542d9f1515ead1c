// Writes a host's signed decision into a local bare repository (its current status ref moves to it),
// as the agent does, for tests of the readers.
import type { StatusRecord } from '../../../src/git/status-message.js';
import type { HostKey } from '../../../src/git/signing/openssh-key.js';
import { writeStatusTag } from '../../../src/git/status-write.js';
import { mustRun } from '../signing/tools.js';

/** The decision tag's name and object id. */
export async function writeDecision(gitdir: string, r: StatusRecord, key: HostKey): Promise<{ name: string; oid: string }> {
  const { name } = await writeStatusTag({ gitdir, remote: null, record: r, key, keep: 50 });
  return { name, oid: (await mustRun('git', ['--git-dir', gitdir, 'rev-parse', `refs/tags/${name}`])).trim() };
}
