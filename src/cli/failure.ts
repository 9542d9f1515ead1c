// The one place a failed command ends: every action throws, main.ts catches once and calls
// exitForFailure, which prints the errors as the command asks and takes the exit code from
// classify() (errors/errors.ts), adjusted by the few commands whose exit codes mean something else.

import type { Command } from 'commander';
import { asNfgitErrors, classify, type NfgitError } from '../errors/errors.js';
import { printErrors } from './output.js';

/** How a command reports a failure that ends it. */
export interface FailureStyle {
  /** Print the errors as JSON on stdout (default: the command's --json flag). */
  readonly json?: boolean;
  /** Print them this way instead (the agent's commands log them). */
  readonly print?: (errors: readonly NfgitError[]) => void;
  /** The command's own exit code for classify()'s (diff: 1 means "something would change", so a failure is 2). */
  readonly exitCode?: (code: number) => number;
}

const styles = new WeakMap<Command, (flags: Record<string, unknown>) => FailureStyle>();

/** Sets how `cmd` reports a failure, from its parsed flags. */
export function failsWith<C extends Command>(cmd: C, style: (flags: Record<string, unknown>) => FailureStyle): C {
  styles.set(cmd, style);
  return cmd;
}

/** Prints the errors that ended `cmd` (undefined: before any command ran) and returns the exit code. */
export function exitForFailure(err: unknown, cmd: Command | undefined): number {
  const errors = asNfgitErrors(err);
  const flags = cmd?.opts() ?? {};
  const style = (cmd === undefined ? undefined : styles.get(cmd)?.(flags)) ?? {};
  if (style.print !== undefined) style.print(errors);
  else printErrors(errors, style.json ?? flags['json'] === true);
  const code = classify(errors).exitCode;
  return style.exitCode === undefined ? code : style.exitCode(code);
}
