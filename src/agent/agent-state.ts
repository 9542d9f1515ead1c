// What the agent remembers between passes, in the state directory beside the apply's own files:
// the commit this host runs and the last decision taken, so that a commit is decided once.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { writeDurable } from '../apply/durable-file.js';
import type { LastGood } from '../apply/state-files.js';

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
  return path.join(stateDir, 'agent.json');
}

/**
 * Reads agent.json, corrected by the last good ruleset: if an apply finished (or was finished by
 * journal recovery) but the agent died before it wrote agent.json, the kernel runs the commit that
 * last-good.json names, and that is the truth.
 */
export function readAgentState(stateDir: string, lastGood: LastGood | undefined): AgentState {
  let state = EMPTY;
  try {
    const parsed = JSON.parse(readFileSync(file(stateDir), 'utf8')) as AgentState;
    if (parsed.nfgitAgent === 1) state = parsed;
  } catch {
    // missing or unreadable: start from what last-good.json says
  }
  const source = lastGood?.source ?? '';
  if (source.startsWith(GIT_SOURCE)) {
    const commit = source.slice(GIT_SOURCE.length);
    if (state.applied?.commit !== commit) {
      const at = lastGood?.appliedAt ?? new Date().toISOString();
      state = { ...state, applied: { commit, at } };
      if (state.decided === null || state.decided.commit !== commit) state = { ...state, decided: { commit, result: 'applied', at, errors: [] } };
    }
  }
  return state;
}

/** Writes agent.json durably. */
export function writeAgentState(stateDir: string, state: AgentState): void {
  writeDurable(file(stateDir), JSON.stringify(state, null, 1) + '\n', 0o644);
}
