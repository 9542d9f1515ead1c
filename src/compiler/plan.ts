import { createHash } from 'node:crypto';
import { formatLocation, type SourceLocation, type SourceTrace } from '../errors/source-location.js';
import type { CompileResult } from './compile.js';
import type { RenderedRuleset } from './render-restore.js';
import type { RenderedIpsets } from './render-ipset.js';
import { bytesOf } from '../util/text-bytes.js';

/** The machine-readable plan written beside rules.v4 and rules.v6. */
export interface Plan {
  readonly nfgitPlan: 1;
  readonly rulesDir: string;
  readonly host: string;
  readonly files: readonly string[];
  readonly families: {
    readonly ipv4: FamilyPlan;
    readonly ipv6: FamilyPlan;
  };
  readonly hostCommands: ReadonlyArray<{ readonly argv: readonly string[]; readonly at: string; readonly calledFrom: readonly string[] }>;
  /** The sets (file `ipsets`, ipset restore input), when the rule files create any. */
  readonly ipsets?: IpsetsPlan;
}

/** The sets: the restore input's digest, the set names in load order, and the source of each line. */
export interface IpsetsPlan {
  readonly file: string;
  readonly digest: string;
  readonly sets: readonly string[];
  readonly members: number;
  readonly sourceMap: ReadonlyArray<readonly [number, ...string[]]>;
}

/** Per family: what the restore input holds, its digest, and the source of each line. */
export interface FamilyPlan {
  readonly file: string;
  readonly digest: string;
  readonly rules: number;
  readonly userChains: number;
  readonly usedTables: readonly string[];
  /** `[restoreLine, "FILE:LINE", …callers]` for every line that came from a rule file. */
  readonly sourceMap: ReadonlyArray<readonly [number, ...string[]]>;
}

/** The last texts hashed and their digests: an apply asks for the same ruleset's digest several times. */
const recentDigests: Array<readonly [string, string]> = [];

/** sha256 of a ruleset text, as `sha256:HEX`. */
export function digestOf(text: string): string {
  const known = recentDigest(text);
  if (known !== undefined) return known;
  // A large text is hashed from its bytes (bytesOf, kept for its other uses): sha256 of 4 MB takes 3 ms
  // with SHA extensions, hashing the string encodes it into fresh memory first (~20 ms on our VMs).
  // Hashed on the main thread: WebCrypto's digest in libuv's threads copies the bytes there first (20 ms).
  const digest = `sha256:${createHash('sha256').update(bytesOf(text)).digest('hex')}`;
  remember(text, digest);
  return digest;
}

/** The digest of the same string (or an equal one: a comparison costs far less than sha256) hashed a moment ago. */
function recentDigest(text: string): string | undefined {
  for (const [t, d] of recentDigests) if (t === text) return d;
  return undefined;
}

/**
 * Large texts only (small ones cost nothing to hash), and twelve of them: an apply's new rulesets, the
 * recorded ones and their canonical forms, the plan and the new canonical forms (hashed ahead, see
 * StateDir.stageCanonicalAhead), each asked for more than once (with eight, the plan's digests were
 * hashed again after the others had pushed them out).
 */
function remember(text: string, digest: string): void {
  if (text.length < 1 << 16) return;
  recentDigests.unshift([text, digest]);
  recentDigests.length = Math.min(recentDigests.length, 12);
}

/**
 * A source map as the plan writes it. Locations and whole traces shared by many lines (compile.ts) are
 * formatted once: a 50k-rule plan has 50k entries and a few hundred distinct traces.
 */
function planSourceMap(map: ReadonlyMap<number, SourceTrace>): Array<readonly [number, ...string[]]> {
  const formatted = new Map<SourceLocation, string>();
  const format = (loc: SourceLocation): string => {
    let s = formatted.get(loc);
    if (s === undefined) {
      s = formatLocation(loc);
      formatted.set(loc, s);
    }
    return s;
  };
  const traces = new Map<SourceTrace, string[]>();
  const out: Array<readonly [number, ...string[]]> = [];
  for (const [line, trace] of map) {
    let locs = traces.get(trace);
    if (locs === undefined) {
      locs = trace.map(format);
      traces.set(trace, locs);
    }
    const entry: [number, ...string[]] = [line];
    for (const l of locs) entry.push(l);
    out.push(entry);
  }
  return out;
}

/** How buildPlan makes a source map: planSourceMap, or planJson's placeholder. */
type SourceMapMaker = (name: string, map: ReadonlyMap<number, SourceTrace>) => Array<readonly [number, ...string[]]>;

function familyPlan(file: string, rs: RenderedRuleset, sourceMap: SourceMapMaker): FamilyPlan {
  return {
    file,
    digest: digestOf(rs.text),
    rules: rs.ruleCount,
    userChains: rs.chainCount,
    usedTables: rs.usedTables,
    sourceMap: sourceMap(file, rs.sourceMap),
  };
}

function ipsetsPlan(rs: RenderedIpsets, sourceMap: SourceMapMaker): IpsetsPlan {
  return {
    file: 'ipsets',
    digest: digestOf(rs.text),
    sets: rs.sets.map((s) => s.name),
    members: rs.memberCount,
    sourceMap: sourceMap('ipsets', rs.sourceMap),
  };
}

/**
 * plan.json's text, the same as `JSON.stringify(buildPlan(result), null, 1) + '\n'` byte for byte
 * (`compact`: `JSON.stringify(buildPlan(result)) + '\n'`, as the state directory keeps it),
 * with the source maps (50k entries at 50k rules, and most of the text) written directly: each
 * distinct trace's text once, no array an entry. This is on the path of every `nfgit compile`.
 */
export function planJson(result: CompileResult, compact = false): string {
  const maps = new Map<string, ReadonlyMap<number, SourceTrace>>();
  // A placeholder string per source map: NUL is in no path, host name or argument the plan holds.
  const placeholder: SourceMapMaker = (name, map) => {
    const token = `\u0000nfgit-source-map-${name}`;
    maps.set(token, map);
    return token as unknown as Array<readonly [number, ...string[]]>;
  };
  const plan = buildPlan(result, placeholder);
  let text = (compact ? JSON.stringify(plan) : JSON.stringify(plan, null, 1)) + '\n';
  for (const [token, map] of maps) {
    const quoted = JSON.stringify(token);
    const at = text.indexOf(quoted);
    const lineStart = text.lastIndexOf('\n', at) + 1;
    const indent = compact ? undefined : (/^ */.exec(text.slice(lineStart, at))?.[0].length ?? 0);
    text = text.slice(0, at) + sourceMapJson(map, indent) + text.slice(at + quoted.length);
  }
  return text;
}

/**
 * A source map as JSON.stringify(planSourceMap(map)) writes it, or with `indent` as
 * JSON.stringify(planSourceMap(map), null, 1) writes it under a key indented by that much.
 */
function sourceMapJson(map: ReadonlyMap<number, SourceTrace>, indent?: number): string {
  if (map.size === 0) return '[]';
  // Where JSON.stringify(…, null, 1) puts a newline and spaces: before an entry, an item, the closings.
  const entry = indent === undefined ? '' : `\n${' '.repeat(indent + 1)}`;
  const item = indent === undefined ? '' : `\n${' '.repeat(indent + 2)}`;
  const outer = indent === undefined ? '' : `\n${' '.repeat(indent)}`;
  const formatted = new Map<SourceLocation, string>();
  const tails = new Map<SourceTrace, string>();
  const parts: string[] = [];
  for (const [line, trace] of map) {
    let tail = tails.get(trace);
    if (tail === undefined) {
      tail = '';
      for (const loc of trace) {
        let f = formatted.get(loc);
        if (f === undefined) {
          f = JSON.stringify(formatLocation(loc));
          formatted.set(loc, f);
        }
        tail += `,${item}${f}`;
      }
      tail += `${entry}]`;
      tails.set(trace, tail);
    }
    parts.push(`${entry}[${item}${line}${tail}`);
  }
  return `[${parts.join(',')}${outer}]`;
}

/** Builds the plan of a compile result (`sourceMap` makes each source map; planJson gives placeholders). */
export function buildPlan(result: CompileResult, sourceMap: SourceMapMaker = (_, map) => planSourceMap(map)): Plan {
  return {
    nfgitPlan: 1,
    rulesDir: result.rulesDir,
    host: result.host,
    files: result.files,
    families: { ipv4: familyPlan('rules.v4', result.ipv4, sourceMap), ipv6: familyPlan('rules.v6', result.ipv6, sourceMap) },
    hostCommands: result.hostCommands.map((c) => {
      const [first, ...rest] = c.trace;
      return { argv: c.argv, at: first === undefined ? '' : formatLocation(first), calledFrom: rest.map(formatLocation) };
    }),
    ...(result.ipsets.sets.length === 0 ? {} : { ipsets: ipsetsPlan(result.ipsets, sourceMap) }),
  };
}
