import { BUILTIN_CHAINS, TABLE_ORDER } from './tables.js';
import { MAX_ARGS, MAX_LINE_LENGTH, quoteSpec, type QuotedSpec } from './quote-restore.js';
import type { RulesetModel, Table, Chain } from './ruleset-model.js';
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
}

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
  const push = (line: string, trace?: SourceTrace): void => {
    out.push(line);
    if (trace !== undefined && trace.length > 0) sourceMap.set(out.length, trace);
  };
  const order = [...tables, ...[...model.tables.keys()].filter((t) => !tables.includes(t))];
  for (const name of order) {
    const table: Table | undefined = model.tables.get(name);
    const header = out.length + 1;
    push(`*${name}`);
    const builtins = BUILTIN_CHAINS[name] ?? [];
    const chains: Chain[] = table === undefined ? [] : [...table.chains.values()];
    for (const b of builtins) {
      const c = table?.chains.get(b);
      push(`:${b} ${c?.policy ?? 'ACCEPT'} [0:0]`, c?.policyTrace);
    }
    for (const c of chains) {
      if (c.builtin) continue;
      chainCount++;
      push(`:${c.name} - [0:0]`, c.declTrace);
    }
    for (const c of chains) {
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
      }
    }
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
  };
}
