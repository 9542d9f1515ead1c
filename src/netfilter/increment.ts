// Incremental apply, the pure part. After an apply nfgit knows the restore input it loaded (last-good's
// text) and the kernel's canonical form of it (canonical.v4/.v6). When the live ruleset is still that
// canonical form, a new ruleset can be applied as the difference: per table, `-D`/`-I`/`-R`/`-N`/`-X`/
// `-P`/`-F` commands for one `iptables-restore --noflush`, which leaves every unchanged rule (and its
// counters) alone.
//
// Two steps. planIncrement (before staging) compares the old and new restore input chain by chain and
// writes the skeleton to stage: the new input with every rule line that staging does not need turned
// into `#` (line numbers, so FILE:LINE, stay). It keeps the new and changed rules, every jump to a user
// chain (so each chain is reached from the same hooks as in the whole ruleset: the kernel checks a rule
// against the hooks its chain is reached from), and every rule of a chain whose jumps changed; all
// chains are declared and the sets are loaded first, so each kept rule is checked in its context.
// finishIncrement (under the lock, once staging saved the skeleton back) proves that the live ruleset is
// the recorded one, maps the old input onto it rule for rule, and writes the script and the canonical
// form the family will have. Anything it cannot prove is a reason to reload the whole ruleset instead.

import { chainsOf, editOps, type EditOp } from './ruleset-diff.js';
import { findDrift } from './compare-saves.js';
import { isEmptyTable, parseSave, tableBlocks } from './save-text.js';
import type { RenderLayout } from '../compiler/render-restore.js';

/** A rule line of rendered restore input: its line number and text, and the words it jumps to (found once). */
interface RenderedRule {
  readonly line: number;
  readonly text: string;
  targets?: readonly string[];
}

/** One chain of rendered restore input: its policy (`-` for user chains) and rule lines. */
interface RenderedChain {
  readonly policy: string;
  readonly count: number;
  /** Its rule lines, made when first asked for (a chain that did not change is never split into rules). */
  rules(): RenderedRule[];
  /** Its rule lines joined by newlines: two chains with the same are the same rules. */
  joined(): string;
  /** Whether any of its rules is on one of these lines. */
  onAnyLine(lines: ReadonlySet<number>): boolean;
}

/** The chains of each table of nfgit's rendered restore input, in declaration order. */
function renderedTables(text: string): Map<string, Map<string, RenderedChain>> {
  return scanRendered(text) ?? parseRendered(text);
}

/** A text scanned ahead (scanAhead): as restore input (planIncrement's old), or as a save (finishIncrement's live). */
type AheadScan =
  | { readonly text: string; readonly kind: 'rendered'; readonly tables: Map<string, Map<string, RenderedChain>> }
  | { readonly text: string; readonly kind: 'save'; readonly tables: Map<string, LiveTable> };

/**
 * Scans made ahead, each taken by the first plan or finish of an equal text (at most six: two
 * families, the recorded input and canonical form read ahead and the new input's layout).
 */
const aheadScans: AheadScan[] = [];

/**
 * Scans a recorded text ahead of the apply that will need it: the last applied restore input
 * (`rendered`, planIncrement's old side) or the recorded canonical form (`save`, finishIncrement's live
 * ruleset when the generation says it is unchanged). The apply reads these while the rules compile
 * (StateDir.readAhead), when nfgit's main thread mostly waits; planIncrement and finishIncrement then
 * find the scan of an equal text instead of making it (20-30 ms at 50k rules, on the apply's path).
 */
export function scanAhead(text: string, kind: 'rendered' | 'save'): void {
  keepAhead(text, kind, () =>
    kind === 'rendered' ? { text, kind, tables: renderedTables(text) } : { text, kind, tables: scanSave(text) ?? parsedTables(text) },
  );
}

/** Keeps the scan of a text (made by `scan` unless one of the same kind is kept), the oldest dropped past six. */
function keepAhead(text: string, kind: 'rendered' | 'save', scan: () => AheadScan): void {
  if (aheadScans.some((a) => a.kind === kind && a.text === text)) return;
  aheadScans.push(scan());
  if (aheadScans.length > 6) aheadScans.shift();
}

/**
 * The scan of a new restore input as its render laid it out (RenderedRuleset.layout): planIncrement's
 * `next` then is not scanned again (50k lines, on the apply's path right after compiling). The same
 * chains and runs as scanRendered finds (test/netfilter/increment.test.ts proves the plans equal).
 */
export function scanKnown(text: string, layout: RenderLayout): void {
  keepAhead(text, 'rendered', () => {
    const tables = new Map<string, Map<string, RenderedChain>>();
    for (const t of layout) {
      const chains = new Map<string, RenderedChain>();
      for (const c of t.chains) {
        const runs = c.count > 0 ? [c.start, c.end, c.line, c.count] : [];
        chains.set(
          c.name,
          scannedChain(text, { policy: c.policy, count: c.count, runs, lastLine: c.count > 0 ? c.line + c.count - 1 : -1 }),
        );
      }
      tables.set(t.table, chains);
    }
    return { text, kind: 'rendered', tables };
  });
}

/** The scan of an equal text made ahead, taken (used once), or undefined. */
function takeAhead(text: string, kind: 'rendered' | 'save'): AheadScan | undefined {
  const i = aheadScans.findIndex((a) => a.kind === kind && a.text === text);
  return i < 0 ? undefined : aheadScans.splice(i, 1)[0];
}

/** The chains of rendered restore input: its scan made ahead (scanAhead, scanKnown) if any, else scanned now. */
function renderedScan(text: string): Map<string, Map<string, RenderedChain>> {
  const early = takeAhead(text, 'rendered');
  return early?.kind === 'rendered' ? early.tables : renderedTables(text);
}

/** parseRendered, made into RenderedChains: for input scanRendered does not take. */
function parseRendered(text: string): Map<string, Map<string, RenderedChain>> {
  const tables = new Map<string, Map<string, { policy: string; rules: RenderedRule[] }>>();
  let cur: Map<string, { policy: string; rules: RenderedRule[] }> | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.startsWith('-A ')) {
      if (cur === undefined) continue;
      const end = line.indexOf(' ', 3);
      const chain = end < 0 ? line.slice(3) : line.slice(3, end);
      let c = cur.get(chain);
      if (c === undefined) cur.set(chain, (c = { policy: '-', rules: [] }));
      c.rules.push({ line: i + 1, text: line });
    } else if (line.startsWith('*')) tables.set(line.slice(1), (cur = new Map()));
    else if (line === 'COMMIT') cur = undefined;
    else if (cur !== undefined && line.startsWith(':')) {
      const [name = '', policy = ''] = line.slice(1).split(' ');
      cur.set(name, { policy, rules: [] });
    }
  }
  const out = new Map<string, Map<string, RenderedChain>>();
  for (const [name, table] of tables) {
    const chains = new Map<string, RenderedChain>();
    for (const [chain, c] of table)
      chains.set(chain, {
        policy: c.policy,
        count: c.rules.length,
        rules: () => c.rules,
        joined: () => c.rules.map((r) => r.text).join('\n'),
        onAnyLine: (lines) => c.rules.some((r) => lines.has(r.line)),
      });
    out.set(name, chains);
  }
  return out;
}

/**
 * The chain of the `-A CHAIN …` line at [pos, end): `known` itself when the line names it (the usual
 * case, a chain's rules one after the other: no string made), else the name, cut from the text.
 */
function chainAt(text: string, pos: number, end: number, known: string | undefined): string {
  const at = pos + 3;
  if (known !== undefined && text.startsWith(known, at) && (at + known.length === end || text.charCodeAt(at + known.length) === 32))
    return known;
  let space = text.indexOf(' ', at);
  if (space < 0 || space > end) space = end;
  return text.slice(at, space);
}

/** A chain as scanRendered finds it: runs of its lines, as [start, end) offsets and the first line's number. */
interface ScannedRenderedChain {
  readonly policy: string;
  count: number;
  /** Per run of consecutive lines: its start and end offsets, the number of its first line, how many lines. */
  readonly runs: number[];
  lastLine: number;
}

/**
 * parseRendered without splitting the text into rules: per chain, the runs of its lines (one, as nfgit
 * renders a chain), so that a chain the same in both inputs is compared whole and never split. The
 * same chains and rules as parseRendered; undefined (parse it then) where the two could differ: a
 * chain declared twice or after its rules, a table twice.
 */
function scanRendered(text: string): Map<string, Map<string, RenderedChain>> | undefined {
  const tables = new Map<string, Map<string, ScannedRenderedChain>>();
  let cur: Map<string, ScannedRenderedChain> | undefined;
  let chain: ScannedRenderedChain | undefined;
  let chainName = '';
  let line = 0;
  for (let pos = 0; pos <= text.length; ) {
    line++;
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    if (text.startsWith('-A ', pos)) {
      if (cur !== undefined) {
        const name = chainAt(text, pos, end, chain === undefined ? undefined : chainName);
        if (name !== chainName || chain === undefined) {
          chainName = name;
          chain = cur.get(chainName);
          if (chain === undefined) cur.set(chainName, (chain = { policy: '-', count: 0, runs: [], lastLine: -1 }));
        }
        const c = chain as ScannedRenderedChain;
        if (c.lastLine === line - 1) {
          c.runs[c.runs.length - 3] = end;
          c.runs[c.runs.length - 1] = (c.runs[c.runs.length - 1] ?? 0) + 1;
        } else c.runs.push(pos, end, line, 1);
        c.lastLine = line;
        c.count++;
      }
    } else if (text.startsWith('*', pos)) {
      const name = text.slice(pos + 1, end);
      if (tables.has(name)) return undefined;
      tables.set(name, (cur = new Map()));
      chain = undefined;
    } else if (end - pos === 6 && text.startsWith('COMMIT', pos)) {
      cur = undefined;
      chain = undefined;
    } else if (cur !== undefined && text.startsWith(':', pos)) {
      const [name = '', policy = ''] = text.slice(pos + 1, end).split(' ');
      if (cur.has(name)) return undefined;
      cur.set(name, { policy, count: 0, runs: [], lastLine: -1 });
      chain = undefined;
    }
    pos = end + 1;
  }
  const out = new Map<string, Map<string, RenderedChain>>();
  for (const [name, table] of tables) out.set(name, new Map([...table].map(([n, c]) => [n, scannedChain(text, c)])));
  return out;
}

/** A chain found by scanRendered, as a RenderedChain over the text. */
function scannedChain(text: string, c: ScannedRenderedChain): RenderedChain {
  let rules: RenderedRule[] | undefined;
  const joined = (): string => {
    const parts: string[] = [];
    for (let i = 0; i < c.runs.length; i += 4) parts.push(text.slice(c.runs[i], c.runs[i + 1]));
    return parts.join('\n');
  };
  return {
    policy: c.policy,
    count: c.count,
    rules: () => {
      if (rules !== undefined) return rules;
      rules = [];
      for (let i = 0; i < c.runs.length; i += 4) {
        const first = c.runs[i + 2] as number;
        text
          .slice(c.runs[i], c.runs[i + 1])
          .split('\n')
          .forEach((t, k) => (rules as RenderedRule[]).push({ line: first + k, text: t }));
      }
      return rules;
    },
    joined,
    onAnyLine: (lines) => {
      for (let i = 0; i < c.runs.length; i += 4) {
        const first = c.runs[i + 2] as number;
        const last = first + (c.runs[i + 3] as number);
        for (let l = first; l < last; l++) if (lines.has(l)) return true;
      }
      return false;
    },
  };
}

const JUMPS = [' -j ', ' -g ', ' --jump ', ' --goto '];

/** The words after every -j/-g (--jump/--goto) of a rule: its target, and any look-alike in a quoted string. */
function targetsOf(rule: string): string[] {
  const words: string[] = [];
  for (const flag of JUMPS) {
    for (let at = rule.indexOf(flag); at >= 0; at = rule.indexOf(flag, at + 1)) {
      const start = at + flag.length;
      const end = rule.indexOf(' ', start);
      words.push(end < 0 ? rule.slice(start) : rule.slice(start, end));
    }
  }
  return words;
}

/**
 * The line numbers (1-based) of the rule lines of `text` with a `-j`/`-g` (`--jump`/`--goto`) followed
 * by one of `chains` as a word: what jumpOf finds rule by rule, in one regular expression pass over
 * the text (a rule by rule search took a third of the plan at 50k rules).
 */
function jumpLines(text: string, chains: ReadonlySet<string>): Set<number> {
  const lines = new Set<number>();
  if (chains.size === 0) return lines;
  const names = [...chains].map((c) => c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  const re = new RegExp(` (?:-j|-g|--jump|--goto) (?:${names})(?=[ \\n]|$)`, 'g');
  let line = 1;
  let at = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    // Count the newlines up to the match: its line number.
    for (let nl = text.indexOf('\n', at); nl >= 0 && nl < m.index; nl = text.indexOf('\n', nl + 1)) {
      line++;
      at = nl + 1;
    }
    lines.add(line);
  }
  return lines;
}

/** The user chain a rule jumps or goes to, if any (`-j NAME`, `-g NAME`). */
function jumpOf(rule: RenderedRule, userChains: ReadonlySet<string>): string | undefined {
  for (const t of (rule.targets ??= targetsOf(rule.text))) if (userChains.has(t)) return t;
  return undefined;
}

/** What changes in one chain. */
interface ChainPlan {
  readonly name: string;
  /** The edit script from the old rules to the new (all additions for an added chain). */
  readonly ops: readonly EditOp[];
  /** How many rules the chain had (0 for an added chain). */
  readonly oldCount: number;
  /** For each new rule (in chain order): its place among the chain's rules kept in the skeleton, or -1. */
  readonly keptIndex: readonly number[];
}

/** What changes in one table. */
interface TablePlan {
  readonly name: string;
  readonly chains: readonly ChainPlan[];
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Built-in chains whose policy changes, with the new policy. */
  readonly policies: ReadonlyArray<readonly [string, string]>;
  /** The chains of the old input, by name, with their rule counts (checked against the live ruleset). */
  readonly oldCounts: ReadonlyMap<string, number>;
  /**
   * Nothing in the table changes (no chain's rules, no chain added or removed, no policy): it is left
   * out of the skeleton (each table costs staging a new nf_tables table and its hooks, ~10 ms), and the
   * canonical form it keeps is the recorded one.
   */
  readonly unchanged: boolean;
}

/** The plan of one family's incremental apply (planIncrement). */
export interface FamilyIncrement {
  /** The new restore input with the rule lines staging does not need turned into `#`. */
  readonly skeleton: string;
  readonly tables: readonly TablePlan[];
  /** Commands the script will hold: a measure of the change. */
  readonly changes: number;
}

/** Why the whole ruleset is loaded instead of the difference. */
export interface NoIncrement {
  readonly reason: string;
}

/** More commands than this (and more than a quarter of the rules) is a large change: reloading is as cheap. */
export const LARGE_CHANGE = 200;

/** Per chain, more edits than this is a large change (the edit script's cost grows with its square). */
const MAX_CHAIN_EDITS = 2000;

/** Plans one family's incremental apply from the restore input applied last (`old`) to the new one (`next`). */
export function planIncrement(old: string, next: string): FamilyIncrement | NoIncrement {
  const a = renderedScan(old);
  const b = renderedScan(next);
  const anyUsers = new Set<string>();
  for (const t of [...a.values(), ...b.values()]) for (const [n, c] of t) if (c.policy === '-') anyUsers.add(n);
  // Rule lines of the new input that jump to a user chain of either input (a superset of each table's own).
  const jumps = jumpLines(next, anyUsers);
  const tables = [...b.keys()];
  const plans: TablePlan[] = [];
  const kept = new Set<number>();
  // Tables in which nothing changes: not staged at all.
  const dropped = new Set<string>();
  let changes = 0;
  let rules = 0;
  for (const name of tables) {
    const ta = a.get(name);
    const tb = b.get(name);
    if (ta === undefined || tb === undefined) return { reason: `the ${name} table was not in both rulesets` };
    const users = new Set([...ta, ...tb].filter(([, c]) => c.policy === '-').map(([n]) => n));
    const added = [...tb.keys()].filter((c) => !ta.has(c));
    const removed = [...ta.keys()].filter((c) => !tb.has(c));
    const policies: Array<[string, string]> = [...tb]
      .filter(([n, c]) => c.policy !== '-' && ta.get(n)?.policy !== c.policy)
      .map(([n, c]) => [n, c.policy]);
    // Chains whose every rule staging must see: added ones, and those reached by a jump that changed.
    const whole = new Set(added);
    const chains: Array<{ name: string; ops: EditOp[]; oldCount: number; chain: RenderedChain; same: boolean }> = [];
    for (const [chain, c] of tb) {
      const o = ta.get(chain);
      const { same, ops } = chainOps(o, c);
      if (ops === undefined) return { reason: `chain ${name}/${chain} changed in more than ${MAX_CHAIN_EDITS} places` };
      chains.push({ name: chain, ops, oldCount: o?.count ?? 0, chain: c, same });
      rules += c.count;
      if (same) continue;
      let i = 0;
      let j = 0;
      for (const op of ops) {
        // A jump added or removed: staging must see the chain it reaches whole.
        const rule = op === ' ' ? undefined : op === '+' ? c.rules()[j] : o?.rules()[i];
        const target = rule === undefined ? undefined : jumpOf(rule, users);
        if (target !== undefined) whole.add(target);
        if (op !== '+') i++;
        if (op !== '-') j++;
      }
    }
    for (const chain of removed) {
      for (const r of ta.get(chain)?.rules() ?? []) {
        const target = jumpOf(r, users);
        if (target !== undefined) whole.add(target);
      }
    }
    // What is reached from a chain staging sees whole is seen whole too.
    for (const chain of closure(whole, tb, users)) whole.add(chain);
    const planned: ChainPlan[] = [];
    for (const c of chains) {
      // Unchanged, not seen whole, no jump kept: none of its rules is staged (and it is not split).
      if (c.same && !whole.has(c.name) && !c.chain.onAnyLine(jumps)) {
        planned.push({ name: c.name, ops: c.ops, oldCount: c.oldCount, keptIndex: new Array<number>(c.chain.count).fill(-1) });
        continue;
      }
      const isNew = new Set<number>();
      let j = 0;
      for (const op of c.ops) {
        if (op === '+') isNew.add(j);
        if (op !== '-') j++;
      }
      let k = 0;
      const keptIndex = c.chain.rules().map((r, idx) => {
        const keep = whole.has(c.name) || isNew.has(idx) || (jumps.has(r.line) && jumpOf(r, users) !== undefined);
        if (!keep) return -1;
        kept.add(r.line);
        return k++;
      });
      planned.push({ name: c.name, ops: c.ops, oldCount: c.oldCount, keptIndex });
      changes += countCommands(c.ops);
    }
    changes += added.length + 2 * removed.length + policies.length;
    const oldCounts = new Map([...ta].map(([n, c]) => [n, c.count]));
    const unchanged = added.length === 0 && removed.length === 0 && policies.length === 0 && chains.every((c) => c.same);
    if (unchanged) dropped.add(name);
    plans.push({ name, chains: planned, added, removed, policies, oldCounts, unchanged });
  }
  if (changes > LARGE_CHANGE && changes > rules / 4) return { reason: `a large change (${changes} commands for ${rules} rules)` };
  return { skeleton: skeletonOf(next, kept, dropped), tables: plans, changes };
}

/**
 * The new input with every rule line not in `kept` (line numbers), and every line of the tables in
 * `dropped`, turned into `#`: the lines between copied in pieces, not split and joined again (50k
 * rules, most of them dropped).
 */
function skeletonOf(next: string, kept: ReadonlySet<number>, dropped: ReadonlySet<string>): string {
  const out: string[] = [];
  // Where the text not copied yet starts, and the dropped lines before it not written yet (a run of
  // them, each `#`, the newlines between them in the repeat).
  let from = 0;
  let hashes = 0;
  const flush = (): void => {
    if (hashes > 0) out.push(`#${'\n#'.repeat(hashes - 1)}`);
    hashes = 0;
  };
  let line = 0;
  // In a dropped table: from its `*name` line through its COMMIT.
  let dropping = false;
  for (let pos = 0; pos <= next.length; ) {
    line++;
    let end = next.indexOf('\n', pos);
    if (end < 0) end = next.length;
    if (next.charCodeAt(pos) === 42 /* * */) dropping = dropped.has(next.slice(pos + 1, end));
    const drop = dropping ? end > pos : next.startsWith('-A ', pos) && !kept.has(line);
    if (dropping && end - pos === 6 && next.startsWith('COMMIT', pos)) dropping = false;
    if (drop) {
      if (hashes === 0 || from !== pos - 1) {
        flush();
        out.push(next.slice(from, pos));
      }
      hashes++;
      from = end;
    }
    pos = end + 1;
  }
  flush();
  out.push(next.slice(from));
  return out.join('');
}

/** A chain's edit script, old to new; `same` when both have the same rules (most chains at a one-rule change: compared whole, never split). */
function chainOps(o: RenderedChain | undefined, c: RenderedChain): { same: boolean; ops: EditOp[] | undefined } {
  if (o !== undefined && o.count === c.count && o.joined() === c.joined()) return { same: true, ops: new Array<EditOp>(c.count).fill(' ') };
  const ops = editOps(
    o?.rules().map((r) => r.text) ?? [],
    c.rules().map((r) => r.text),
    MAX_CHAIN_EDITS,
  );
  return { same: false, ops };
}

/** The user chains reachable by jumps from `from` (in the new table). */
function closure(from: ReadonlySet<string>, table: ReadonlyMap<string, RenderedChain>, users: ReadonlySet<string>): Set<string> {
  const seen = new Set(from);
  const todo = [...from];
  while (todo.length > 0) {
    for (const r of table.get(todo.pop() as string)?.rules() ?? []) {
      const target = jumpOf(r, users);
      if (target !== undefined && !seen.has(target)) {
        seen.add(target);
        todo.push(target);
      }
    }
  }
  return seen;
}

/** How many of `ops` from `at` are `op`, one after the other. */
function runOf(ops: readonly EditOp[], at: number, op: EditOp): number {
  let n = 0;
  while (ops[at + n] === op) n++;
  return n;
}

/**
 * Commands of a chain's script: a run of removals followed by a run of additions is one `-R` a pair
 * (rules changed in place, as an address changed in a list: Myers' script removes them all first),
 * then the removals or additions left over.
 */
function countCommands(ops: readonly EditOp[]): number {
  let n = 0;
  for (let i = 0; i < ops.length; i++) {
    if (ops[i] === ' ') continue;
    const removed = ops[i] === '-' ? runOf(ops, i, '-') : 0;
    const added = runOf(ops, i + removed, '+');
    n += Math.max(removed, added);
    i += removed + added - 1;
  }
  return n;
}

/** Why the live ruleset is not the recorded canonical form (drift, or none recorded); undefined when it is. */
export function driftFrom(recorded: string | undefined, live: string): NoIncrement | undefined {
  if (recorded === undefined) return { reason: 'the canonical form of the last apply is not recorded' };
  // The same text: the live ruleset is the recorded one (its generation said so, see netfilter/generation.ts).
  if (live !== recorded && findDrift(recorded, live).length > 0) return { reason: 'the live ruleset differs from the last apply (drift)' };
  return undefined;
}

/** A family's incremental apply, ready: the --noflush input and the canonical form it leaves. */
export interface FamilyScript {
  /** `iptables-restore --noflush` input; empty when nothing changes. */
  readonly script: string;
  /** The family's canonical form after the script (iptables-save text without counters). */
  readonly expected: string;
  readonly changes: number;
}

/**
 * Finishes the plan under the lock: `live` is the family's save (the snapshot), `recorded` the canonical
 * form recorded at the last apply, `skeleton` the save of the staged skeleton. Gives the script, or why
 * the whole ruleset must be loaded instead.
 */
export function finishIncrement(
  plan: FamilyIncrement,
  live: string,
  recorded: string | undefined,
  skeleton: string,
): FamilyScript | NoIncrement {
  const drift = driftFrom(recorded, live);
  if (drift !== undefined) return drift;
  const early = takeAhead(live, 'save');
  const have = early?.kind === 'save' ? early.tables : (scanSave(live) ?? parsedTables(live));
  const staged = parseSave(skeleton);
  const names = new Set(plan.tables.map((t) => t.name));
  // An empty table of another (a full reload would flush it, and leave it there, empty) changes nothing.
  for (const [t, table] of have) if (!names.has(t) && !table.empty) return { reason: `the target has a ${t} table the rules do not load` };
  const script: string[] = [];
  const expected: string[] = [];
  // The recorded canonical form's tables, for those the script leaves alone (not staged).
  let recordedBlocks: Map<string, string> | undefined;
  for (const t of plan.tables) {
    const live = have.get(t.name);
    if (t.unchanged) {
      // As the live table is: the recorded form, since the live ruleset is the recorded one (no drift).
      const block = (recordedBlocks ??= tableBlocks(recorded ?? '')).get(t.name);
      if (block === undefined) {
        if (live === undefined || live.empty) continue;
        return { reason: `the recorded canonical form has no ${t.name} table` };
      }
      if (live === undefined) {
        // An empty table the target does not have stays so (as for a staged one below).
        if (isEmptyTable(parseSave(block).get(t.name))) continue;
        return { reason: `the target has no ${t.name} table` };
      }
      expected.push(block.endsWith('\n') ? block.slice(0, -1) : block);
      continue;
    }
    const saved = staged.get(t.name);
    if (saved === undefined) return { reason: `staging did not save the ${t.name} table back` };
    // A table the target does not have stays so while the rules leave it empty (as a whole reload would).
    if (live === undefined && isEmptyTable(saved)) continue;
    if (live === undefined) return { reason: `the rules now use the ${t.name} table, which the target does not have` };
    const liveChains = live.chains;
    const savedChains = chainsOf(saved);
    // The live table must be the old input, rule for rule: the same chains with as many rules each.
    if (liveChains.size !== t.oldCounts.size || [...liveChains].some(([c, side]) => t.oldCounts.get(c) !== side.count)) {
      return { reason: `the live ${t.name} table does not hold the last applied rules one for one` };
    }
    const out = tableScript(t, liveChains, savedChains);
    if ('reason' in out) return out;
    if (out.lines.length > 0) script.push(`*${t.name}`, ...out.lines, 'COMMIT');
    expected.push(`*${t.name}`, ...saved.chains.map((c) => `${c} [0:0]`));
    for (const c of savedChains.keys()) {
      // A chain the script leaves as it was: its lines as the live save has them, in one piece.
      const after = out.rules.get(c);
      const rules = after === UNCHANGED ? (liveChains.get(c)?.joined() ?? '') : (after ?? []).join('\n');
      if (rules !== '') expected.push(rules);
    }
    expected.push('COMMIT');
  }
  return {
    script: script.length === 0 ? '' : script.join('\n') + '\n',
    // One string, not a pair (render-restore.ts says why).
    expected: [...expected, ''].join('\n'),
    changes: plan.changes,
  };
}

/** A chain the script leaves as it was (tableScript): its rules are the live ones. */
const UNCHANGED = Symbol('unchanged');

/** One table's commands, and its rules after them in canonical form, by chain (UNCHANGED: as live). */
function tableScript(
  t: TablePlan,
  liveChains: ReadonlyMap<string, LiveChain>,
  savedChains: ReturnType<typeof chainsOf>,
): { lines: string[]; rules: Map<string, string[] | typeof UNCHANGED> } | NoIncrement {
  const lines: string[] = [...t.added.map((c) => `-N ${c}`), ...t.policies.map(([c, p]) => `-P ${c} ${p}`)];
  const rules = new Map<string, string[] | typeof UNCHANGED>();
  for (const c of t.chains) {
    const staged = savedChains.get(c.name)?.rules ?? [];
    if (staged.length !== c.keptIndex.filter((k) => k >= 0).length) {
      return { reason: `staging saved back another number of rules in ${t.name}/${c.name}` };
    }
    const live = liveChains.get(c.name);
    if (live !== undefined && c.ops.every((op) => op === ' ')) {
      rules.set(c.name, UNCHANGED);
      continue;
    }
    const old = live?.rules() ?? [];
    const after: string[] = [];
    let i = 0;
    let j = 0;
    // Position of the next rule in the chain as the script has left it so far (1-based).
    let pos = 1;
    let length = c.oldCount;
    for (let s = 0; s < c.ops.length; s++) {
      const op = c.ops[s];
      if (op === ' ') {
        after.push(old[i++] as string);
        j++;
        pos++;
        continue;
      }
      // A run of removals and the run of additions after it: `-R` a pair, in place, then the rest.
      const removed = op === '-' ? runOf(c.ops, s, '-') : 0;
      const added = runOf(c.ops, s + removed, '+');
      const replaced = Math.min(removed, added);
      for (let q = 0; q < replaced; q++) {
        const rule = staged[c.keptIndex[j] as number] as string;
        lines.push(`-R ${c.name} ${pos} ${ruleArgs(rule)}`);
        after.push(rule);
        i++;
        j++;
        pos++;
      }
      for (let q = replaced; q < removed; q++) {
        lines.push(`-D ${c.name} ${pos}`);
        i++;
        length--;
      }
      for (let q = replaced; q < added; q++) {
        const rule = staged[c.keptIndex[j] as number] as string;
        lines.push(pos > length ? rule : `-I ${c.name} ${pos} ${ruleArgs(rule)}`);
        after.push(rule);
        j++;
        pos++;
        length++;
      }
      s += removed + added - 1;
    }
    rules.set(c.name, after);
  }
  for (const c of t.removed) lines.push(`-F ${c}`);
  for (const c of t.removed) lines.push(`-X ${c}`);
  return { lines, rules };
}

/** A chain of the live save: its policy, how many rules, and the rules (made only for a chain that changes). */
interface LiveChain {
  readonly policy: string;
  readonly count: number;
  rules(): readonly string[];
  /** Its rule lines joined by newlines, as the save has them. */
  joined(): string;
}

/** A table of the live save, by chain. */
interface LiveTable {
  /** No rules, no user chains, ACCEPT policies (isEmptyTable). */
  readonly empty: boolean;
  readonly chains: ReadonlyMap<string, LiveChain>;
}

/** The live save's tables through parseSave and chainsOf: for a save scanSave does not take (counters, blanks at line ends). */
function parsedTables(text: string): Map<string, LiveTable> {
  const out = new Map<string, LiveTable>();
  for (const [name, table] of parseSave(text)) {
    const chains = new Map<string, LiveChain>();
    for (const [chain, side] of chainsOf(table))
      chains.set(chain, { policy: side.policy, count: side.rules.length, rules: () => side.rules, joined: () => side.rules.join('\n') });
    out.set(name, { empty: isEmptyTable(table), chains });
  }
  return out;
}

/** A chain as scanSave finds it: where its rule lines are in the text. */
interface ScannedChain {
  readonly policy: string;
  count: number;
  /** [start, end) offsets of runs of its lines, one after the other in the text. */
  readonly ranges: number[];
  /** The end of its last line (-2: none yet). */
  lastEnd: number;
}

/**
 * The tables of a save without parsing its rules: per chain, where its lines are (usually one run), so
 * that a chain the script leaves alone is copied in one piece, and only a changed chain is split into
 * rules. The same chains and rules as parseSave and chainsOf, for plain saves only: undefined (parse it
 * then) at a line with a blank at its end, counters, a rule outside a table or anything else unusual.
 * At 50k rules: about 5 ms, against 50 ms and 50k strings for parsing.
 */
export function scanSave(text: string): Map<string, LiveTable> | undefined {
  const tables = new Map<string, { rules: number; decls: string[]; chains: Map<string, ScannedChain> }>();
  let cur: { rules: number; decls: string[]; chains: Map<string, ScannedChain> } | undefined;
  let chain: ScannedChain | undefined;
  let chainName = '';
  for (let pos = 0; pos < text.length; ) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const next = end + 1;
    if (end > pos) {
      if (text.charCodeAt(end - 1) <= 32) return undefined;
      const first = text.charCodeAt(pos);
      if (first === 45 /* - */) {
        if (cur === undefined || !text.startsWith('-A ', pos)) return undefined;
        const name = chainAt(text, pos, end, chain === undefined ? undefined : chainName);
        if (name !== chainName || chain === undefined) {
          chainName = name;
          chain = cur.chains.get(chainName);
          if (chain === undefined) cur.chains.set(chainName, (chain = { policy: '-', count: 0, ranges: [], lastEnd: -2 }));
        }
        const c = chain as ScannedChain;
        if (c.lastEnd === pos - 1) c.ranges[c.ranges.length - 1] = end;
        else c.ranges.push(pos, end);
        c.lastEnd = end;
        c.count++;
        cur.rules++;
      } else if (first === 42 /* * */) {
        cur = { rules: 0, decls: [], chains: new Map() };
        tables.set(text.slice(pos + 1, end), cur);
        chain = undefined;
      } else if (first === 58 /* : */) {
        if (cur === undefined) return undefined;
        const decl = text.slice(pos, end).replace(/ \[\d+:\d+\]$/, '');
        const [name = '', policy = ''] = decl.slice(1).split(' ');
        if (cur.chains.has(name)) return undefined;
        cur.decls.push(decl);
        cur.chains.set(name, { policy, count: 0, ranges: [], lastEnd: -2 });
        chain = undefined;
      } else if (end - pos === 6 && text.startsWith('COMMIT', pos)) {
        cur = undefined;
        chain = undefined;
      } else if (first !== 35 /* # */) return undefined;
    }
    pos = next;
  }
  const out = new Map<string, LiveTable>();
  for (const [name, t] of tables) {
    const chains = new Map<string, LiveChain>();
    for (const [n, c] of t.chains) {
      const joined = (): string => {
        const parts: string[] = [];
        for (let i = 0; i < c.ranges.length; i += 2) parts.push(text.slice(c.ranges[i], c.ranges[i + 1]));
        return parts.join('\n');
      };
      chains.set(n, { policy: c.policy, count: c.count, rules: () => (c.count === 0 ? [] : joined().split('\n')), joined });
    }
    out.set(name, { empty: t.rules === 0 && t.decls.every((d) => d.endsWith(' ACCEPT')), chains });
  }
  return out;
}

/** A saved rule's text after `-A CHAIN `. */
function ruleArgs(rule: string): string {
  const at = rule.indexOf(' ', 3);
  return at < 0 ? '' : rule.slice(at + 1);
}
