// The state directory's own error, apart from state-records.ts (which validates records with zod), so
// that the checks of util/state-security.ts, which the `nfgit run` daemon loads, stay free of zod (issue 15).
import { NfgitError } from './errors.js';

/** A state file that is not what nfgit wrote: its name and what is wrong, for a message that names it. */
export class CorruptStateFile extends NfgitError {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    // A SandboxError (exit 3, transient): the host's state is wrong, not the rule files.
    super('SandboxError', `the state file ${file} is damaged: ${problem}`);
  }
}
