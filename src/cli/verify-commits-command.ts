// `nfgit verify-commits`: judges commits with the agent's own trust code (src/git/signing/commit-trust.ts)
// against the agent's trust list, so that the pre-receive hook refuses at push time what every host
// would refuse later, and before it runs anything from the push.

import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UsageError } from '../errors/errors.js';
import type { TrustConfig } from '../git/signing/commit-trust.js';

/** Flags of `nfgit verify-commits`. */
interface VerifyFlags {
  allowedSigners?: string;
  config?: string;
  gitDir?: string;
}

/** The trust list: an allowed_signers file (signatures required), or the `trust:` section of an agent configuration. */
async function trustOf(flags: VerifyFlags): Promise<TrustConfig> {
  if (flags.allowedSigners !== undefined && flags.config !== undefined) {
    throw new UsageError('give --allowed-signers FILE or --config FILE, not both: the trust list must be one, as on the hosts');
  }
  if (flags.allowedSigners !== undefined) return { requireSignedCommits: true, allowedSigners: flags.allowedSigners, pgpKeys: [] };
  if (flags.config !== undefined) {
    const { loadConfig } = await import('../agent/config.js');
    return (await loadConfig(flags.config)).trust;
  }
  throw new UsageError(
    'no trust list: give --allowed-signers FILE (an allowed_signers file, as trust.allowedSigners) or --config FILE (an agent configuration: its trust: section is used)',
  );
}

/** The commit names of the arguments, or else of stdin, one per line (blank lines skipped). */
function commitNames(args: readonly string[]): string[] {
  if (args.length > 0) return [...args];
  return readFileSync(0, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** Registers `nfgit verify-commits`; setCode receives the exit code. */
export function registerVerifyCommits(program: Command, setCode: (n: number) => void): void {
  program
    .command('verify-commits')
    .description(
      'judge commits as the agent does before applying them (signature and signer against the trust list); exit 0 when all are trusted, ' +
        '1 when one is not, 2 on usage errors. What the pre-receive hook runs on every pushed commit before checking its rules',
    )
    .argument('[commit...]', 'commits (ids, or names git rev-parse takes); without any, read one per line from stdin')
    .option(
      '--allowed-signers <file>',
      "an allowed_signers file (git's gpg.ssh.allowedSignersFile format): commits must be signed by one of its SSH keys",
    )
    .option(
      '--config <file>',
      'an agent configuration file: its trust: section (allowedSigners, pgpKeys, requireSignedCommits) is the trust list',
    )
    .option('--git-dir <dir>', 'the repository (default: the one git finds from the environment and the current directory, as in a hook)')
    .action(async (args: string[], flags: VerifyFlags) => {
      const trust = await trustOf(flags);
      const names = commitNames(args);
      const [{ loadTrust, verifyCommit, describeVerdict }, { readRawCommits }] = await Promise.all([
        import('../git/signing/commit-trust.js'),
        import('../git/cat-file.js'),
      ]);
      const loaded = await loadTrust(trust);
      const commits = await readRawCommits(names, flags.gitDir);
      let refused = 0;
      for (const c of commits) {
        const verdict = await verifyCommit(c.content, loaded);
        const line = describeVerdict(c.oid, verdict) + '\n';
        if (verdict.trusted) process.stdout.write(line);
        else {
          process.stderr.write(line);
          refused++;
        }
      }
      setCode(refused > 0 ? 1 : 0);
    });
}
