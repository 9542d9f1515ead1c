// What commands print: errors (FILE:LINE lines, or JSON) and a compile's summary. An apply's report
// is apply-output.ts's (its modules are the apply's, which compile and check do not load).
import type { NfgitError } from '../errors/errors.js';
import type { CompileResult } from '../compiler/compile.js';
import { isJournalStream } from '../agent/log.js';

/** Prints errors: FILE:LINE: message lines on stderr, or JSON on stdout. */
export function printErrors(errors: readonly NfgitError[], json: boolean): void {
  if (json) process.stdout.write(JSON.stringify({ ok: false, errors: errors.map((e) => e.toJSON()) }, null, 2) + '\n');
  else {
    // Under journald (a unit's ExecStartPre=nfgit config check, the boot unit's restore-last), each
    // line is an error entry, so that `journalctl -p err` shows it.
    const prefix = isJournalStream(2) ? '<3>' : '';
    for (const e of errors) process.stderr.write(prefix + e.format().split('\n').join(`\n${prefix}`) + '\n');
  }
}

/** One line per family: rules, user chains, tables used. */
export function summarize(result: CompileResult): string[] {
  const fam = (name: string, rs: CompileResult['ipv4']): string =>
    `${name}: ${rs.ruleCount} rule(s), ${rs.chainCount} user chain(s), tables ${rs.usedTables.length > 0 ? rs.usedTables.join(', ') : '(none)'}`;
  const lines = [fam('IPv4', result.ipv4), fam('IPv6', result.ipv6)];
  if (result.ipsets.sets.length > 0) lines.push(`ipsets: ${result.ipsets.sets.length} set(s), ${result.ipsets.memberCount} member(s)`);
  if (result.hostCommands.length > 0) lines.push(`host commands: ${result.hostCommands.length} (run after a successful apply)`);
  return lines;
}
