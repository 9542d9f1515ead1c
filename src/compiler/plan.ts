import { createHash } from 'node:crypto';
import { formatLocation, type SourceLocation, type SourceTrace } from '../errors/source-location.js';
import type { CompileResult } from './compile.js';
import type { RenderedRuleset } from './render-restore.js';
import type { RenderedIpsets } from './render-ipset.js';

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

/** sha256 of a ruleset text, as `sha256:HEX`. */
export function digestOf(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
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

function familyPlan(file: string, rs: RenderedRuleset): FamilyPlan {
  return {
    file,
    digest: digestOf(rs.text),
    rules: rs.ruleCount,
    userChains: rs.chainCount,
    usedTables: rs.usedTables,
    sourceMap: planSourceMap(rs.sourceMap),
  };
}

function ipsetsPlan(rs: RenderedIpsets): IpsetsPlan {
  return {
    file: 'ipsets',
    digest: digestOf(rs.text),
    sets: rs.sets.map((s) => s.name),
    members: rs.memberCount,
    sourceMap: planSourceMap(rs.sourceMap),
  };
}

/** Builds the plan of a compile result. */
export function buildPlan(result: CompileResult): Plan {
  return {
    nfgitPlan: 1,
    rulesDir: result.rulesDir,
    host: result.host,
    files: result.files,
    families: { ipv4: familyPlan('rules.v4', result.ipv4), ipv6: familyPlan('rules.v6', result.ipv6) },
    hostCommands: result.hostCommands.map((c) => {
      const [first, ...rest] = c.trace;
      return { argv: c.argv, at: first === undefined ? '' : formatLocation(first), calledFrom: rest.map(formatLocation) };
    }),
    ...(result.ipsets.sets.length === 0 ? {} : { ipsets: ipsetsPlan(result.ipsets) }),
  };
}
