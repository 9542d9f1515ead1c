// `nfgit apply`: the deploy pipeline (compile → stage → apply) on the host or a named namespace.

import type { Command } from 'commander';
import { deploy } from '../apply/deploy.js';
import { applyOptions, withApplyFlags, type ApplyFlags } from './apply-flags.js';
import { withCompileFlags, compileOptions, type CompileFlags } from './compile-flags.js';
import { printApply } from './apply-output.js';
import { probationOf, withProbeFlags, type ProbeFlags } from './probe-flags.js';

/** Adds `nfgit apply`; argv is recorded in the journal. */
export function registerApply(program: Command, argv: readonly string[]): void {
  withProbeFlags(
    withApplyFlags(
      withCompileFlags(
        program
          .command('apply')
          .description(
            'compile, stage, then apply both families to the host (or --netns) as one transaction and record the result as the last good ruleset',
          ),
      ),
    ),
  )
    .option('--full', 'reload the whole ruleset even where applying only the difference from the last apply would do')
    .action(async (flags: CompileFlags & ApplyFlags & ProbeFlags & { full?: boolean }) => {
      const probation = probationOf(flags);
      const options = { ...applyOptions(flags, argv), full: flags.full === true };
      const deployed = await deploy(compileOptions(flags), { ...options, ...(probation === undefined ? {} : { probation }) });
      if (!deployed.ok) throw deployed.error;
      printApply(deployed.report, `applied ${deployed.result.rulesDir} (${deployed.result.files.length} files)`, {
        json: flags.json,
        target: options.target,
      });
    });
}
