// nfgit's command line (main.ts loads it for every command but `run`): wires the commands (one file
// each) and is the one place a failure ends one: every action throws, and the catch below prints it
// and exits with its code (failure.ts).
import { Command, CommanderError } from 'commander';
import { VERSION } from '../util/version.js';
import { registerCompile } from './compile-command.js';
import { exitForFailure } from './failure.js';

type Register = (program: Command, argv: string[], setCode: (n: number) => void) => void;

/**
 * The other commands, each loaded with what it names on the command line. Their modules (git, the
 * agent's configuration, apply) took about 0.1 s to import all together; `nfgit check` and `nfgit
 * apply` start the rule files after that, so each loads its own only (30-40 ms sooner at 50k rules).
 */
const OTHERS: ReadonlyArray<{ readonly names: readonly string[]; readonly load: () => Promise<Register> }> = [
  {
    names: ['check'],
    load: async () => {
      const m = await import('./check-command.js');
      return (p) => m.registerCheck(p);
    },
  },
  {
    names: ['apply'],
    load: async () => {
      const m = await import('./apply-command.js');
      return (p, argv) => m.registerApply(p, argv);
    },
  },
  {
    names: ['restore-last'],
    load: async () => {
      const m = await import('./restore-last-command.js');
      return (p, argv) => m.registerRestoreLast(p, argv);
    },
  },
  {
    names: ['keygen'],
    load: async () => {
      const m = await import('./keygen-command.js');
      return (p) => m.registerKeygen(p);
    },
  },
  {
    names: ['sync', 'run', '_run-config'],
    load: async () => {
      const m = await import('./agent-commands.js');
      return (p, _argv, setCode) => m.registerAgent(p, setCode);
    },
  },
  {
    names: ['status'],
    load: async () => {
      const m = await import('./status-command.js');
      return (p, _argv, setCode) => m.registerStatus(p, setCode);
    },
  },
  {
    names: ['pause', 'resume'],
    load: async () => {
      const m = await import('./pause-command.js');
      return (p) => m.registerPause(p);
    },
  },
  {
    names: ['hooks'],
    load: async () => {
      const m = await import('./hooks-command.js');
      return (p) => m.registerHooks(p);
    },
  },
  {
    names: ['diff'],
    load: async () => {
      const m = await import('./diff-command.js');
      return (p, _argv, setCode) => m.registerDiff(p, setCode);
    },
  },
  {
    names: ['verify-commits'],
    load: async () => {
      const m = await import('./verify-commits-command.js');
      return (p, _argv, setCode) => m.registerVerifyCommits(p, setCode);
    },
  },
  {
    names: ['confirm'],
    load: async () => {
      const m = await import('./probe-flags.js');
      return (p) => m.registerConfirm(p);
    },
  },
  {
    names: ['config'],
    load: async () => {
      const m = await import('./config-command.js');
      return (p) => m.registerConfig(p);
    },
  },
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
