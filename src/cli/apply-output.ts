// What an apply and a restore-last print: the summary per family, the path taken, warnings, a recovery.
import { FAMILY_NAME } from '../compiler/parse-argv.js';
import type { ApplyReport } from '../apply/apply.js';
import type { Recovery } from '../apply/transaction.js';
import { describePath } from '../apply/apply-path.js';
import { describeSetsOutcome } from '../netfilter/set-diff.js';
import { describeTarget, type Target } from '../netfilter/target.js';

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
