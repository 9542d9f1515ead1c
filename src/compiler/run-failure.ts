// How a run of the rule files ended, in words: an early stop, a failed command, the shell's own
// message, a time-out. Pure: compile.ts hands it the interpreter's state and the run's exit.
import { NfgitError, NfgitErrors, RuleError, ScriptError, TimeoutError } from '../errors/errors.js';
import type { SourceTrace } from '../errors/source-location.js';
import { JAIL_RULES_DIR } from './jail.js';
import type { RunMode, RunRulesExit } from './run-rules.js';
import type { InterpreterState } from './interpret.js';

/**
 * A line of `set -x` output from nfgit's own functions and traps (zsh's PS4 is `+%N:%i> `): never what
 * a rule file said, so never quoted in a message.
 */
const NFGIT_XTRACE =
  /^\++(?:(?:__nfgit\w*|iptables|ip6tables|ipset|main|which|sudo|doas|nice|nohup|env|sh|bash|dash|xargs|TRAP(?:ZERR|DEBUG|EXIT)|[^\s:]*\/(?:ip6?tables|ipset)[^\s:]*|\/run\/nfgit\/prelude\.(?:zsh|bash))(?::\d+)?> |\S*> (?:__nfgit_err |\[\[ -n \$__nfgit_over))/;

/** A rule file that did not run to its end (the X record of prelude.zsh). */
export interface EarlyStop {
  /** `exit`: the shell exited; `stop`: the file's sourcing ended early (an error, a `return`). */
  readonly how: 'exit' | 'stop';
  readonly file: string;
  /** The last command the file ran (diagnose mode), as zsh prints it. */
  readonly command: string;
  /** Where that command was, with its call chain (diagnose mode); empty otherwise. */
  readonly trace: SourceTrace;
  /** How many failed commands (ZERR) came before the stop. */
  readonly failuresBefore: number;
  /** The first `exit` the file ran (the prelude makes it return from the file), when that is why it stopped. */
  readonly exit?: { readonly trace: SourceTrace; readonly inFunction: string | undefined };
}

/** The prelude's note of an exit, `NAME|FILE:LINE` (NAME: the function, or the file at its top level). */
export function exitOf(note: string, file: string, toTrace: (raw: readonly string[]) => SourceTrace): Pick<EarlyStop, 'exit'> {
  const bar = note.indexOf('|');
  if (bar < 0) return {};
  const name = note.slice(0, bar);
  // zsh names the file at its top level; bash names nothing there.
  return { exit: { trace: toTrace([note.slice(bar + 1)]), inFunction: name === file || name === '' ? undefined : name } };
}

function sameLocation(a: SourceTrace, b: SourceTrace): boolean {
  return a[0] !== undefined && b[0] !== undefined && a[0].file === b[0].file && a[0].line === b[0].line;
}

/**
 * Explains a rule file that stopped before its end, at the FILE:LINE where it stopped: zsh's own
 * message when it printed one (an expansion or parse error), or what the last command was (`return`,
 * `exit`). The files after it did not run, so nothing of the run may be used.
 */
function earlyStopError(early: EarlyStop, output: string, display: (file: string) => string): NfgitError {
  const lines = output
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '');
  const refused = 'nfgit refuses a rule file that does not run to its end, since its later rules would be silently missing';
  const stopped = `the rule file stopped here, so its later lines did not run; ${refused}`;
  const said = zshError(lines, display);
  // zsh names the file and line of a parse or expansion error in a rule file: that is where it stopped.
  if (
    said !== undefined &&
    said.trace[0] !== undefined &&
    (early.trace.length === 0 || said.trace[0].file === early.trace[0]?.file || said.trace[0].file === early.file)
  ) {
    return new ScriptError(`${said.message}; ${stopped}`, { trace: said.trace });
  }
  if (early.exit !== undefined) {
    const where = early.exit.inFunction === undefined ? 'before the last line of the rule file' : `in function ${early.exit.inFunction}`;
    return new ScriptError(
      `"exit" ${where}: rule files are sourced into one shell, so in a real shell it would end the whole run here and skip the rest; nfgit accepts an exit only as a file's last command${early.exit.inFunction === undefined ? '' : ' (return from the function instead)'}, or put the lines to skip under an "if"`,
      { trace: early.exit.trace },
    );
  }
  const trace = early.trace.length > 0 ? early.trace : [{ file: early.file, line: 0 }];
  // Inside a function zsh names the function and its own line count ("allow:2: bad substitution").
  const inFunction = lines.map((l) => /^([^/:\s][^:]*):(\d+): (.*)$/.exec(l)).find((m) => m !== null);
  const command = early.command.trim().split('\n')[0] ?? '';
  if (inFunction !== null && inFunction !== undefined && early.how === 'stop') {
    return new ScriptError(`zsh: ${inFunction[3]} (in ${inFunction[1]}); ${stopped}`, { trace });
  }
  const exit = /(?:^|[\s;&|({])(exit(?:\s+[^\s;&|)}]+)?)\s*(?:$|[;&|)}])/.exec(command);
  if (early.how === 'exit' || exit !== null) {
    return new ScriptError(
      `"${exit?.[1] ?? 'exit'}" ends the whole run here: rule files are sourced into one shell, so the rest of this file and the files after it did not run; remove the exit, or put the lines to skip under an "if"`,
      { trace },
    );
  }
  const ret = /(?:^|[\s;&|({])(return(?:\s+[^\s;&|)}]+)?)\s*(?:$|[;&|)}])/.exec(command);
  if (ret !== null) {
    return new ScriptError(
      `"${ret[1]}" at the top level ends the rule file here, so its later lines did not run; ${refused}: put the lines to skip under an "if" instead`,
      { trace },
    );
  }
  return new ScriptError(`${command === '' ? '' : `after "${command}", `}${stopped}`, { trace });
}

/** Explains why the zsh run stopped: the iptables call that failed, the command that failed, or zsh's own message. */
function scriptFailure(
  code: number | null,
  signal: string | null,
  output: string,
  lastFailure: { trace: SourceTrace; status: number } | undefined,
  lastRefusal: { trace: SourceTrace; message: string } | undefined,
  currentFile: string,
  display: (file: string) => string,
): NfgitError {
  const lines = output
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '' && !NFGIT_XTRACE.test(l));
  const zshSaid = zshError(lines, display);
  if (zshSaid !== undefined && (lastFailure === undefined || lastFailure.trace.length === 0)) return zshSaid;
  if (lastFailure !== undefined && lastFailure.trace.length > 0 && code !== 0) {
    const at = lastFailure.trace[0];
    const refusalAt = lastRefusal?.trace[0];
    if (
      lastRefusal !== undefined &&
      at !== undefined &&
      refusalAt !== undefined &&
      at.file === refusalAt.file &&
      at.line === refusalAt.line
    ) {
      return new RuleError(lastRefusal.message, { trace: lastRefusal.trace });
    }
    // The jail's paths of rule files, as the user named them.
    const lastLine = lines.at(-1);
    const said = lastLine?.replace(new RegExp(`${JAIL_RULES_DIR}/[^\\s:'"]+`, 'g'), (p) => display(p));
    const host = said === undefined ? undefined : hostOnlyHint(said);
    return new ScriptError(
      host !== undefined
        ? `a command failed with exit status ${lastFailure.status} (it said: ${said}): ${host}`
        : `a command failed with exit status ${lastFailure.status}${said ? ` (it said: ${said})` : ''}; rule files run with errexit, so the compile stopped here (append "|| true" if the failure is expected)`,
      { trace: lastFailure.trace },
    );
  }
  if (code === 0) {
    return new ScriptError(
      'the run of the rule files ended in this file without an error (an "exec", or "setopt noexec"?), so the rest of it and the files after it did not run; nfgit refuses rules that do not run to their end',
      { trace: currentFile ? [{ file: currentFile, line: 0 }] : [] },
    );
  }
  const why = signal !== null ? `was killed by ${signal}` : `exited with status ${code}`;
  return new ScriptError(`the rule files ${why}${lines.length > 0 ? `: ${lines.slice(-3).join(' / ')}` : ''}`, {
    trace: currentFile ? [{ file: currentFile, line: 0 }] : [],
  });
}

/**
 * What to say when a rule file tried to change the host while compiling (a sysctl, a module, a file
 * under /proc/sys or /sys), which the jail refuses: such lines are host commands, run after the apply.
 */
function hostOnlyHint(said: string): string | undefined {
  if (/\/proc\/sys\b|\bsysctl\b/.test(said)) {
    return 'kernel settings are the host\'s, and rule files run in a sandbox while compiling (its /proc/sys is read-only): write it as a host command, run after the apply, as in "main sysctl -w net.ipv4.ip_forward=1" or "main sh -c \'echo 1 > /proc/sys/net/ipv4/ip_forward\'"';
  }
  if (/\bmodprobe\b|\binsmod\b|\/sys\//.test(said)) {
    return 'this changes the host, and rule files run in a sandbox while compiling: write it as a host command, run after the apply, as in "main modprobe nf_conntrack_ftp"';
  }
  return undefined;
}

/** zsh's own errors (syntax, bad substitution) are printed as "/abs/file:LINE: message". */
function zshError(lines: readonly string[], display: (file: string) => string): NfgitError | undefined {
  for (const l of lines) {
    // bash: "FILE: line N: message" (the file is a rule file, or the prelude for its own errors).
    const bash = /^(\/[^:]+): line (\d+): (.*)$/.exec(l);
    if (bash !== null && !(bash[1] as string).endsWith('/prelude.bash')) {
      return new ScriptError(`bash: ${bash[3]}`, { trace: [{ file: display(bash[1] as string), line: Number(bash[2]) }] });
    }
    // A builtin's own complaint names it between the file and the line ("FILE:break:2: not in …").
    const b = /^(\/[^:]+):([a-z_][\w-]*):(\d+): (.*)$/.exec(l);
    const m = b === null ? /^(\/[^:]+):(\d+): (.*)$/.exec(l) : [b[0], b[1], b[3], `${b[2]}: ${b[4]}`];
    if (m === null) continue;
    const trace = [{ file: display(m[1] as string), line: Number(m[2]) }];
    const own = /^defining function based on alias `(.+)'$/.exec(m[3] as string);
    if (own !== null) {
      return new ScriptError(
        `rule files must not define a function named "${own[1]}": nfgit provides it to record the calls (name a wrapper differently)`,
        { trace },
      );
    }
    return new ScriptError(`zsh: ${m[3]}`, { trace });
  }
  return undefined;
}

/**
 * The end of one run: undefined when the rules ran to their end (the models are the result), the mode
 * to run the files again in, or the errors that explain the stop (thrown as NfgitErrors).
 */
export function runOutcome(
  state: InterpreterState,
  exit: RunRulesExit,
  mode: RunMode,
  timeoutMs: number,
  display: (file: string) => string,
): RunMode | undefined {
  const { lastFailure, lastRefusal, bypass, failures, finished, currentFile, early } = state;
  if (exit.stoppedBy !== undefined) throw new NfgitErrors([exit.stoppedBy]);
  if (exit.restart) return 'exact';
  if (exit.timedOut) {
    throw new NfgitErrors([
      new TimeoutError(
        `the rule files were still running after ${timeoutMs / 1000} s (the last file started was ${currentFile}) and were stopped: a loop that never ends, or a command that waits (sleep, read, a network call)?`,
        { trace: currentFile ? [{ file: currentFile, line: 0 }] : [] },
      ),
    ]);
  }
  if (bypass !== undefined) {
    const at =
      lastFailure !== undefined && failures > bypass.failureAfter && lastFailure.trace.length > 0
        ? lastFailure.trace
        : [{ file: bypass.file, line: 0 }];
    throw new NfgitErrors([
      new RuleError(
        `runs iptables directly ("${bypass.command.trim()}"), bypassing nfgit: call iptables/ip6tables by name or path, without "command" or "builtin", so nfgit can compile the rule`,
        { trace: at },
      ),
    ]);
  }
  // A failed command (errexit) explains the end of the run by itself; an exit does not say where it was.
  const failedAtEnd =
    lastFailure !== undefined &&
    lastFailure.trace.length > 0 &&
    (early === undefined || failures > early.failuresBefore || sameLocation(early.trace, lastFailure.trace));
  const zshSaid = zshError(exit.output.split('\n'), display);
  const unexplained = !failedAtEnd && (exit.code === 0 || zshSaid === undefined);
  // zsh's message locates a parse or expansion error by itself; other stops need the diagnose run.
  const located = early?.exit !== undefined || zshSaid !== undefined;
  if (!finished && mode !== 'diagnose' && (unexplained || (early !== undefined && !failedAtEnd && !located))) return 'diagnose';
  if (early !== undefined && !failedAtEnd) throw new NfgitErrors([earlyStopError(early, exit.output, display)]);
  if (exit.code !== 0 || !finished)
    throw new NfgitErrors([scriptFailure(exit.code, exit.signal, exit.output, lastFailure, lastRefusal, currentFile, display)]);
  return undefined;
}
