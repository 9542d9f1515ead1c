// `nfgit restore-last`: the last good ruleset back from the state directory (at boot: no git, no network).

import type { Command } from 'commander';
import { applyOptions, withApplyFlags, type ApplyFlags } from './apply-flags.js';
import { collect } from './compile-flags.js';
import { printApply, printRecovery } from './apply-output.js';
import { SandboxError } from '../errors/errors.js';

/** Adds `nfgit restore-last`; argv is recorded in the journal. */
export function registerRestoreLast(program: Command, argv: readonly string[]): void {
  withApplyFlags(
    program
      .command('restore-last')
      .description('load the last good ruleset from the state directory (at boot: no git, no network)')
      .option('--json', 'print the result as JSON on stdout')
      .option('--preserve <pattern>', 'chains of other software to leave alone, as for apply (repeatable)', collect, [])
      .option('--force', 'load into --netns (or the host) even though the last good ruleset was applied to another target'),
  ).action(async (flags: ApplyFlags & { json?: boolean; force?: boolean }) => {
    // The firewall and the state directory are root's: say so, rather than fail on the first file (a "bug", exit 70).
    const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
    if (uid !== 0)
      throw new SandboxError(
        `restore-last loads the firewall from the state directory ${flags.stateDir}, which only root may do: run it as root (sudo nfgit restore-last); this process runs as uid ${uid}`,
      );
    // Loaded when used: the state code and zod would add a tenth of a second to every command's start.
    // Without --netns: the target recorded with the last good ruleset (the boot unit names none).
    const { restoreLast } = await import('../apply/apply.js');
    const report = await restoreLast(applyOptions(flags, argv), {
      recorded: flags.netns === undefined && flags.force !== true,
      force: flags.force === true,
    });
    if (!report.restored) {
      printRecovery(report.recovery, flags.json === true);
      if (flags.json === true) process.stdout.write(JSON.stringify({ ok: true, restored: false, recovery: report.recovery }) + '\n');
      else process.stdout.write(`no last good ruleset in ${flags.stateDir}: nothing to restore\n`);
      return;
    }
    printApply(report, `restored the last good ruleset (${report.source}, applied ${report.appliedAt})`, {
      json: flags.json,
      target: report.target,
    });
  });
}
