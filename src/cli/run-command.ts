// `nfgit run` without the command line's parser (commander) and modules: its flags are read by
// run-args.ts, and anything that reader does not take exactly (help, a flag it does not know, a bad
// value) is handed to the full command line (program.ts), which says what is wrong as for every
// command, or runs it.

import { parseRunArgs } from './run-args.js';
import { runDaemon } from './run-daemon.js';

const flags = parseRunArgs(process.argv.slice(3));
if (flags === undefined) await import('./program.js');
else process.exitCode = await runDaemon(flags);
