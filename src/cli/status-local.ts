// `nfgit status --local`: reads the state directory (agent.json, agent-status.json, pause.json) and
// prints what the agent on this host is doing. No clone, no network.

import { accessSync, constants, existsSync } from 'node:fs';
import { SandboxError, UsageError } from '../errors/errors.js';
import { readAgentState } from '../agent/agent-state.js';
import { localStatus, renderLocalStatus } from '../agent/local-status.js';
import { readPassRecord } from '../agent/pass-record.js';
import { readPause } from '../agent/pause.js';
import { StateDir } from '../apply/state-files.js';
import { resolveStateDir, type StateDirFlags } from './state-dir-flags.js';

/** Prints the local status; returns the exit code (0). */
export async function localStatusCommand(flags: StateDirFlags & { json?: boolean }): Promise<number> {
  const { stateDir, config } = await resolveStateDir(flags);
  if (!existsSync(stateDir))
    throw new UsageError(`the state directory ${stateDir} does not exist: give the agent's with --state-dir or --config`);
  try {
    accessSync(stateDir, constants.R_OK | constants.X_OK);
  } catch {
    throw new SandboxError(
      `cannot read the state directory ${stateDir} (permission denied): run it as root, for example sudo nfgit status --local`,
    );
  }
  const now = new Date();
  const st = localStatus({
    stateDir,
    host: config?.host ?? null,
    pin: config?.pin ?? null,
    agent: readAgentState(stateDir, new StateDir(stateDir).readLastGood()),
    record: readPassRecord(stateDir),
    pause: readPause(stateDir),
    now,
  });
  process.stdout.write(flags.json === true ? JSON.stringify(st, null, 2) + '\n' : renderLocalStatus(st, now));
  return 0;
}
