import { BUILTIN_CHAINS, KNOWN_TARGETS, MAX_CHAIN_NAME, STANDARD_TARGETS } from './tables.js';
import type { Command, Family } from './parse-argv.js';
import type { SourceTrace } from '../errors/source-location.js';
import { quoteSpec, type QuotedSpec } from './quote-restore.js';

/** One rule as written: its specification (without command and chain) and where it came from. */
export interface Rule {
  readonly spec: readonly string[];
  /** The spec joined with NUL: identical spellings have identical keys. */
  readonly key: string;
  /** Index in `spec` of the `-j`/`-g` argument, or -1. */
  readonly targetIndex: number;
  readonly trace: SourceTrace;
  /** The spec quoted for restore input, when made with the rule (see makeRule). */
  readonly quoted?: QuotedSpec;
}

/** A rule whose key is computed on first use: most rules are never compared. */
class LazyRule implements Rule {
  private k: string | undefined;
  constructor(
    readonly spec: readonly string[],
    readonly targetIndex: number,
    readonly trace: SourceTrace,
    readonly quoted: QuotedSpec,
  ) {}
  get key(): string {
    return (this.k ??= this.spec.join('\0'));
  }
}

/** A chain: built-in (with a policy) or user-defined. */
export interface Chain {
  name: string;
  readonly builtin: boolean;
  policy: string | undefined;
  policyTrace: SourceTrace | undefined;
  declTrace: SourceTrace | undefined;
  rules: Rule[];
  /**
   * A chain of other software that the rules add to (DOCKER-USER, preserved): it exists without -N,
   * holds nfgit's part only, and may not be deleted or renamed by the rules.
   */
  readonly foreign?: true;
}

/** Which chains belong to other software (preserve), and the hint for one a rule names that does not. */
export interface ForeignChains {
  /** Whether a user chain name of a table is preserved: rules may add to it and jump to it. */
  readonly isForeign: (table: string, chain: string) => boolean;
  /** A hint for a chain name that does not exist but would, preserved (DOCKER-USER without @docker). */
  readonly hint: (table: string, chain: string) => string | undefined;
}

/** No chain belongs to other software. */
export const NO_FOREIGN_CHAINS: ForeignChains = { isForeign: () => false, hint: () => undefined };

/** A table of one family: its chains in creation order, and how often each name is jumped to. */
export interface Table {
  readonly name: string;
  readonly chains: Map<string, Chain>;
  readonly refs: Map<string, number>;
}

/** The outcome of applying one command: success (with an answer for -C), or what iptables would say. */
export type ApplyResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly message: string; readonly status: number }
  /** -D by a spec with no identical spelling: the caller compares canonical forms and calls deleteAt. */
  | { readonly ok: 'needs-canonical'; readonly table: Table; readonly chain: Chain };

const OK: ApplyResult = { ok: true };

/** Finds the target of a rule spec: the word after its `-j` or `-g`. */
export function findTarget(spec: readonly string[]): number {
  for (let i = 0; i < spec.length - 1; i++) {
    const t = spec[i];
    if (t === '-j' || t === '-g') return i + 1;
  }
  return -1;
}

/** The protocols' own matches, which iptables loads by itself after `-p` (so `-m tcp` may be left out). */
const PROTOCOL_MATCHES = new Set(['tcp', 'udp', 'udplite', 'sctp', 'dccp', 'icmp', 'icmp6', 'icmpv6', 'mh']);

/**
 * A loose form of a rule spec that rules out only what no spelling can make equal: the target (or
 * goto) and the explicit matches. Values are left out, since the kernel reads many spellings as one
 * (`--dport ssh` and `22`, `5/minute` and `5/min`, `/255.0.0.0` and `/8`, `2001:DB8::` and
 * `2001:db8::`, `0x0A` and `10`, MAC case), and so are options a target or match adds by default
 * (`--log-level 4`, REJECT's `--reject-with`). Equal loose keys do not prove equality: the kernel
 * decides (canonical-match.ts).
 */
export function looseKey(spec: readonly string[]): string {
  let target = '';
  const matches: string[] = [];
  for (let i = 0; i < spec.length; i++) {
    const t = spec[i] as string;
    if (t === '-j' || t === '--jump' || t === '-g' || t === '--goto')
      target = `${t.startsWith('-g') || t === '--goto' ? 'g' : 'j'} ${spec[++i] ?? ''}`;
    else if (t === '-m' || t === '--match') {
      const m = (spec[++i] ?? '').toLowerCase();
      if (!PROTOCOL_MATCHES.has(m)) matches.push(m);
    }
  }
  return `${target}\u0001${matches.sort().join('\0')}`;
}

/**
 * Makes a rule value from its spec and source. Its restore text is quoted now, while the rule files
 * still run and nfgit waits for their next records, so that rendering at the end only joins lines.
 */
export function makeRule(spec: readonly string[], trace: SourceTrace): Rule {
  return new LazyRule(spec, findTarget(spec), trace, quoteSpec(spec));
}

/**
 * The state of one address family's tables, changed one command at a time with the semantics of
 * the real iptables (1.8, nft and legacy alike), catching what it catches. Pure: no I/O.
 */
export class RulesetModel {
  readonly family: Family;
  readonly tables = new Map<string, Table>();
  private readonly targets: ReadonlySet<string>;

  private readonly foreign: ForeignChains;

  constructor(family: Family, extraTargets: Iterable<string> = [], foreign: ForeignChains = NO_FOREIGN_CHAINS) {
    this.family = family;
    this.foreign = foreign;
    this.targets = new Set([...KNOWN_TARGETS, ...extraTargets]);
  }

  /** The table, created with its built-in chains on first use (as the kernel does). */
  table(name: string): Table | undefined {
    let t = this.tables.get(name);
    if (t !== undefined) return t;
    const builtins = BUILTIN_CHAINS[name];
    if (builtins === undefined) return undefined;
    t = { name, chains: new Map(), refs: new Map() };
    for (const c of builtins) {
      t.chains.set(c, { name: c, builtin: true, policy: undefined, policyTrace: undefined, declTrace: undefined, rules: [] });
    }
    this.tables.set(name, t);
    return t;
  }

  /** Applies one parsed command. */
  apply(tableName: string, cmd: Command, trace: SourceTrace): ApplyResult {
    if (cmd.op === 'list') {
      return this.fail(`cannot list rules (${cmd.flag}) in a rule file: rule files are compiled, not run against a live firewall`, 2);
    }
    const table = this.table(tableName);
    if (table === undefined) {
      return this.fail(`unknown table "${tableName}"; the tables are filter, nat, mangle, raw and security`, 3);
    }
    switch (cmd.op) {
      case 'append':
      case 'insert':
      case 'replace': {
        const chain = this.existing(table, cmd.chain);
        if (typeof chain === 'string') return this.fail(chain, 1);
        const rule = makeRule(cmd.spec, trace);
        const bad = this.checkTarget(table, rule);
        if (bad !== undefined) return this.fail(bad, 2);
        if (cmd.op === 'append') {
          chain.rules.push(rule);
        } else if (cmd.op === 'insert') {
          if (cmd.index < 1 || cmd.index > chain.rules.length + 1) {
            return this.fail(
              `insert position ${cmd.index} is out of range: chain ${chain.name} has ${chain.rules.length} rule(s), so use 1 to ${chain.rules.length + 1}`,
              1,
            );
          }
          chain.rules.splice(cmd.index - 1, 0, rule);
        } else {
          if (cmd.index < 1 || cmd.index > chain.rules.length) {
            return this.fail(
              `rule number ${cmd.index} to replace is out of range: chain ${chain.name} has ${chain.rules.length} rule(s)`,
              1,
            );
          }
          this.unref(table, chain.rules[cmd.index - 1] as Rule);
          chain.rules[cmd.index - 1] = rule;
        }
        this.ref(table, rule);
        return OK;
      }
      case 'delete': {
        const chain = this.existing(table, cmd.chain);
        if (typeof chain === 'string') return this.fail(chain, 1);
        if (cmd.index < 1 || cmd.index > chain.rules.length) {
          return this.fail(`rule number ${cmd.index} to delete is out of range: chain ${chain.name} has ${chain.rules.length} rule(s)`, 1);
        }
        this.deleteAt(table, chain, cmd.index - 1);
        return OK;
      }
      case 'delete-spec':
      case 'check': {
        const chain = this.existing(table, cmd.chain);
        if (typeof chain === 'string') return this.fail(chain, 1);
        const probe = makeRule(cmd.spec, trace);
        const bad = this.checkTarget(table, probe);
        if (bad !== undefined) return this.fail(bad, 2);
        const idx = chain.rules.findIndex((r) => r.key === probe.key);
        if (idx >= 0) {
          if (cmd.op === 'delete-spec') this.deleteAt(table, chain, idx);
          return OK;
        }
        if (cmd.op === 'check') {
          // Only a rule that could be the same in canonical form is worth asking the kernel about.
          const loose = looseKey(probe.spec);
          if (chain.rules.some((r) => looseKey(r.spec) === loose)) return { ok: 'needs-canonical', table, chain };
          return { ok: false, status: 1, message: `Bad rule (does a matching rule exist in that chain?).` };
        }
        return { ok: 'needs-canonical', table, chain };
      }
      case 'new-chain': {
        const bad = this.badChainName(cmd.chain);
        if (bad !== undefined) return this.fail(bad, 2);
        if (table.chains.has(cmd.chain)) return this.fail(`chain "${cmd.chain}" already exists in table ${table.name}`, 1);
        table.chains.set(cmd.chain, {
          name: cmd.chain,
          builtin: false,
          policy: undefined,
          policyTrace: undefined,
          declTrace: trace,
          rules: [],
        });
        return OK;
      }
      case 'delete-chain': {
        if (cmd.chain === undefined) {
          // The chains of other software are not the rules' to delete: only nfgit's part of them goes (-F).
          for (const c of table.chains.values()) {
            if (c.builtin || c.foreign === true) continue;
            const why = this.whyNotDeletable(table, c);
            if (why !== undefined) return this.fail(`cannot delete all user chains of table ${table.name} (-X): ${why}`, 1);
          }
          for (const c of [...table.chains.values()]) if (!c.builtin && c.foreign !== true) table.chains.delete(c.name);
          return OK;
        }
        const chain = this.existing(table, cmd.chain);
        if (typeof chain === 'string') return this.fail(chain, 1);
        if (chain.builtin) return this.fail(`chain ${chain.name} is a built-in chain of table ${table.name} and cannot be deleted`, 1);
        const why = this.whyNotDeletable(table, chain);
        if (why !== undefined) return this.fail(`cannot delete ${why}`, 1);
        table.chains.delete(chain.name);
        return OK;
      }
      case 'flush': {
        const chains = cmd.chain === undefined ? [...table.chains.values()] : [this.existing(table, cmd.chain)];
        for (const c of chains) {
          if (typeof c === 'string') return this.fail(c, 1);
          for (const r of c.rules) this.unref(table, r);
          c.rules = [];
        }
        return OK;
      }
      case 'zero': {
        if (cmd.chain !== undefined) {
          const chain = this.existing(table, cmd.chain);
          if (typeof chain === 'string') return this.fail(chain, 1);
        }
        return OK; // counters are not part of the ruleset nfgit renders
      }
      case 'rename': {
        const chain = this.existing(table, cmd.chain);
        if (typeof chain === 'string') return this.fail(chain, 1);
        if (chain.builtin) return this.fail(`chain ${chain.name} is a built-in chain of table ${table.name} and cannot be renamed`, 1);
        const bad = this.badChainName(cmd.newName);
        if (bad !== undefined) return this.fail(bad, 2);
        if (table.chains.has(cmd.newName))
          return this.fail(`cannot rename ${chain.name}: chain "${cmd.newName}" already exists in table ${table.name}`, 1);
        this.renameChain(table, chain, cmd.newName);
        return OK;
      }
      case 'policy': {
        const chain = this.existing(table, cmd.chain);
        if (typeof chain === 'string') return this.fail(chain, 1);
        if (!chain.builtin)
          return this.fail(
            `cannot set a policy on ${chain.name}: policies are for built-in chains only (${table.name} has ${(BUILTIN_CHAINS[table.name] ?? []).join(', ')})`,
            1,
          );
        if (cmd.target !== 'ACCEPT' && cmd.target !== 'DROP')
          return this.fail(`bad policy "${cmd.target}" for chain ${chain.name}: a policy must be ACCEPT or DROP`, 1);
        if (table.name === 'nat' && cmd.target === 'DROP') {
          return this.fail(
            `the nat table is not for filtering, so iptables refuses a DROP policy on ${chain.name}: filter in the filter table instead`,
            2,
          );
        }
        chain.policy = cmd.target;
        chain.policyTrace = trace;
        return OK;
      }
    }
  }

  /** Deletes the rule at a 0-based index (used after a canonical-form match). */
  deleteAt(table: Table, chain: Chain, index: number): void {
    const [removed] = chain.rules.splice(index, 1);
    if (removed !== undefined) this.unref(table, removed);
  }

  private fail(message: string, status: number): ApplyResult {
    return { ok: false, message, status };
  }

  private existing(table: Table, name: string): Chain | string {
    const c = table.chains.get(name) ?? this.foreignChain(table, name);
    if (c !== undefined) return c;
    const hint = this.foreign.hint(table.name, name);
    return `chain "${name}" does not exist in table ${table.name}; ${hint ?? 'create it with -N before using it'}`;
  }

  /**
   * A preserved chain of other software, made known to the model the first time a rule file names it
   * (it exists on the host, made by its owner, not by -N). Undefined for a name that is not preserved.
   */
  foreignChain(table: Table, name: string): Chain | undefined {
    if (!this.foreign.isForeign(table.name, name)) return undefined;
    const chain: Chain = {
      name,
      builtin: false,
      policy: undefined,
      policyTrace: undefined,
      declTrace: undefined,
      rules: [],
      foreign: true,
    };
    table.chains.set(name, chain);
    return chain;
  }

  private badChainName(name: string): string | undefined {
    if (name.length > MAX_CHAIN_NAME) return `chain name "${name}" is too long: ${name.length} characters, at most ${MAX_CHAIN_NAME}`;
    if (name === '') return 'the chain name is empty';
    if (name.startsWith('-')) return `chain name "${name}" must not start with "-"`;
    if (/[\s]/.test(name)) return `chain name "${name}" must not contain spaces`;
    if (name === '!') return 'chain name "!" is not allowed';
    if (STANDARD_TARGETS.has(name) || this.targets.has(name))
      return `chain name "${name}" clashes with the target of the same name; choose another name`;
    return undefined;
  }

  private checkTarget(table: Table, rule: Rule): string | undefined {
    if (rule.targetIndex < 0) return undefined;
    const t = rule.spec[rule.targetIndex] as string;
    if (table.chains.has(t) || STANDARD_TARGETS.has(t) || this.targets.has(t) || this.foreignChain(table, t) !== undefined)
      return undefined;
    const hint = this.foreign.hint(table.name, t);
    return `jump to chain "${t}", which does not exist in table ${table.name} at this point; ${hint ?? 'create it with -N first (or check the spelling of the target)'}`;
  }

  private whyNotDeletable(table: Table, chain: Chain): string | undefined {
    const refs = table.refs.get(chain.name) ?? 0;
    if (refs > 0) return `chain "${chain.name}": it is still referenced by ${refs} rule(s) that jump to it`;
    if (chain.rules.length > 0) return `chain "${chain.name}": it is not empty (${chain.rules.length} rule(s)); flush it with -F first`;
    return undefined;
  }

  private ref(table: Table, rule: Rule): void {
    if (rule.targetIndex < 0) return;
    const t = rule.spec[rule.targetIndex] as string;
    const c = table.chains.get(t);
    if (c !== undefined && !c.builtin) table.refs.set(t, (table.refs.get(t) ?? 0) + 1);
  }

  private unref(table: Table, rule: Rule): void {
    if (rule.targetIndex < 0) return;
    const t = rule.spec[rule.targetIndex] as string;
    const n = table.refs.get(t);
    if (n === undefined) return;
    if (n <= 1) table.refs.delete(t);
    else table.refs.set(t, n - 1);
  }

  /** Renames a chain in place, keeping its position, and rewrites every jump to it (the kernel refers by handle). */
  private renameChain(table: Table, chain: Chain, newName: string): void {
    const oldName = chain.name;
    const entries = [...table.chains.entries()];
    table.chains.clear();
    for (const [k, v] of entries) table.chains.set(k === oldName ? newName : k, v);
    chain.name = newName;
    const refs = table.refs.get(oldName);
    if (refs === undefined) return;
    table.refs.delete(oldName);
    table.refs.set(newName, refs);
    for (const c of table.chains.values()) {
      c.rules = c.rules.map((r) => {
        if (r.targetIndex < 0 || r.spec[r.targetIndex] !== oldName) return r;
        const spec = [...r.spec];
        spec[r.targetIndex] = newName;
        return makeRule(spec, r.trace);
      });
    }
  }
}
