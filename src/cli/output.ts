import type { NfgitError } from '../errors/errors.js';
import type { CompileResult } from '../compiler/compile.js';
import { FAMILY_NAME } from '../compiler/parse-argv.js';
import type { ApplyReport } from '../apply/apply.js';
import type { Recovery } from '../apply/transaction.js';
import { describePath } from '../apply/apply-path.js';
import { describeSetsOutcome } from '../netfilter/set-diff.js';
import { describeTarget, type Target } from '../netfilter/target.js';
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

/** Says what recovering an interrupted apply did (on stderr: it is news the admin must see). */
export function printRecovery(recovery: Recovery, json: boolean): void {
  if (recovery.found && !json) process.stderr.write(`nfgit: ${recovery.message}\n`);
  if (recovery.found && !json) for (const w of recovery.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
}

/** Prints the summary of an apply: per family, tables, rules, what changed, time; warnings for host commands. */
export function printApply(report: ApplyReport, headline: string, flags: { json?: boolean | undefined; target: Target }): void {
  if (flags.json === true) {
    process.stdout.write(JSON.stringify({ ok: true, ...report }) + '\n');
    return;
  }
  printRecovery(report.recovery, false);
  const lines = [
    `${headline} to ${describeTarget(flags.target)} in ${(report.durationMs / 1000).toFixed(2)} s`,
    `  ${describePath(report.path)}`,
  ];
  for (const f of report.families) {
    const c = f.change;
    const parts = c === undefined ? ['(could not read the new ruleset back to compare)'] : [`+${c.rulesAdded} -${c.rulesRemoved} rules`];
    if (c !== undefined && c.chainsAdded.length > 0) parts.push(`chains added: ${c.chainsAdded.join(', ')}`);
    if (c !== undefined && c.chainsRemoved.length > 0) parts.push(`chains removed: ${c.chainsRemoved.join(', ')}`);
    if (c !== undefined && c.policiesChanged.length > 0) parts.push(`policies changed: ${c.policiesChanged.join(', ')}`);
    lines.push(`  ${FAMILY_NAME[f.family]}: ${f.rules} rule(s) in ${f.tables.join(', ') || '(no table)'}; ${parts.join('; ')}`);
  }
  if (report.sets !== undefined) lines.push(`  ${describeSetsOutcome(report.sets)}`);
  process.stdout.write(lines.join('\n') + '\n');
  for (const w of report.warnings) process.stderr.write(`warning: ${w}\n`);
  for (const w of report.hostCommandFailures) {
    process.stderr.write(`warning: host command "${w.argv.join(' ')}" (${w.at}) failed: ${w.message}; the ruleset stays applied\n`);
  }
}
