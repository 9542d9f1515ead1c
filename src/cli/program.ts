// nfgit's command line (main.ts loads it for every command but `run`): wires the commands (one file
// each) and is the one place a failure ends one: every action throws, and the catch below prints it
// and exits with its code (failure.ts).
import { Command, CommanderError } from 'commander';
import { VERSION } from '../util/version.js';
import { registerAgent } from './agent-commands.js';
import { registerApply } from './apply-command.js';
import { registerCheck } from './check-command.js';
import { registerCompile } from './compile-command.js';
import { registerConfig } from './config-command.js';
import { registerDiff } from './diff-command.js';
import { exitForFailure } from './failure.js';
import { registerHooks } from './hooks-command.js';
import { registerKeygen } from './keygen-command.js';
import { registerPause } from './pause-command.js';
import { registerConfirm } from './probe-flags.js';
import { registerRestoreLast } from './restore-last-command.js';
import { registerStatus } from './status-command.js';
import { registerVerifyCommits } from './verify-commits-command.js';

async function run(argv: string[]): Promise<number> {
  const program = new Command()
    .name('nfgit')
    .description('GitOps pull agent for netfilter: compile, stage and apply shell rule files')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();

  // An exit code that is a command's result (diff: 1 something would change; sync: 1 a commit refused).
  let code = 0;
  const setCode = (n: number): void => {
    code = n;
  };
  registerCompile(program);
  registerCheck(program);
  registerApply(program, argv);
  registerRestoreLast(program, argv);
  registerKeygen(program);
  registerAgent(program, setCode);
  registerStatus(program, setCode);
  registerPause(program);
  registerHooks(program);
  registerDiff(program, setCode);
  registerVerifyCommits(program, setCode);
  registerConfirm(program);
  registerConfig(program);

  let running: Command | undefined;
  program.hook('preAction', (_program, actionCommand) => {
    running = actionCommand;
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2;
    }
    return exitForFailure(err, running);
  }
  return code;
}

// Signals end the process through exit handlers, which kill the sandboxes' process groups.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => process.exit(sig === 'SIGINT' ? 130 : 143));
}

process.exitCode = await run(process.argv);
