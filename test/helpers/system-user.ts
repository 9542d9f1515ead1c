// A real system user and its own group, made for one test (useradd) and removed on every path, and
// real tools run as that user (setpriv): permission bugs only show for a user that is not root.
import { runTool, mustRun, type ToolOptions, type ToolResult } from '../git/signing/tools.js';

/** A system user made for a test: its name, uid and the gid of its own group (of the same name). */
export interface SystemUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  /** Runs a tool as this user (its own group only, no supplementary groups). */
  run(file: string, args: readonly string[], options?: ToolOptions): Promise<ToolResult>;
}

/** Makes a system user with a unique name for fn (with a group of the same name) and deletes both after. */
export async function withSystemUser<T>(prefix: string, fn: (user: SystemUser) => Promise<T>): Promise<T> {
  // useradd limits names to 32 characters.
  const name = `${prefix}-${process.pid}-${Math.floor(Math.random() * 1e6)}`.slice(0, 32);
  await mustRun('useradd', [
    '--system',
    '--user-group',
    '--no-create-home',
    '--home-dir',
    '/nonexistent',
    '--shell',
    '/usr/sbin/nologin',
    name,
  ]);
  try {
    const uid = Number((await mustRun('id', ['-u', name])).trim());
    const gid = Number((await mustRun('id', ['-g', name])).trim());
    const run = (file: string, args: readonly string[], options: ToolOptions = {}): Promise<ToolResult> =>
      runTool('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--', file, ...args], options);
    return await fn({ name, uid, gid, run });
  } finally {
    await runTool('userdel', [name]);
    // userdel removes the user's group with it (USERGROUPS_ENAB); this is for systems where it does not.
    await runTool('groupdel', [name]);
  }
}
