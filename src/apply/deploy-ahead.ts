// What an apply starts while the rule files run, so that it is there when the compile ends: on our
// VMs a spawn after the compile forks a process of several hundred megabytes (8-10 ms of the main
// thread) and `ip netns exec` takes 10-20 ms more before the tool runs, one after another on the
// apply's path; while the shell runs the rule files, nfgit's process is small and mostly waits.

import { startGenerationReader, type GenerationReader } from '../netfilter/generation.js';
import { startTargetShells, type Target } from '../netfilter/target.js';
import { startScratchShells } from '../util/sandbox.js';
import { startLockShells } from './state-lock.js';
import { reserveBytes } from '../util/text-bytes.js';
import { STATE_FILE } from '../util/state-layout.js';
import { readStateFile } from '../util/state-security.js';
import { statSync } from 'node:fs';
import path from 'node:path';

/** Shells started ahead in the target for host commands, at most (more run as usual). */
const HOST_COMMANDS_AHEAD = 2;

/** What deploy starts ahead, and ends. */
export interface Ahead {
  /** Starts it all (once; the shell may run the rule files twice, fast then exact). */
  start(): void;
  /** Reads the target's generation through a reader started ahead (or started when first asked). */
  readonly generations: GenerationReader;
  /** Adds work to do when the deploy ends (removing what was written ahead and not used). */
  atRelease(fn: () => Promise<void>): void;
  /** Ends what was not used, and does the work added. */
  release(): Promise<void>;
}

/**
 * Staging's namespaces and shells (sandbox.ts startScratchShells), one a family and one more for a
 * family split in two (stage-split.ts); shells in the target for its restore tools and first host
 * commands, as many as the last apply ran (target.ts startTargetShells); the lock processes
 * (state-lock.ts startLockShells); a reader of the target's generation (generation.ts); memory in
 * place for the texts it will encode (text-bytes.ts reserveBytes), a quarter more than the last
 * apply's files.
 */
export function startAhead(target: Target, families: number, stateDir: string): Ahead {
  let shells: ReturnType<typeof startScratchShells> | undefined;
  let targetShells: ReturnType<typeof startTargetShells> | undefined;
  let lockShells: ReturnType<typeof startLockShells> | undefined;
  let reader: GenerationReader | undefined;
  let reserved = false;
  const atEnd: Array<() => Promise<void>> = [];
  const generations: GenerationReader = {
    read: (backend) => (reader ??= startGenerationReader(target)).read(backend),
    close: () => reader?.close(),
  };
  return {
    start: () => {
      shells ??= startScratchShells(families + 1);
      targetShells ??= startTargetShells(target, families + hostCommandsAhead(stateDir));
      lockShells ??= startLockShells();
      reader ??= startGenerationReader(target);
      if (!reserved) reserveBytes(Math.ceil(recordedBytes(stateDir) * 1.25));
      reserved = true;
    },
    generations,
    atRelease: (fn) => void atEnd.push(fn),
    release: async () => {
      shells?.release();
      targetShells?.release();
      lockShells?.release();
      generations.close();
      for (const fn of atEnd.splice(0)) await fn().catch(() => {});
    },
  };
}

/**
 * How many shells to start for host commands: as many as the last apply ran (a ruleset seldom
 * changes them), up to HOST_COMMANDS_AHEAD; that many without a record. A guess only: the record
 * is read as a state file (readStateFile's checks) and as JSON, not checked against its schema (the
 * apply reads it as usual).
 */
export function hostCommandsAhead(stateDir: string): number {
  let record: unknown;
  try {
    const read = readStateFile(path.join(stateDir, STATE_FILE.lastGood));
    if (!read.exists) return HOST_COMMANDS_AHEAD;
    record = JSON.parse(read.text);
  } catch {
    return HOST_COMMANDS_AHEAD;
  }
  const commands = typeof record === 'object' && record !== null ? (record as { hostCommands?: unknown }).hostCommands : undefined;
  return Array.isArray(commands) ? Math.min(commands.length, HOST_COMMANDS_AHEAD) : HOST_COMMANDS_AHEAD;
}

/**
 * The bytes of the last apply's rulesets, canonical forms and plan, as the state directory holds them:
 * about what an apply encodes after its compile (the new ones; the recorded ones are hashed from the
 * bytes read). 0 without a record.
 */
function recordedBytes(stateDir: string): number {
  const names = [...Object.values(STATE_FILE.rulesCopy), STATE_FILE.canonical.ipv4, STATE_FILE.canonical.ipv6, STATE_FILE.plan];
  let total = 0;
  for (const name of names) {
    try {
      total += statSync(path.join(stateDir, name)).size;
    } catch {
      // not there: nothing to count
    }
  }
  return total;
}
