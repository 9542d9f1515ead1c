// What the compiler asks of the kernel, as parameters (issue 12): the compiler is the pure core and
// its rule-file runner; the kernel edge (netfilter/kernel-services.ts) provides these on a real host.
import type { Family } from './parse-argv.js';
import type { Chain, Table } from './ruleset-model.js';

/** Finds, by the kernel's canonical form, the first rule of a chain equal to a spec; -1 when none. */
export type CanonicalMatcher = (family: Family, table: Table, chain: Chain, spec: readonly string[]) => Promise<number>;

/** What the rule files built so far, loaded for a query: the sets, and one family's restore input. */
export interface QueryState {
  readonly ipsets: string;
  readonly restore: { readonly tool: string; readonly text: string } | undefined;
}

/** A query tool's answer: its exit status and output, as the rule file sees them. */
export interface QueryResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The kernel services a compile needs. */
export interface KernelServices {
  /** -D and -C by a spec spelt differently from the rule: the kernel's canonical form decides. */
  readonly canonical: CanonicalMatcher;
  /** The tables the kernel has, per family (rendered even when unused, so a restore empties them). */
  readonly tables: () => Promise<Readonly<Record<Family, readonly string[]>>>;
  /** Targets installed beyond the built-in ones (xtables extensions), which rules may name. */
  readonly targets: () => Promise<ReadonlySet<string>>;
  /** A query from a rule file (`iptables -L`, `iptables-save`, `ipset list`) answered by the real tool. */
  readonly query: (state: QueryState, argv: readonly string[]) => Promise<QueryResult>;
}
