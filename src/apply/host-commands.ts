import { runInTarget, type Target } from '../netfilter/target.js';

/** A host command that failed: the ruleset stays applied, and this is reported as a warning. */
export interface HostCommandFailure {
  readonly argv: readonly string[];
  readonly at: string;
  readonly message: string;
}

/**
 * Runs the `main` lines after a successful apply, in order, each with a time limit, inside the
 * namespace when there is one. A failure does not undo the ruleset: it is returned as a warning.
 */
export async function runHostCommands(
  target: Target,
  commands: ReadonlyArray<{ readonly argv: readonly string[]; readonly at: string }>,
  timeoutMs: number,
): Promise<HostCommandFailure[]> {
  const failures: HostCommandFailure[] = [];
  for (const c of commands) {
    try {
      // Done when the command exits: a process it left behind (`setsid cmd &`) holding its output
      // pipes no longer holds nfgit past the time limit. What stayed in its process group is killed
      // then; a process that left the group runs on, on the host, as a daemon the command started.
      const r = await runInTarget(target, c.argv, { timeoutMs, untilExit: true });
      if (r.timedOut) failures.push({ ...c, message: `did not finish within ${timeoutMs / 1000} s and was killed` });
      else if (r.code !== 0)
        failures.push({ ...c, message: `exit status ${r.code ?? r.signal}: ${(r.stderr + r.stdout).trim().slice(0, 2000)}` });
    } catch (err) {
      failures.push({ ...c, message: (err as Error).message });
    }
  }
  return failures;
}
