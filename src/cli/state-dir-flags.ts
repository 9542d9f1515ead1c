// The state directory of the commands that read or change the agent's state on this host without
// a pass (pause, resume, status --local): --state-dir, or the stateDir of --config, or the default.

import type { Command } from 'commander';
import { DEFAULT_STATE_DIR } from '../util/state-layout.js';
import { UsageError } from '../errors/errors.js';
import type { AgentConfig } from '../agent/config.js';

/** The flags. */
export interface StateDirFlags {
  stateDir?: string;
  config?: string;
}

/** Adds --state-dir and --config. */
export function withStateDirFlags(cmd: Command): Command {
  return cmd
    .option('--state-dir <dir>', `the agent's state directory (default: the stateDir of --config, else ${DEFAULT_STATE_DIR})`)
    .option('--config <file>', 'the agent configuration, for its stateDir (and, for status --local, its pin and host)');
}

/** The state directory, and the configuration when --config was given. */
export async function resolveStateDir(flags: StateDirFlags): Promise<{ stateDir: string; config: AgentConfig | null }> {
  if (flags.stateDir !== undefined && flags.config !== undefined)
    throw new UsageError('give --state-dir or --config, not both (the configuration names its state directory)');
  if (flags.config !== undefined) {
    const { loadConfig } = await import('../agent/config.js');
    const config = await loadConfig(flags.config);
    return { stateDir: config.stateDir, config };
  }
  return { stateDir: flags.stateDir ?? DEFAULT_STATE_DIR, config: null };
}
