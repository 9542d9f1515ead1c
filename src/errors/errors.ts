// nfgit's errors: one class per code, each with its recovery in one table (RECOVERY), and one
// classification of a failure (classify) that the CLI's exit codes and the agent's retries read.
import { formatLocation, type SourceTrace } from './source-location.js';

/** Codes of every error nfgit can report; stable, for tools and tests (`--json` prints them). */
export type ErrorCode =
  | 'RuleError' // a rule file is wrong at a given line: model or staging rejected it
  | 'ScriptError' // a shell command in a rule file failed, or the script misbehaved
  | 'TimeoutError' // the rule files ran past their time limit
  | 'UsageError' // bad command-line use, configuration or input
  | 'ProbeError' // applied, then a probe failed or no confirmation came: rolled back
  | 'SandboxError' // the host could not do the work: a tool, a namespace, the state directory, the disk
  | 'RemoteError' // the git server could not be reached, stalled, or failed
  | 'RollbackError' // the previous ruleset could not be put back: the host may be split
  | 'InternalError'; // a bug in nfgit

/**
 * How an error is recovered: by a new commit or a fix of the input (stalled), by retrying the same
 * thing later (transient), or by fixing nfgit (internal).
 */
export type ErrorClass = 'stalled' | 'transient' | 'internal';

/** What each code means for the one who runs nfgit: its class and the CLI's exit code. */
export const RECOVERY: Readonly<Record<ErrorCode, { readonly errorClass: ErrorClass; readonly exitCode: number }>> = {
  RuleError: { errorClass: 'stalled', exitCode: 1 },
  ScriptError: { errorClass: 'stalled', exitCode: 1 },
  TimeoutError: { errorClass: 'stalled', exitCode: 1 },
  ProbeError: { errorClass: 'stalled', exitCode: 1 },
  UsageError: { errorClass: 'stalled', exitCode: 2 },
  SandboxError: { errorClass: 'transient', exitCode: 3 },
  RemoteError: { errorClass: 'transient', exitCode: 3 },
  // The journal is kept, so the next command (or pass) finishes the rollback; until then say what to run.
  RollbackError: { errorClass: 'transient', exitCode: 3 },
  InternalError: { errorClass: 'internal', exitCode: 70 },
};

/** Options of every error: where in the rule files, which family, what caused it. */
export interface ErrorOptions {
  /** Innermost location first, then the call sites of helper functions. */
  readonly trace?: SourceTrace;
  readonly family?: 'ipv4' | 'ipv6';
  readonly cause?: unknown;
}

/** The base of nfgit's errors: a code, a full-sentence message, and where in the rule files it comes from. */
export class NfgitError extends Error {
  readonly code: ErrorCode;
  /** Innermost location first, then the call sites of helper functions. Empty when not tied to a line. */
  readonly trace: SourceTrace;
  /** Which address family the error concerns, when it concerns one. */
  readonly family: 'ipv4' | 'ipv6' | undefined;

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = code;
    this.code = code;
    this.trace = options.trace ?? [];
    this.family = options.family;
  }

  /** Whether a retry can help. */
  get errorClass(): ErrorClass {
    return RECOVERY[this.code].errorClass;
  }

  /** `FILE:LINE: message` then `  called from FILE:LINE` lines, as printed by the CLI. */
  format(): string {
    const [first, ...callers] = this.trace;
    if (first === undefined) return `nfgit: ${this.message}`;
    const lines = [`${formatLocation(first)}: ${this.message}`];
    for (const c of callers) lines.push(`  called from ${formatLocation(c)}`);
    return lines.join('\n');
  }

  /** Plain data for `--json` output and plan files. */
  toJSON(): { code: ErrorCode; message: string; at: string | null; calledFrom: string[]; family: string | null } {
    const [first, ...callers] = this.trace;
    return {
      code: this.code,
      message: this.message,
      at: first === undefined ? null : formatLocation(first),
      calledFrom: callers.map(formatLocation),
      family: this.family ?? null,
    };
  }
}

/**
 * The class of one code: `new RuleError(message, { trace })`, `err instanceof RuleError`, `RuleError.code`.
 * Made by one function, since the classes differ only by their code.
 */
function classOf<C extends ErrorCode>(code: C) {
  return class extends NfgitError {
    static readonly code: C = code;
    constructor(message: string, options: ErrorOptions = {}) {
      super(code, message, options);
    }
  };
}

/** A rule file is wrong at a given line: the model or staging rejected it. */
export const RuleError = classOf('RuleError');
export type RuleError = InstanceType<typeof RuleError>;

/** A shell command in a rule file failed, or the script misbehaved (stopped early, ran iptables directly). */
export const ScriptError = classOf('ScriptError');
export type ScriptError = InstanceType<typeof ScriptError>;

/** The rule files ran past their time limit. */
export const TimeoutError = classOf('TimeoutError');
export type TimeoutError = InstanceType<typeof TimeoutError>;

/** Bad command-line use, configuration or input (keys, trust lists, a rules directory that is not there). */
export const UsageError = classOf('UsageError');
export type UsageError = InstanceType<typeof UsageError>;

/** The host could not do the work: a tool missing or failing, a namespace, the state directory, a full disk. */
export const SandboxError = classOf('SandboxError');
export type SandboxError = InstanceType<typeof SandboxError>;

/** The git server could not be reached, stalled, or failed (transport.ts remoteError decides which). */
export const RemoteError = classOf('RemoteError');
export type RemoteError = InstanceType<typeof RemoteError>;

/**
 * The previous ruleset could not be put back after a failed apply or probe: one family may run the new
 * rules and the other the old, so the message says so and what to run. The journal is kept.
 */
export const RollbackError = classOf('RollbackError');
export type RollbackError = InstanceType<typeof RollbackError>;

/** A bug in nfgit. */
export const InternalError = classOf('InternalError');
export type InternalError = InstanceType<typeof InternalError>;

/** Several errors found in one pass (for example several bad rules found while staging). */
export class NfgitErrors extends Error {
  readonly errors: readonly NfgitError[];
  constructor(errors: readonly NfgitError[]) {
    super(errors.map((e) => e.format()).join('\n'));
    this.name = 'NfgitErrors';
    this.errors = errors;
  }
}

/** Wraps anything thrown into a list of NfgitError, keeping nfgit's own errors as they are. */
export function asNfgitErrors(err: unknown): NfgitError[] {
  if (err instanceof NfgitErrors) return [...err.errors];
  if (err instanceof NfgitError) return [err];
  const message = err instanceof Error ? err.message : String(err);
  return [new InternalError(`internal error: ${message}`, { cause: err })];
}

/** What a failure means as a whole: the class that decides (internal, then transient, then stalled) and the exit code. */
export function classify(errors: readonly NfgitError[]): { readonly errorClass: ErrorClass; readonly exitCode: number } {
  if (errors.some((e) => e.errorClass === 'internal')) return { errorClass: 'internal', exitCode: 70 };
  if (errors.some((e) => e.errorClass === 'transient')) return { errorClass: 'transient', exitCode: 3 };
  if (errors.length > 0 && errors.every((e) => e.code === 'UsageError')) return { errorClass: 'stalled', exitCode: 2 };
  return { errorClass: 'stalled', exitCode: 1 };
}
