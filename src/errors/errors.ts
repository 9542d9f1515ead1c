import { formatLocation, type SourceTrace } from './source-location.js';

/** Codes of every error nfgit can report; stable, for tools and tests. */
export type ErrorCode =
  | 'RuleError' // a rule file is wrong at a given line: model or staging rejected it
  | 'ScriptError' // a shell command in a rule file failed, or the script misbehaved
  | 'SandboxError' // the compile or staging sandbox could not be set up
  | 'TimeoutError' // the rule files ran past their time limit
  | 'UsageError' // bad command-line use or missing input
  | 'ProbeError' // applied, then a probe failed or no confirmation came: rolled back
  | 'InternalError'; // a bug in nfgit

/** How an error is recovered: by a new commit (stalled), by retrying (transient), or by fixing nfgit (internal). */
export type ErrorClass = 'stalled' | 'transient' | 'internal';

const CLASS_OF: Record<ErrorCode, ErrorClass> = {
  RuleError: 'stalled',
  ScriptError: 'stalled',
  SandboxError: 'transient',
  TimeoutError: 'stalled',
  UsageError: 'stalled',
  ProbeError: 'stalled',
  InternalError: 'internal',
};

/** The one error type of nfgit: a code, a full-sentence message, and where in the rule files it comes from. */
export class NfgitError extends Error {
  readonly code: ErrorCode;
  /** Innermost location first, then the call sites of helper functions. Empty when not tied to a line. */
  readonly trace: SourceTrace;
  /** Which address family the error concerns, when it concerns one. */
  readonly family: 'ipv4' | 'ipv6' | undefined;

  constructor(code: ErrorCode, message: string, options: { trace?: SourceTrace; family?: 'ipv4' | 'ipv6'; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = code;
    this.code = code;
    this.trace = options.trace ?? [];
    this.family = options.family;
  }

  /** Whether a retry can help. */
  get errorClass(): ErrorClass {
    return CLASS_OF[this.code];
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
  return [new NfgitError('InternalError', `internal error: ${message}`, { cause: err })];
}
