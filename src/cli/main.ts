#!/usr/bin/env node
// nfgit's entry point. `nfgit run` stays resident, so it loads only the small daemon (run-command.ts;
// issue 15: the full command line and its modules cost tens of MiB for as long as it runs); each of
// its passes that may act runs `nfgit _run-pass` (run-pass-command.ts), also without the command line;
// every other command loads the command line (program.ts).
const command = process.argv[2];
if (command === 'run') await import('./run-command.js');
else if (command === '_run-pass') await import('./run-pass-command.js');
else await import('./program.js');
