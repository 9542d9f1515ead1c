// `nfgit config check`: the agent's configuration and the files it names, checked without touching
// the network or the firewall (nfgit.service runs it as ExecStartPre, so a bad configuration fails
// the start with every problem at once, exit 2, instead of restarting in a loop).

import type { Command } from 'commander';
import { formatDuration } from '../agent/duration.js';
import { describeTarget } from '../netfilter/target.js';

/** The configuration file of the Debian package's unit. */
const DEFAULT_CONFIG = '/etc/nfgit/config.yaml';

/** Adds `nfgit config check`. */
export function registerConfig(program: Command): void {
  const config = program.command('config').description("the agent's configuration");
  config
    .command('check')
    .description(
      'check the configuration (every problem at once, FILE:LINE: SETTING: what is wrong) and that the files it names (signing key, trust files, token file, a local repository) can be read. Exit 0 OK, 2 a problem',
    )
    .option('--config <file>', 'the agent configuration (YAML)', DEFAULT_CONFIG)
    .action(async (flags: { config: string }) => {
      // Imported here: zod, openpgp and isomorphic-git are not loaded by the other commands.
      const { loadConfig } = await import('../agent/config.js');
      const { checkConfigFiles } = await import('../agent/config-files.js');
      const cfg = await loadConfig(flags.config);
      const { trust } = await checkConfigFiles(cfg);
      const signers = trust.allowedSigners === null ? [] : [`${trust.allowedSigners.length} allowed signer(s)`];
      const pgp = cfg.trust.pgpKeys.length === 0 ? [] : [`${trust.pgpKeys.length} OpenPGP key(s)`];
      const commits = cfg.trust.requireSignedCommits ? 'signed commits required' : 'unsigned commits accepted';
      process.stdout.write(
        `config OK: ${flags.config}: host ${cfg.host} follows ${cfg.repository.branch} of ${cfg.repository.url} (rules in ${cfg.repository.path}), ` +
          `applies to ${describeTarget(cfg.target)}, polls every ${formatDuration(cfg.poll.intervalMs)}, reconciles "${cfg.reconcile.schedule}" (${cfg.reconcile.mode}); ` +
          `signing key ${cfg.signing.key}; ${commits}, trusting ${[...signers, ...pgp].join(' and ') || 'no key'}\n`,
      );
    });
}
