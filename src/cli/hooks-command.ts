// `nfgit hooks install`: puts nfgit's git hooks into a rules repository.

import { realpathSync } from 'node:fs';
import type { Command } from 'commander';
import { installHooks, type CommandStep, type HookStep } from '../hooks/install.js';

/** Flags of `nfgit hooks install`. */
interface InstallFlags {
  bare?: boolean;
  force?: boolean;
}

/** One line per file, as printed. */
function describe(step: HookStep, hooksDir: string): string {
  const file = `${hooksDir}/${step.name}`;
  if (step.action === 'create') return `installed ${file}`;
  if (step.action === 'unchanged') return `${file} is up to date`;
  return `replaced ${file} (the old one is kept as ${step.backup})`;
}

/** The command that runs this nfgit: node and the real path of its script (npx and bin symlinks resolved). */
function thisCommand(): string[] {
  const script = process.argv[1];
  if (script === undefined) return [process.execPath];
  return [process.execPath, realpathSync(script)];
}

/** The line about git config nfgit.command. */
function describeCommand(step: CommandStep): string {
  const shown = step.words.join(' ');
  if (step.action === 'unchanged') return `git config nfgit.command is up to date (${shown})`;
  const was = step.action === 'replaced' ? ` (it was ${step.previous.join(' ')})` : '';
  return `recorded how to run nfgit in git config nfgit.command: ${shown}${was}`;
}

/** Registers `nfgit hooks install [--bare] [--force] REPO`. */
export function registerHooks(program: Command): void {
  const hooks = program.command('hooks').description('git hooks for rules repositories (see the README\'s "Push-to-deploy hooks")');
  hooks
    .command('install')
    .description(
      'install pre-receive and post-receive (a bare repository that hosts pull from: refuse pushes with commits not signed by a key of ' +
        'git config nfgit.allowedSigners or nfgit.config, then pushes whose rules fail nfgit check, then trigger the local agent) or pre-push ' +
        '(a working clone: check before pushing), never replacing a different hook silently; records how to run this nfgit in git config nfgit.command',
    )
    .argument('<repo>', 'the repository (a bare repository, or a clone with a work tree)')
    .option('--bare', 'install the server-side hooks (pre-receive, post-receive) even though the repository has a work tree')
    .option('--force', 'replace existing hooks with other content, keeping each as NAME.nfgit-backup')
    .action((repo: string, flags: InstallFlags) => {
      const report = installHooks(repo, { bare: flags.bare === true, force: flags.force === true, command: thisCommand() });
      const side =
        report.side === 'server'
          ? 'server-side hooks (pushes are checked here, then the local agent is triggered)'
          : 'client-side hook (pushes are checked before they leave)';
      const lines = [`nfgit ${side} in ${report.hooksDir}:`, ...report.steps.map((s) => '  ' + describe(s, report.hooksDir))];
      if (report.command !== undefined) lines.push('  ' + describeCommand(report.command));
      if (report.steps.every((s) => s.action === 'unchanged') && (report.command === undefined || report.command.action === 'unchanged'))
        lines.push('  nothing to do');
      process.stdout.write(lines.join('\n') + '\n');
    });
}
