// nfgit's command line (main.ts loads it for every command but `run`): wires the commands (one file
// each) and is the one place a failure ends one: every action throws, and the catch below prints it
// and exits with its code (failure.ts).
import { mark } from '../util/timings.js';
import { Command, CommanderError } from 'commander';
import { VERSION } from '../util/version.js';
import { registerCompile } from './compile-command.js';
import { exitForFailure } from './failure.js';

type Register = (program: Command, argv: string[], setCode: (n: number) => void) => void;

/** A command whose register function takes the exit code's setter second (its result is an exit code). */
const withCode =
  (register: (program: Command, setCode: (n: number) => void) => void): Register =>
  (program, _argv, setCode) =>
    register(program, setCode);

/**
 * The other commands, each loaded with what it names on the command line. Their modules (git, the
 * agent's configuration, apply) took about 0.1 s to import all together; `nfgit check` and `nfgit
 * apply` start the rule files after that, so each loads its own only (30-40 ms sooner at 50k rules).
 * (`nfgit run` never comes here: main.ts starts the daemon without the command line.)
 */
const OTHERS: ReadonlyArray<{ readonly names: readonly string[]; readonly load: () => Promise<Register> }> = [
  { names: ['check'], load: async () => (await import('./check-command.js')).registerCheck },
  { names: ['apply'], load: async () => (await import('./apply-command.js')).registerApply },
  { names: ['restore-last'], load: async () => (await import('./restore-last-command.js')).registerRestoreLast },
  { names: ['keygen'], load: async () => (await import('./keygen-command.js')).registerKeygen },
  { names: ['sync', '_run-config'], load: async () => withCode((await import('./agent-commands.js')).registerAgent) },
  { names: ['status'], load: async () => withCode((await import('./status-command.js')).registerStatus) },
  { names: ['pause', 'resume'], load: async () => (await import('./pause-command.js')).registerPause },
  { names: ['hooks'], load: async () => (await import('./hooks-command.js')).registerHooks },
  { names: ['diff'], load: async () => withCode((await import('./diff-command.js')).registerDiff) },
  { names: ['verify-commits'], load: async () => withCode((await import('./verify-commits-command.js')).registerVerifyCommits) },
  { names: ['confirm'], load: async () => (await import('./probe-flags.js')).registerConfirm },
  { names: ['config'], load: async () => (await import('./config-command.js')).registerConfig },
];

/**
 * Registers the command that argv names, or all of them (in the order `nfgit --help` lists them)
 * when it names none of them: help, a mistyped command (whose error lists the others), an option.
 */
async function registerOthers(program: Command, argv: string[], setCode: (n: number) => void): Promise<void> {
  const named = OTHERS.filter((c) => c.names.includes(argv[2] ?? ''));
  const chosen = named.length > 0 ? named : OTHERS;
  const registers = await Promise.all(chosen.map((c) => c.load()));
  for (const register of registers) register(program, argv, setCode);
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
// Ended now, not once nothing is left to wait for: after 50k rules the heap takes tens of milliseconds to
// tear down, and a kept-alive socket would hold the process longer. Output is written synchronously
// (pipes and files on Linux), and the exit hooks still run (kill the sandboxes' groups, remove temp files).
mark('exit');
process.exit();
