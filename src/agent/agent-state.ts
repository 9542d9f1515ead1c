// What the agent remembers between passes, in the state directory beside the apply's own files:
// the commit this host runs and the last decision taken, so that a commit is decided once.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { writeDurable } from '../util/durable-file.js';
import { STATE_FILE } from '../util/state-layout.js';
import type { LastGood } from '../apply/state-files.js';
import { NfgitError, UsageError } from '../errors/errors.js';
import { readProblem } from '../util/read-problem.js';

/** How a commit was decided (the `Result:` of its status tag). */
export type Decision = 'applied' | 'refused' | 'rolled-back' | 'untrusted';

/** The agent's memory: agent.json in the state directory. */
export interface AgentState {
  readonly nfgitAgent: 1;
  /** The commit whose rules this host runs, and since when. */
  readonly applied: { readonly commit: string; readonly at: string } | null;
  /** The last commit decided, whatever the result; it is not decided again unless asked (sync --retry). */
  readonly decided: {
    readonly commit: string;
    readonly result: Decision;
    readonly at: string;
    readonly errors: readonly string[];
    /** The status tag's name, and false while it could not be pushed yet (a later pass pushes it). */
    readonly tag?: string;
    readonly published?: boolean;
  } | null;
}

const EMPTY: AgentState = { nfgitAgent: 1, applied: null, decided: null };

/** The prefix of LastGood.source for rulesets applied from a commit. */
export const GIT_SOURCE = 'git:';

function file(stateDir: string): string {
  return path.join(stateDir, STATE_FILE.agent);
}

const OID = /^[0-9a-f]{40}$/;

/** Why parsed JSON is not an AgentState, or null when it is one. */
function shapeProblem(v: unknown): string | null {
  if (typeof v !== 'object' || v === null) return 'it is not a JSON object';
  const o = v as Record<string, unknown>;
  if (o['nfgitAgent'] !== 1) return `it is not an nfgit agent state of version 1 (nfgitAgent is ${JSON.stringify(o['nfgitAgent'])})`;
  for (const k of ['applied', 'decided'] as const) {
    const e = o[k];
    if (e === null) continue;
    if (typeof e !== 'object' || e === undefined || !OID.test(String((e as Record<string, unknown>)['commit'])))
      return `its "${k}" is not null or an object with a full commit id`;
  }
  return null;
}

/**
 * Reads agent.json, corrected by the last good ruleset: if an apply finished (or was finished by
 * journal recovery) but the agent died before it wrote agent.json, the kernel runs the commit that
 * last-good.json names, and that is the truth. A missing file is a fresh start (the host's status
 * tags then keep nfgit from going backwards); a file that exists but cannot be read or parsed is a
 * UsageError: nfgit would not know which commit the host runs, so it decides nothing until fixed.
 */
export function readAgentState(stateDir: string, lastGood: Pick<LastGood, 'source' | 'appliedAt'> | undefined): AgentState {
  let state = EMPTY;
  const f = file(stateDir);
  const hold = (why: string, cause?: unknown): NfgitError =>
    new UsageError(
      `${f} cannot be used (${why}): nfgit does not know which commit this host runs, so it decides nothing until this is fixed. ` +
        `Restore the file from a backup, or move it away to start afresh (the host's newest signed status tag in the repository then keeps nfgit from going backwards)`,
      { cause },
    );
  let text: string | undefined;
  try {
    text = readFileSync(f, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw hold(readProblem(err), err);
  }
  if (text !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw hold(`it is not valid JSON: ${(err as Error).message}`, err);
    }
    const problem = shapeProblem(parsed);
    if (problem !== null) throw hold(problem);
    state = parsed as AgentState;
  }
  const source = lastGood?.source ?? '';
  if (source.startsWith(GIT_SOURCE)) {
    const commit = source.slice(GIT_SOURCE.length);
    if (state.applied?.commit !== commit) {
      const at = lastGood?.appliedAt ?? new Date().toISOString();
      state = { ...state, applied: { commit, at } };
      if (state.decided === null || state.decided.commit !== commit)
        state = { ...state, decided: { commit, result: 'applied', at, errors: [] } };
    }
  }
  return state;
}

/** Writes agent.json durably. */
export function writeAgentState(stateDir: string, state: AgentState): void {
  writeDurable(file(stateDir), JSON.stringify(state, null, 1) + '\n', 0o644);
}
