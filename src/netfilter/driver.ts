import type { Family } from '../compiler/parse-argv.js';
import type { Backend } from './backend.js';
import type { RulesetChange } from './compare-saves.js';
import type { Target } from './target.js';

/** A restore tool's run: its exit status and error output, and whether it hung (then why it was killed). */
export interface RestoreRun {
  readonly code: number | null;
  readonly stderr: string;
  readonly hung: string | undefined;
}

/**
 * What the transaction (apply/) asks of the kernel for one family's ruleset, and all it may ask: save
 * it, check that a snapshot can be trusted, restore, put a snapshot back, compare two saves. The
 * iptables tools (xtables-driver.ts, on either backend) are the one driver there is; another (nft's
 * own syntax, say) would be a second value of this type in a folder of its own, not edits to apply/.
 */
export interface RulesetDriver {
  /** The family's ruleset as the kernel has it, with counters. */
  save(target: Target, family: Family): Promise<string>;
  /** Throws when a snapshot is not one a rollback could put back (a broken save tool). */
  checkSnapshot(target: Target, backend: Backend, family: Family, snapshot: string): Promise<void>;
  /**
   * Loads input into the family (replacing the tables it names); `counters` with the counters it holds;
   * `noflush` runs the input's commands on the tables as they are (an incremental apply).
   */
  restore(
    target: Target,
    family: Family,
    input: string,
    options?: { counters?: boolean; timeoutMs?: number | undefined; noflush?: boolean },
  ): Promise<RestoreRun>;
  /** Puts the family back on a snapshot (`current`: its save just before), and checks that it holds it. */
  rollbackRestore(
    target: Target,
    backend: Backend,
    family: Family,
    snapshot: string,
    current: string,
    timeoutMs: number | undefined,
  ): Promise<void>;
  /** What changed from one save to another. */
  compare(before: string, after: string): RulesetChange;
}
