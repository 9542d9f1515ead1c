// Foreign chains: Docker, fail2ban, kube-proxy and CrowdSec keep their own chains in the same tables
// as nfgit, and a full restore would wipe them (moby/moby#12294, fail2ban#2055). Chains matching a
// preserved pattern, and the rules other software put into the built-in chains to reach them, are
// carried over from the live ruleset into every restore nfgit makes, in the place they were. Pure.

import { InternalError, UsageError } from '../errors/errors.js';
import { BUILTIN_CHAINS } from '../compiler/tables.js';
import { parseSave } from './save-text.js';

/** One chain name pattern: a glob (`*`, `?`), for one table or for all. */
export interface ChainPattern {
  readonly table: string | null;
  readonly glob: string;
  /** As written (or the preset that brought it), for messages. */
  readonly source: string;
}

/** A rule in a built-in chain that belongs to the other software although it jumps nowhere preserved. */
export interface RuleMatcher {
  readonly table: string;
  readonly test: RegExp;
  readonly source: string;
}

/** What to preserve: chain patterns, and rule matchers from presets. */
export interface PreserveSpec {
  readonly chains: readonly ChainPattern[];
  readonly rules: readonly RuleMatcher[];
  /** The patterns and presets as given, for messages and logs. */
  readonly given: readonly string[];
}

/** No preservation: nfgit owns every chain (the default). */
export const NO_PRESERVE: PreserveSpec = { chains: [], rules: [], given: [] };

/** Interfaces Docker creates: the default bridge and user-defined bridges (`br-` + 12 hex digits). */
const DOCKER_IF = String.raw`(?:docker0|br-[0-9a-f]{12})`;

/**
 * Ready sets of patterns for software that manages its own chains. Docker's two layouts are covered:
 * up to 27 (DOCKER, DOCKER-ISOLATION-STAGE-1/2, DOCKER-USER, and ACCEPT rules for its bridges straight
 * in FORWARD) and 28 on (DOCKER-FORWARD, DOCKER-BRIDGE, DOCKER-CT, DOCKER-INTERNAL); both put the
 * MASQUERADE rule of each bridge network straight into nat POSTROUTING.
 */
export const PRESETS: Readonly<
  Record<string, { readonly chains: readonly string[]; readonly rules: ReadonlyArray<{ table: string; test: RegExp }> }>
> = {
  docker: {
    chains: ['DOCKER', 'DOCKER-*'],
    rules: [
      // filter FORWARD (Docker ≤ 27): -o docker0 … -j ACCEPT, -i docker0 ! -o docker0 -j ACCEPT, …
      { table: 'filter', test: new RegExp(String.raw`^-A FORWARD (?:.* )?(?:-i|-o) ${DOCKER_IF}(?: |$)`) },
      // nat POSTROUTING: -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE, and the hairpin rules of published ports
      { table: 'nat', test: new RegExp(String.raw`^-A POSTROUTING (?:.* )?(?:-i|-o) ${DOCKER_IF}(?: |$)`) },
      // the hairpin MASQUERADE of a published port: -s C/32 -d C/32 -p tcp -m tcp --dport N
      { table: 'nat', test: /^-A POSTROUTING -s ([0-9.]+)\/32 -d \1\/32 -p (tcp|udp|sctp) -m \2 --dport [0-9]+ -j MASQUERADE$/ },
    ],
  },
  fail2ban: { chains: ['f2b-*', 'fail2ban-*'], rules: [] },
  'kube-proxy': { chains: ['KUBE-*'], rules: [] },
  crowdsec: { chains: ['CROWDSEC*'], rules: [] },
};

const TABLES = Object.keys(BUILTIN_CHAINS);
const GLOB = /^[A-Za-z0-9_.*?+-]+$/;

/**
 * Reads preserve patterns: `DOCKER*` (every table), `nat:DOCKER` (one table), or a preset `@docker`,
 * `@fail2ban`, `@kube-proxy`, `@crowdsec`. Every bad pattern is reported at once (a UsageError naming
 * where it came from).
 */
export function parsePreserve(patterns: readonly string[], where = 'preserve'): PreserveSpec {
  const chains: ChainPattern[] = [];
  const rules: RuleMatcher[] = [];
  const problems: string[] = [];
  for (const raw of patterns) {
    const p = raw.trim();
    if (p.startsWith('@')) {
      const preset = PRESETS[p.slice(1)];
      if (preset === undefined) {
        problems.push(
          `${where}: unknown preset "${p}"; the presets are ${Object.keys(PRESETS)
            .map((n) => `@${n}`)
            .join(', ')}`,
        );
        continue;
      }
      for (const glob of preset.chains) chains.push({ table: null, glob, source: p });
      for (const r of preset.rules) rules.push({ ...r, source: p });
      continue;
    }
    const colon = p.indexOf(':');
    const table = colon < 0 ? null : p.slice(0, colon);
    const glob = colon < 0 ? p : p.slice(colon + 1);
    if (table !== null && !TABLES.includes(table)) {
      problems.push(
        `${where}: "${p}": unknown table "${table}"; write TABLE:PATTERN with one of ${TABLES.join(', ')}, or PATTERN for every table`,
      );
    } else if (!GLOB.test(glob)) {
      problems.push(`${where}: "${p}" is not a chain name pattern (letters, digits, "_", "-", "." and the wildcards * and ?)`);
    } else if (glob.replace(/[*?]/g, '') === '') {
      problems.push(
        `${where}: "${p}" would preserve every chain, leaving nothing for nfgit; name the chains of the other software (for example DOCKER*)`,
      );
    } else if (isBuiltinName(glob)) {
      problems.push(
        `${where}: "${p}" matches a built-in chain; built-in chains are shared: nfgit keeps only the rules that jump to preserved chains in them`,
      );
    } else {
      chains.push({ table, glob, source: p });
    }
  }
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  return { chains, rules, given: patterns.map((p) => p.trim()) };
}

function isBuiltinName(glob: string): boolean {
  const re = globToRegExp(glob);
  return Object.values(BUILTIN_CHAINS).some((chains) => chains.some((c) => re.test(c)));
}

const regexCache = new Map<string, RegExp>();

function globToRegExp(glob: string): RegExp {
  let re = regexCache.get(glob);
  if (re === undefined) {
    re = new RegExp(
      `^${glob
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.')}$`,
    );
    regexCache.set(glob, re);
  }
  return re;
}

/** The pattern that preserves a user chain of a table, if any. */
export function preservingPattern(spec: PreserveSpec, table: string, chain: string): ChainPattern | undefined {
  if ((BUILTIN_CHAINS[table] ?? []).includes(chain)) return undefined;
  return spec.chains.find((p) => (p.table === null || p.table === table) && globToRegExp(p.glob).test(chain));
}

/** Why a rule file may not define this chain (it matches a preserved pattern), or undefined. */
export function reservedChainProblem(spec: PreserveSpec, table: string, chain: string): string | undefined {
  const p = preservingPattern(spec, table, chain);
  if (p === undefined) return undefined;
  const origin = p.source.startsWith('@') ? `the preset ${p.source}` : `the pattern "${p.source}"`;
  return `chain "${chain}" in table ${table} matches ${origin} (preserve): it belongs to other software, which creates and deletes it; rule files may add rules to it (-A, -I) and jump to it, but not create, delete or rename it (rename your own chain, or stop preserving it)`;
}

/** The chain a rule line (`-A CHAIN …`) jumps or goes to, if any. */
function jumpTarget(rule: string): string | undefined {
  return /(?:^| )(?:-j|--jump|-g|--goto) ("?)([^ "]+)\1(?: |$)/.exec(rule)?.[2];
}

function chainOf(rule: string): string {
  return withoutCounters(rule).split(' ', 2)[1] ?? '';
}

/** A saved rule line without its `[packets:bytes]` prefix (iptables-save -c). */
function withoutCounters(line: string): string {
  return line.replace(/^\[\d+:\d+\] /, '');
}

/** Whether a rule jumps (or goes) to a preserved chain. */
function jumpsToPreserved(spec: PreserveSpec, table: string, rule: string): boolean {
  const target = jumpTarget(rule);
  return target !== undefined && preservingPattern(spec, table, target) !== undefined;
}

/** Whether a rule of a built-in chain belongs to the other software: it jumps to a preserved chain, or a preset claims it. */
export function isForeignRule(spec: PreserveSpec, table: string, rule: string): boolean {
  return jumpsToPreserved(spec, table, rule) || spec.rules.some((m) => m.table === table && m.test.test(rule));
}

/** Whether a saved line (declaration `:CHAIN …` or rule `-A CHAIN …`) of a table is preserved. */
function isPreservedLine(spec: PreserveSpec, table: string, line: string): boolean {
  if (line.startsWith(':')) return preservingPattern(spec, table, line.slice(1).split(' ')[0] ?? '') !== undefined;
  const chain = chainOf(line);
  if (preservingPattern(spec, table, chain) !== undefined) return true;
  return (BUILTIN_CHAINS[table] ?? []).includes(chain) && isForeignRule(spec, table, line);
}

/**
 * What nfgit may call its own in a live ruleset, per table: the preserved chains its rule files add
 * to (declared in its ruleset), and how many times each rule line appears in its ruleset. A live rule
 * that looks foreign (in a preserved chain, jumping to one, or claimed by a preset) is nfgit's only as
 * many times as nfgit's ruleset has it; the rest is the other software's.
 */
export type OwnClaims = ReadonlyMap<string, { readonly chains: ReadonlySet<string>; readonly rules: ReadonlyMap<string, number> }>;

/**
 * The claims of nfgit's ruleset in canonical form (iptables-save of what nfgit loaded, without the
 * other software's parts); given several (the last applied one, the new one), a rule counts as often
 * as the form that has it most, so that neither an unchanged nor a removed rule of nfgit's is taken
 * for a foreign one.
 */
export function ownClaims(...forms: ReadonlyArray<string | undefined>): OwnClaims {
  const out = new Map<string, { chains: Set<string>; rules: Map<string, number> }>();
  for (const form of forms) {
    for (const [table, saved] of parseSave(form ?? '')) {
      let t = out.get(table);
      if (t === undefined) out.set(table, (t = { chains: new Set(), rules: new Map() }));
      for (const d of saved.chains) t.chains.add(d.slice(1).split(' ')[0] ?? '');
      const count = new Map<string, number>();
      for (const r of saved.rules) count.set(r, (count.get(r) ?? 0) + 1);
      for (const [r, n] of count) t.rules.set(r, Math.max(n, t.rules.get(r) ?? 0));
    }
  }
  return out;
}

/** A copy of the claims a pass can take rules from, one for one. */
function claimCounter(claims: OwnClaims | undefined, table: string): Map<string, number> {
  return new Map(claims?.get(table)?.rules ?? []);
}

/** Takes one claim on a rule line if one is left. */
function take(counter: Map<string, number>, rule: string): boolean {
  const n = counter.get(rule) ?? 0;
  if (n === 0) return false;
  counter.set(rule, n - 1);
  return true;
}

/**
 * The saved ruleset without what is preserved (the chains, their rules, the rules that reach them):
 * what drift detection and change counts compare, since those parts are not nfgit's. With `claims`,
 * nfgit's own part stays: its rules in preserved chains it adds to (DOCKER-USER), with their
 * declarations, and its rules that look foreign (its own jump to DOCKER-USER).
 */
export function stripPreserved(saveText: string, spec: PreserveSpec, claims?: OwnClaims): string {
  if (spec.chains.length === 0 && spec.rules.length === 0) return saveText;
  const out: string[] = [];
  let table = '';
  let counter = new Map<string, number>();
  for (const raw of saveText.split('\n')) {
    if (raw.startsWith('*')) {
      table = raw.slice(1);
      counter = claimCounter(claims, table);
    }
    const line = raw.replace(/^\[\d+:\d+\] /, '');
    if ((line.startsWith(':') || line.startsWith('-A ')) && isPreservedLine(spec, table, line)) {
      const own = line.startsWith(':') ? claims?.get(table)?.chains.has(line.slice(1).split(' ')[0] ?? '') === true : take(counter, line);
      if (!own) continue;
    }
    out.push(raw);
  }
  return out.join('\n');
}

/** What mergePreserved carried over, for logs. */
export interface PreservedSummary {
  readonly chains: readonly string[];
  readonly rules: number;
}

/** The lines of the live ruleset a merge carried over (declarations `:CHAIN -`, rules), per table. */
export type ForeignLines = ReadonlyMap<string, readonly string[]>;

/**
 * A saved ruleset without the lines a merge carried over into it (one for one, counters ignored):
 * nfgit's own part of what the target runs after an apply, as the last good record keeps it.
 */
export function withoutForeign(saveText: string, foreign: ForeignLines): string {
  if (foreign.size === 0) return saveText;
  const out: string[] = [];
  let left = new Map<string, number>();
  for (const raw of saveText.split('\n')) {
    if (raw.startsWith('*')) {
      left = new Map();
      for (const l of foreign.get(raw.slice(1)) ?? []) left.set(l, (left.get(l) ?? 0) + 1);
    }
    const line = raw.replace(/^\[\d+:\d+\] /, '').replace(/^(:\S+ -) \[\d+:\d+\]$/, '$1');
    if ((line.startsWith(':') || line.startsWith('-A ')) && take(left, line)) continue;
    out.push(raw);
  }
  return out.join('\n');
}

/**
 * Adds to nfgit's restore input (one family) the preserved parts of the live ruleset (`snapshot`, from
 * iptables-save): the preserved chains with their rules, and the other software's rules in the built-in
 * chains, each at the place it had among nfgit's rules (before the first, after the last, or after the
 * same number of nfgit's rules as before). A preserved chain nfgit's rules add to (DOCKER-USER) holds
 * nfgit's rules first, then the live chain's foreign part: its rules that `claims` (nfgit's part at the
 * last apply and in the new ruleset) does not account for, such as Docker's trailing RETURN. Tables of
 * the restore input without preserved parts are left as they are.
 */
export function mergePreserved(
  restoreText: string,
  snapshot: string,
  spec: PreserveSpec,
  claims?: OwnClaims,
): { text: string; summary: PreservedSummary; foreign: ForeignLines } {
  if (spec.chains.length === 0 && spec.rules.length === 0)
    return { text: restoreText, summary: { chains: [], rules: 0 }, foreign: new Map() };
  const live = parseSave(snapshot);
  const out: string[] = [];
  const keptChains: string[] = [];
  const foreign = new Map<string, string[]>();
  let keptRules = 0;
  const lines = restoreText.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const header = lines[i] as string;
    if (!header.startsWith('*')) {
      out.push(header);
      continue;
    }
    const table = header.slice(1);
    const end = lines.indexOf('COMMIT', i);
    if (end < 0) throw new InternalError(`internal error: table ${table} of the restore input has no COMMIT`);
    const block = lines.slice(i + 1, end);
    i = end;
    const saved = live.get(table);
    const decls = block.filter((l) => l.startsWith(':'));
    const rules = block.filter((l) => withoutCounters(l).startsWith('-A '));
    // Preserved chains nfgit's rules add to: declared by nfgit's restore input, so not declared again.
    const shared = new Set(
      decls.map((d) => d.slice(1).split(' ')[0] ?? '').filter((name) => preservingPattern(spec, table, name) !== undefined),
    );
    const foreignDecls = (saved?.chains ?? []).filter(
      (d) => d.endsWith(' -') && isPreservedLine(spec, table, d) && !shared.has(d.slice(1, -2)),
    );
    // Rules a preset would claim, jumps to preserved chains and rules of shared chains that nfgit's own ruleset has too are nfgit's: one each, matched one for one.
    const mine = claimCounter(claims, table);
    const foreignChainRules = (saved?.rules ?? []).filter(
      (r) => preservingPattern(spec, table, chainOf(r)) !== undefined && !(shared.has(chainOf(r)) && take(mine, r)),
    );
    const merged: string[] = [];
    const flags = (saved?.rules ?? []).map(
      (r) => (BUILTIN_CHAINS[table] ?? []).includes(chainOf(r)) && isForeignRule(spec, table, r) && !take(mine, r),
    );
    for (const chain of BUILTIN_CHAINS[table] ?? []) {
      const own = rules.filter((r) => chainOf(r) === chain);
      const before = (saved?.rules ?? []).map((r, k) => ({ r, foreign: flags[k] === true })).filter((x) => chainOf(x.r) === chain);
      merged.push(...placeForeign(own, before));
    }
    const builtins = new Set(BUILTIN_CHAINS[table] ?? []);
    // nfgit's rules of a shared chain come before its foreign part (rule files insert at 1 and expect to be first).
    merged.push(...rules.filter((r) => !builtins.has(chainOf(r))));
    merged.push(...foreignChainRules);
    out.push(header, ...decls, ...foreignDecls.map((d) => `${d} [0:0]`), ...merged, 'COMMIT');
    keptChains.push(...foreignDecls.map((d) => `${table}/${d.slice(1).split(' ')[0] ?? ''}`));
    keptRules += merged.length - rules.length;
    const carried = [...foreignDecls, ...foreignChainRules, ...(saved?.rules ?? []).filter((_, k) => flags[k] === true)];
    if (carried.length > 0) foreign.set(table, carried);
  }
  return { text: out.join('\n'), summary: { chains: keptChains, rules: keptRules }, foreign };
}

/**
 * Interleaves the foreign rules of a built-in chain (from its live rules `before`) with nfgit's new
 * rules `own`: a foreign rule that came before all the chain's other rules goes first, one that came
 * after all of them goes after all the new ones, and one that came after k of them goes after k of the
 * new ones. In a chain that held only foreign rules, they go first.
 */
function placeForeign(own: readonly string[], before: ReadonlyArray<{ r: string; foreign: boolean }>): string[] {
  const ownBefore = before.filter((x) => !x.foreign).length;
  const slots: string[][] = Array.from({ length: own.length + 1 }, () => []);
  let seen = 0;
  for (const { r, foreign } of before) {
    if (!foreign) {
      seen++;
      continue;
    }
    // With none of nfgit's rules to place them by, they go first: these tools insert their jumps at the top.
    const at = ownBefore === 0 || seen === 0 ? 0 : seen === ownBefore ? own.length : Math.min(seen, own.length);
    (slots[at] as string[]).push(r);
  }
  const result: string[] = [...(slots[0] as string[])];
  own.forEach((r, k) => result.push(r, ...(slots[k + 1] as string[])));
  return result;
}

/**
 * For a chain a rule file names that does not exist: if it is one of the chains a preset preserves
 * (DOCKER-USER, f2b-sshd…), how to add rules to it. Undefined for other names.
 */
/**
 * What the compiler needs to know of the preserved chains: which names belong to other software
 * (rule files add to them, never define them), and the hint for a known software's chain that is not
 * preserved. The CLI, the agent and the tests compile with these.
 */
export function preserveCompileOptions(spec: PreserveSpec): {
  readonly reservedChain: (table: string, chain: string) => string | undefined;
  readonly foreignChainHint: (table: string, chain: string) => string | undefined;
} {
  return { reservedChain: (table, chain) => reservedChainProblem(spec, table, chain), foreignChainHint: preserveHint };
}

export function preserveHint(table: string, chain: string): string | undefined {
  if ((BUILTIN_CHAINS[table] ?? []).includes(chain)) return undefined;
  for (const [name, preset] of Object.entries(PRESETS)) {
    if (!preset.chains.some((g) => globToRegExp(g).test(chain))) continue;
    return `it is made by other software (the preset @${name}): to add rules to it, preserve it (--preserve @${name}, or preserve: in the agent's configuration); nfgit then keeps that software's rules in it`;
  }
  return undefined;
}

/**
 * The canonical form recorded at the last apply, if it can stand for nfgit's own part: it must declare
 * no preserved chain that nfgit's recorded ruleset (`recordedText`, its restore input) does not. A form
 * saved from the live target by an older nfgit holds the other software's chains too, and claiming
 * from it would take their rules (Docker's own jump to DOCKER-USER) for nfgit's and drop them.
 */
export function trustedOwnForm(form: string | undefined, recordedText: string | undefined, spec: PreserveSpec): string | undefined {
  if (form === undefined || recordedText === undefined) return undefined;
  const declared = parseSave(recordedText);
  for (const [table, saved] of parseSave(form)) {
    const mine = new Set((declared.get(table)?.chains ?? []).map((d) => d.slice(1).split(' ')[0] ?? ''));
    for (const d of saved.chains) {
      const name = d.slice(1).split(' ')[0] ?? '';
      if (preservingPattern(spec, table, name) !== undefined && !mine.has(name)) return undefined;
    }
  }
  return form;
}

/**
 * What a rollback puts back in one family when chains are preserved: nfgit's part of the snapshot
 * (`previous`: nfgit's part then) with the other software's part as it is now (in `current`, less
 * nfgit's part, `now`: the old and new parts), so that what Docker added while the new ruleset ran (a
 * container started during a probation) is kept. Counters of nfgit's rules are the snapshot's.
 */
export function withCurrentForeign(snapshot: string, current: string, spec: PreserveSpec, previous: OwnClaims, now: OwnClaims): string {
  if (spec.chains.length === 0 && spec.rules.length === 0) return snapshot;
  return mergePreserved(stripPreserved(snapshot, spec, previous), current, spec, now).text;
}

/**
 * nfgit's part of a save of the target after a restore that `mergePreserved(restoreText, snapshot,
 * spec, previous)` made: the save less what that merge carried over (for an interrupted apply, whose
 * merge is done again from its journal).
 */
export function ownFormAfter(
  saved: string,
  restoreText: string,
  snapshot: string,
  spec: PreserveSpec,
  previous: string | undefined,
): string {
  return withoutForeign(saved, mergePreserved(restoreText, snapshot, spec, ownClaims(previous)).foreign);
}
