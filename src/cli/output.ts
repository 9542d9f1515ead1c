import { asNfgitErrors, type NfgitError } from '../compiler/errors.js';
import type { CompileResult } from '../compiler/compile.js';

/** Exit codes: 0 success, 1 the rules (or input) are wrong, 2 usage, 3 the environment failed (retry), 70 a bug. */
export function exitCodeFor(errors: readonly NfgitError[]): number {
  if (errors.some((e) => e.code === 'InternalError')) return 70;
  if (errors.some((e) => e.code === 'SandboxError')) return 3;
  if (errors.every((e) => e.code === 'UsageError')) return 2;
  return 1;
}

/** Prints errors (FILE:LINE: message lines, or JSON) and returns the exit code. */
export function reportFailure(err: unknown, json: boolean): number {
  const errors = asNfgitErrors(err);
  if (json) process.stdout.write(JSON.stringify({ ok: false, errors: errors.map((e) => e.toJSON()) }, null, 2) + '\n');
  else for (const e of errors) process.stderr.write(e.format() + '\n');
  return exitCodeFor(errors);
}

/** One line per family: rules, user chains, tables used. */
export function summarize(result: CompileResult): string[] {
  const fam = (name: string, rs: CompileResult['ipv4']): string =>
    `${name}: ${rs.ruleCount} rule(s), ${rs.chainCount} user chain(s), tables ${rs.usedTables.length > 0 ? rs.usedTables.join(', ') : '(none)'}`;
  const lines = [fam('IPv4', result.ipv4), fam('IPv6', result.ipv6)];
  if (result.hostCommands.length > 0) lines.push(`host commands: ${result.hostCommands.length} (run after a successful apply)`);
  return lines;
}
