import type { Command } from 'commander';
import type { StatusFlags } from './status-run.js';

/** Adds `nfgit status`: the fleet view from status tags, with signatures verified. */
export function registerStatus(program: Command, setCode: (n: number) => void): void {
  program
    .command('status')
    .description('show, for each host, the commit it runs and its last decision, from the signed status tags (nfgit/HOST/COMMIT)')
    .option(
      '--repo <url|path>',
      'rules repository: an http(s) URL (fetched into a temporary directory) or a local clone or bare repository (default: the repository containing the current directory)',
    )
    .option('--branch <name>', 'the branch the hosts follow', 'main')
    .option('--json', 'print the fleet view as JSON on stdout')
    .option(
      '--allowed-signers <file>',
      "allowed_signers file with the hosts' keys (default: the repository's gpg.ssh.allowedSignersFile; without either, signatures are not checked)",
    )
    .option('--token-file <file>', 'token (or USER:TOKEN) for an https --repo')
    .action(async (flags: StatusFlags) => {
      const { status } = await import('./status-run.js');
      setCode(await status(flags));
    });
}
