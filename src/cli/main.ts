#!/usr/bin/env node
// nfgit's entry point. `nfgit run` stays resident, so it loads only the small daemon (run-command.ts;
// issue 15: the full command line and its modules cost tens of MiB for as long as it runs); every
// other command loads the command line (program.ts).
if (process.argv[2] === 'run') await import('./run-command.js');
else await import('./program.js');
