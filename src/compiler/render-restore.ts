import { BUILTIN_CHAINS, TABLE_ORDER } from './tables.js';
import { MAX_ARGS, MAX_LINE_LENGTH, quoteSpec, type QuotedSpec } from './quote-restore.js';
import type { RulesetModel, Table, Chain, Rule } from './ruleset-model.js';
import type { SourceTrace } from '../errors/source-location.js';

/** One problem found while rendering: a rule the restore parser cannot carry. */
export interface RenderProblem {
  readonly message: string;
  readonly trace: SourceTrace;
}

/** Restore input for one family, with the source of every line that has one (1-based line numbers). */
export interface RenderedRuleset {
  readonly text: string;
  /** `sourceMap.get(line)` is the call chain that produced that line. */
  readonly sourceMap: ReadonlyMap<number, SourceTrace>;
  /** For each table, the line of its `*table` header and of its COMMIT. */
  readonly tableLines: ReadonlyMap<string, { header: number; commit: number }>;
  readonly ruleCount: number;
  readonly chainCount: number;
  /** Tables that the rule files used (the others are rendered empty so that restore flushes them). */
  readonly usedTables: readonly string[];
  readonly problems: readonly RenderProblem[];
  /**
   * Where the chains are in `text`, as a scan of it would find them (netfilter/increment.ts): planning
   * an incremental apply then does not scan the 4 MB text of 50k rules again. Absent where a scan could
   * find otherwise (a chain name with a blank, a table twice).
   */
  readonly layout?: RenderLayout;
  /**
   * The rule lines other rules depend on, in text order: a jump or goto to a chain of the same table
   * (it decides from which hooks that chain is reached, and whether the chains loop), or a module that
   * keeps state by name across rules (BINDING_MODULES). A staging split in parts keeps them in every
   * part (netfilter/stage-split.ts); every other rule the kernel checks on its own, in its chain.
   * Absent, like the layout, from a ruleset whose text is not the render's own (stage-split.ts withText).
   */
  readonly binding?: readonly BindingLine[];
}

/** A rule line of RenderedRuleset.binding: its number, and its offsets in the text (end: before its newline). */
export interface BindingLine {
  readonly line: number;
  readonly start: number;
  readonly end: number;
}

/**
 * Matches and targets (lowercased) whose rules depend on each other by name: `-m rateest` needs a
 * RATEEST rule's estimator, IDLETIMER refuses a second timer type under one label, recent and
 * hashlimit share their tables by name, LED its trigger.
 */
export const BINDING_MODULES: ReadonlySet<string> = new Set(['recent', 'hashlimit', 'rateest', 'idletimer', 'led']);

/**
 * Whether a rule is binding (RenderedRuleset.binding): its target (`-j`/`-g`, as parse-argv spells
 * them) is a chain of its table, or it uses a module of BINDING_MODULES (`-m NAME` or `-j NAME`).
 */
function isBinding(rule: Rule, table: Table | undefined): boolean {
  const spec = rule.spec;
  const target = rule.targetIndex >= 0 ? spec[rule.targetIndex] : undefined;
  if (target !== undefined && table?.chains.has(target) === true) return true;
  for (let i = 0; i < spec.length - 1; i++) {
    const w = spec[i];
    if ((w === '-m' || w === '-j') && BINDING_MODULES.has((spec[i + 1] as string).toLowerCase())) return true;
  }
  return false;
}

/** The last line pushed to `out`, which ends (before its newline) at `pos - 1`, as a BindingLine. */
function lastLine(out: readonly string[], pos: number): BindingLine {
  const end = pos - 1;
  return { line: out.length, start: end - (out[out.length - 1] as string).length, end };
}

/** One chain of a RenderLayout: its policy (`-` for a user chain) and its rule lines, which are consecutive. */
export interface LayoutChain {
  readonly name: string;
  readonly policy: string;
  /** Offsets in the text of its first rule line's start and its last rule line's end (before the newline). */
  readonly start: number;
  readonly end: number;
  /** The number of its first rule line, and how many rule lines it has (0: start, end and line mean nothing). */
  readonly line: number;
  readonly count: number;
}

/** Per table, in the text's order: its chains in the order they are first named (declared, or a first rule). */
export type RenderLayout = ReadonlyArray<{ readonly table: string; readonly chains: readonly LayoutChain[] }>;

/** Renders the restore line of one rule (`-A CHAIN spec…`), from its spec quoted beforehand when given. */
export function renderRuleLine(
  chain: string,
  spec: readonly string[],
  quoted: QuotedSpec = quoteSpec(spec),
): { ok: true; text: string } | { ok: false; message: string } {
  if (spec.length + 2 > MAX_ARGS) {
    return { ok: false, message: `rule has ${spec.length + 2} arguments; iptables-restore accepts at most ${MAX_ARGS} in one rule` };
  }
  if (!quoted.ok) return quoted;
  const text = spec.length === 0 ? `-A ${chain}` : `-A ${chain} ${quoted.text}`;
  if (text.length * 3 >= MAX_LINE_LENGTH && Buffer.byteLength(text, 'utf8') >= MAX_LINE_LENGTH) {
    return {
      ok: false,
      message: `rule line is ${Buffer.byteLength(text, 'utf8')} bytes long; iptables-restore reads at most ${MAX_LINE_LENGTH - 1}`,
    };
  }
  return { ok: true, text };
}

/**
 * Renders the final state of a family (not a replay of the calls): for every table, its built-in chains
 * with their policies, `:CHAIN - [0:0]` for user chains, then the rules. Every table in `tables` gets a
 * block, empty when unused, so that restoring flushes what the rules no longer use.
 */
export function renderRestore(model: RulesetModel, tables: readonly string[] = TABLE_ORDER): RenderedRuleset {
  const out: string[] = [];
  const sourceMap = new Map<number, SourceTrace>();
  const tableLines = new Map<string, { header: number; commit: number }>();
  const problems: RenderProblem[] = [];
  let ruleCount = 0;
  let chainCount = 0;
  // The offset where the next line starts (for the layout).
  let pos = 0;
  const push = (line: string, trace?: SourceTrace): void => {
    out.push(line);
    pos += line.length + 1;
    if (trace !== undefined && trace.length > 0) sourceMap.set(out.length, trace);
  };
  const layout: Array<{ table: string; chains: LayoutChain[] }> = [];
  const binding: BindingLine[] = [];
  let exact = true;
  const order = [...tables, ...[...model.tables.keys()].filter((t) => !tables.includes(t))];
  for (const name of order) {
    const table: Table | undefined = model.tables.get(name);
    const header = out.length + 1;
    push(`*${name}`);
    const builtins = BUILTIN_CHAINS[name] ?? [];
    const chains: Chain[] = table === undefined ? [] : [...table.chains.values()];
    if (layout.some((l) => l.table === name)) exact = false;
    const laid = new Map<string, LayoutChain>();
    for (const b of builtins) {
      const c = table?.chains.get(b);
      const policy = c?.policy ?? 'ACCEPT';
      push(`:${b} ${policy} [0:0]`, c?.policyTrace);
      laid.set(b, { name: b, policy, start: 0, end: 0, line: 0, count: 0 });
    }
    for (const c of chains) {
      if (c.builtin) continue;
      chainCount++;
      push(`:${c.name} - [0:0]`, c.declTrace);
      laid.set(c.name, { name: c.name, policy: '-', start: 0, end: 0, line: 0, count: 0 });
    }
    for (const c of chains) {
      if (/[ \n]/.test(c.name)) exact = false;
      const start = pos;
      const line = out.length + 1;
      const before = out.length;
      // renderRuleLine's checks, inline, with the chain's prefix made once: 50k rules at the end of a compile.
      const prefix = `-A ${c.name} `;
      for (const r of c.rules) {
        const quoted = r.quoted;
        const text = quoted?.ok === true && r.spec.length > 0 && r.spec.length + 2 <= MAX_ARGS ? prefix + quoted.text : undefined;
        if (text === undefined || text.length * 3 >= MAX_LINE_LENGTH) {
          const line = renderRuleLine(c.name, r.spec, r.quoted);
          if (!line.ok) {
            problems.push({ message: line.message, trace: r.trace });
            continue;
          }
          push(line.text, r.trace);
        } else push(text, r.trace);
        ruleCount++;
        if (isBinding(r, table)) binding.push(lastLine(out, pos));
      }
      const count = out.length - before;
      if (count > 0) laid.set(c.name, { name: c.name, policy: laid.get(c.name)?.policy ?? '-', start, end: pos - 1, line, count });
    }
    layout.push({ table: name, chains: [...laid.values()] });
    push('COMMIT');
    tableLines.set(name, { header, commit: out.length });
  }
  // The final newline joined in (a `+ '\n'` would make the 4 MB text of 50k rules a pair of strings,
  // copied into one by whatever reads it first: the hash, a comparison).
  out.push('');
  return {
    text: out.join('\n'),
    sourceMap,
    tableLines,
    ruleCount,
    chainCount,
    usedTables: [...model.tables.keys()],
    problems,
    ...(exact ? { layout } : {}),
    binding,
  };
}
