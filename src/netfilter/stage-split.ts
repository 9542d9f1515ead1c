import type { BindingLine, LayoutChain, RenderedRuleset } from '../compiler/render-restore.js';

/**
 * Staging a large family in two scratch namespaces at once (pure: no I/O). Loading 40k rules keeps one
 * CPU busy for a second, most of it in the kernel; two namespaces load two halves side by side.
 *
 * Every rule is still loaded by the real tools into the real kernel, in its own chain, within the
 * table's whole structure: both parts declare every chain and hold every binding rule (the render's
 * RenderedRuleset.binding: the jumps and gotos, so that each chain is reached from the same hooks as
 * in the whole ruleset and loops are found as there, and the rules of modules that keep state by name
 * across rules). The other rules, which the kernel checks one by one, are shared out: the first half
 * of them, in text order, to the first part, the rest to the second. A part that refuses is not
 * reported from: the caller stages the whole ruleset, whose errors and lines are the ones it reports.
 */

/** Rules below this many in a family are staged whole: a second namespace costs more than it saves. */
export const SPLIT_MIN_RULES = 8000;

/** The ruleset with another text (a skeleton of it): without the layout and binding lines, which describe the render's own text. */
export function withText(rs: RenderedRuleset, text: string): RenderedRuleset {
  if (text === rs.text) return rs;
  const { layout: _layout, binding: _binding, ...rest } = rs;
  return { ...rest, text };
}

/** The two inputs of a split staging, and how their saves make the save of the whole. */
export interface StagingSplit {
  /** The restore inputs of the two parts, as pieces of the whole text: [start, end) offsets, in order. */
  readonly pieces: readonly [readonly Piece[], readonly Piece[]];
  /** The restore inputs of the two parts, as text. */
  readonly inputs: readonly [string, string];
  /**
   * The save of the whole ruleset from the saves of the two parts: each chain's rules in the order of
   * the whole input, taken from the part that loaded them. Undefined when the saves do not fit the
   * inputs (a line that loaded as several rules, a table or chain the input does not have): the
   * caller then saves the whole ruleset instead.
   */
  merge(saves: readonly [string, string]): string | undefined;
}

/** A piece of a text: its [start, end) offsets. */
export type Piece = readonly [number, number];

/** Where a rule line went: the first part, the second, or both. */
const FIRST = 1;
const SECOND = 2;
const BOTH = 3;

/** The split of a rendered family, or undefined when it is staged whole (too few rules, or no layout or binding lines). */
export function splitStaging(rs: RenderedRuleset, minRules = SPLIT_MIN_RULES): StagingSplit | undefined {
  const { layout, binding, text } = rs;
  if (layout === undefined || binding === undefined) return undefined;
  // Each chain's rule lines are consecutive: the blocks, in text order.
  const blocks = layout.flatMap((t) => t.chains.filter((c) => c.count > 0)).sort((a, b) => a.start - b.start);
  const rules = blocks.reduce((n, c) => n + c.count, 0);
  const spread = rules - binding.length;
  if (rules < minRules || spread < 2) return undefined;
  const cut = cutAt(text, blocks, binding, spread >> 1);
  if (cut === undefined) return undefined;
  const first: Piece[] = [[0, cut.offset], ...bindingOnly(blocks, binding, cut.offset, text.length)];
  const second: Piece[] = [...bindingOnly(blocks, binding, 0, cut.offset), [cut.offset, text.length]];
  const join = (pieces: readonly Piece[]): string => pieces.map(([from, to]) => text.slice(from, to)).join('');
  return {
    pieces: [first, second],
    get inputs(): [string, string] {
      return [join(first), join(second)];
    },
    merge: (saves) => mergeSaves(saves, layout, new Set(binding.map((b) => b.line)), cut.line),
  };
}

type Binding = readonly BindingLine[];

/** The first rule line (its number and offset) after `half` rule lines that are not binding. */
function cutAt(text: string, blocks: readonly LayoutChain[], binding: Binding, half: number): { line: number; offset: number } | undefined {
  let before = 0;
  let b = 0;
  for (const c of blocks) {
    const last = c.line + c.count;
    const from = b;
    while (b < binding.length && (binding[b] as BindingLine).line < last) b++;
    const here = c.count - (b - from);
    if (before + here <= half) {
      before += here;
      continue;
    }
    let at = c.start;
    let k = from;
    for (let line = c.line; line < last; line++) {
      if (k < b && (binding[k] as BindingLine).line === line) k++;
      else if (before === half) return { line, offset: at };
      else before++;
      at = text.indexOf('\n', at) + 1;
    }
  }
  return undefined;
}

/** The pieces of the text in [from, to) without the rule lines that are not binding: the declarations, COMMITs and binding rules. */
function bindingOnly(blocks: readonly LayoutChain[], binding: Binding, from: number, to: number): Piece[] {
  const pieces: Piece[] = [];
  let pos = from;
  let b = 0;
  for (const c of blocks) {
    // The block with its last newline.
    const start = Math.max(c.start, from);
    const end = Math.min(c.end + 1, to);
    if (start >= end) continue;
    if (start > pos) pieces.push([pos, start]);
    while (b < binding.length && (binding[b] as BindingLine).start < start) b++;
    for (; b < binding.length && (binding[b] as BindingLine).start < end; b++) {
      const line = binding[b] as BindingLine;
      pieces.push([line.start, line.end + 1]);
    }
    pos = end;
  }
  if (to > pos) pieces.push([pos, to]);
  return pieces;
}

/** A save, read: per table its lines before the rules (header, chains), its rules per chain, and the lines after them. */
interface SaveTable {
  readonly head: string[];
  readonly rules: Map<string, string[]>;
  readonly tail: string[];
}

function readSave(save: string): { lead: string[]; tables: SaveTable[] } | undefined {
  const lead: string[] = [];
  const tables: SaveTable[] = [];
  let current: SaveTable | undefined;
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) tables.push((current = { head: [line], rules: new Map(), tail: [] }));
    else if (current === undefined) lead.push(line);
    else if (line.startsWith('-A ')) {
      if (current.tail.length > 0) return undefined;
      const sp = line.indexOf(' ', 3);
      const chain = sp === -1 ? line.slice(3) : line.slice(3, sp);
      let list = current.rules.get(chain);
      if (list === undefined) current.rules.set(chain, (list = []));
      list.push(line);
    } else if (line.startsWith(':') && current.rules.size === 0 && current.tail.length === 0) current.head.push(line);
    else current.tail.push(line);
  }
  return { lead, tables };
}

function mergeSaves(
  saves: readonly [string, string],
  layout: NonNullable<RenderedRuleset['layout']>,
  binding: ReadonlySet<number>,
  cutLine: number,
): string | undefined {
  const a = readSave(saves[0]);
  const b = readSave(saves[1]);
  if (a === undefined || b === undefined || a.tables.length !== b.tables.length) return undefined;
  const chainsOf = new Map(layout.map((t) => [t.table, new Map(t.chains.map((c) => [c.name, c]))]));
  const out: string[] = [...a.lead];
  for (const [i, ta] of a.tables.entries()) {
    const tb = b.tables[i] as SaveTable;
    // The same tables and chains, declared alike, in both.
    if (tb.head.join('\n') !== ta.head.join('\n')) return undefined;
    const laid = chainsOf.get((ta.head[0] as string).slice(1));
    out.push(...ta.head);
    const names = declared(ta.head);
    for (const chain of [...ta.rules.keys(), ...tb.rules.keys()]) if (!names.includes(chain)) return undefined;
    for (const chain of names) {
      const merged = mergeChain(ta.rules.get(chain) ?? [], tb.rules.get(chain) ?? [], laid?.get(chain), binding, cutLine);
      if (merged === undefined) return undefined;
      out.push(...merged);
    }
    out.push(...ta.tail);
  }
  return out.join('\n');
}

/** One chain's rules in the whole input's order, from the two parts' saves of it. */
function mergeChain(
  ra: readonly string[],
  rb: readonly string[],
  c: LayoutChain | undefined,
  binding: ReadonlySet<number>,
  cutLine: number,
): string[] | undefined {
  const out: string[] = [];
  let ia = 0;
  let ib = 0;
  const count = c?.count ?? 0;
  for (let i = 0; i < count; i++) {
    const line = (c as LayoutChain).line + i;
    const part = binding.has(line) ? BOTH : line < cutLine ? FIRST : SECOND;
    const r = part === SECOND ? rb[ib++] : ra[ia++];
    if (r === undefined || (part === BOTH && rb[ib++] !== r)) return undefined;
    out.push(r);
  }
  return ia === ra.length && ib === rb.length ? out : undefined;
}

/** The chains a table's head declares (`:NAME POLICY [p:b]`), in order. */
function declared(head: readonly string[]): string[] {
  const names: string[] = [];
  for (const line of head) {
    if (!line.startsWith(':')) continue;
    const sp = line.indexOf(' ');
    names.push(sp === -1 ? line.slice(1) : line.slice(1, sp));
  }
  return names;
}
