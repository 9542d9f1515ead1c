// nfgit's command line (main.ts loads it for every command but `run`): wires the commands (one file
// each) and is the one place a failure ends one: every action throws, and the catch below prints it
// and exits with its code (failure.ts).
import { Command, CommanderError } from 'commander';
import { VERSION } from '../util/version.js';
import { registerCompile } from './compile-command.js';
import { exitForFailure } from './failure.js';

/**
 * The other commands, loaded only when the command line may name one of them: their modules (git,
 * the agent's configuration, apply) take about 0.1 s to import, which `nfgit compile` (a hook or a
 * CI job on every push, and its benchmark against the zsh floor) does not need.
 */
async function registerOthers(program: Command, argv: string[], setCode: (n: number) => void): Promise<void> {
  const [agent, apply, check, config, diff, hooks, keygen, pause, probe, restoreLast, status, verifyCommits] = await Promise.all([
    import('./agent-commands.js'),
    import('./apply-command.js'),
    import('./check-command.js'),
    import('./config-command.js'),
    import('./diff-command.js'),
    import('./hooks-command.js'),
    import('./keygen-command.js'),
    import('./pause-command.js'),
    import('./probe-flags.js'),
    import('./restore-last-command.js'),
    import('./status-command.js'),
    import('./verify-commits-command.js'),
  ]);
  check.registerCheck(program);
  apply.registerApply(program, argv);
  restoreLast.registerRestoreLast(program, argv);
  keygen.registerKeygen(program);
  agent.registerAgent(program, setCode);
  status.registerStatus(program, setCode);
  pause.registerPause(program);
  hooks.registerHooks(program);
  diff.registerDiff(program, setCode);
  verifyCommits.registerVerifyCommits(program, setCode);
  probe.registerConfirm(program);
  config.registerConfig(program);
}

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
  // `nfgit compile …` is that command: the others need not be loaded (they are for any other line, help included).
  if (argv[2] !== 'compile') await registerOthers(program, argv, setCode);

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
