import { runInTarget, type Target } from '../netfilter/target.js';

/** A host command that failed: the ruleset stays applied, and this is reported as a warning. */
export interface HostCommandFailure {
  readonly argv: readonly string[];
  readonly at: string;
  readonly message: string;
}

/**
 * Runs the `main` lines after a successful apply, in order, each with a time limit and in a PID
 * namespace of its own, inside the network namespace when there is one. A failure does not undo the ruleset: it is returned as a warning.
 */
export async function runHostCommands(
  target: Target,
  commands: ReadonlyArray<{ readonly argv: readonly string[]; readonly at: string }>,
  timeoutMs: number,
): Promise<HostCommandFailure[]> {
  const failures: HostCommandFailure[] = [];
  for (const c of commands) {
    try {
      // In a PID namespace of its own, so nothing it starts outlives it (a `setsid cmd &` would hold
      // its output pipes, and nfgit with them, past the time limit): when the command exits, or is
      // killed at the limit, the kernel kills everything left in the namespace.
      const r = await runInTarget(target, ['unshare', '--pid', '--fork', '--kill-child', '--', ...c.argv], { timeoutMs });
      if (r.timedOut) failures.push({ ...c, message: `did not finish within ${timeoutMs / 1000} s and was killed` });
      else if (r.code !== 0) failures.push({ ...c, message: `exit status ${r.code ?? r.signal}: ${(r.stderr + r.stdout).trim().slice(0, 2000)}` });
    } catch (err) {
      failures.push({ ...c, message: (err as Error).message });
    }
  }
  return failures;
}
