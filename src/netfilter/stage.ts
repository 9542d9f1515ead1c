import { NfgitError, NfgitErrors, RuleError, SandboxError } from '../errors/errors.js';
import { TOOL, type Family } from '../compiler/parse-argv.js';
import type { RenderedRuleset } from '../compiler/render-restore.js';
import type { RenderedIpsets } from '../compiler/render-ipset.js';
import { parseRestoreError } from './restore-errors.js';
import { withIpsetFile } from './stage-ipsets.js';
import { runInScratchNetns, sandboxFailure, spawnInScratchNetns } from '../util/sandbox.js';
import { SPLIT_MIN_RULES, splitStaging, type StagingSplit } from './stage-split.js';
import { availableParallelism } from 'node:os';
import { bytesOf } from '../util/text-bytes.js';

/** Options of staging. */
export interface StageOptions {
  /** Stop after this many errors in one family. */
  readonly maxErrors?: number;
  /**
   * Also save each family back from its scratch namespace once it loaded: the kernel's canonical form
   * of the new ruleset (what iptables-save will show after applying it), for the summary of what an
   * apply changes. The save goes on in the background after stage() returns.
   */
  readonly canonical?: boolean;
  /** The sets the rules match on: loaded first (and checked on their own) in every staging namespace. */
  readonly ipsets?: RenderedIpsets;
  /**
   * The caller waits for the canonical forms (an incremental apply computes its difference from the
   * skeleton's save): saved at normal priority. Otherwise the save runs niced, as it goes on while the
   * apply restores the target.
   */
  readonly canonicalNow?: boolean;
  /**
   * A family of at least this many rules is staged in two namespaces at once (stage-split.ts);
   * SPLIT_MIN_RULES by default. Infinity stages every family whole.
   */
  readonly splitMinRules?: number;
}

/** What staging gives back: the canonical forms, when asked for. */
export interface StageResult {
  readonly canonical: Partial<Record<Family, Promise<string>>>;
}

/**
 * Loads both families into throwaway network namespaces with the real restore tools, so the kernel
 * validates every match and target; maps each failure back to the rule file and line through the
 * source map. Reports several independent errors: a failing rule is commented out (line numbers
 * stay) and the load retried. Throws NfgitErrors; the namespaces end with their processes.
 */
export async function stage(
  rulesets: Readonly<Partial<Record<Family, RenderedRuleset>>>,
  options: StageOptions = {},
): Promise<StageResult> {
  const families = (['ipv4', 'ipv6'] as const).filter((f) => rulesets[f] !== undefined);
  // On two CPUs a family with more than half of all the rules is split (stage-split.ts): the parts and
  // the other family then keep both busy until the end.
  const total = families.reduce((n, f) => n + (rulesets[f]?.ruleCount ?? 0), 0);
  const splitMin = (f: Family): number =>
    (rulesets[f]?.ruleCount ?? 0) * 2 > total ? (options.splitMinRules ?? SPLIT_MIN_RULES) : Infinity;
  const canonical: Partial<Record<Family, Promise<string>>> = {};
  // Sets live in the network namespace: each staging namespace gets them before its rules (`pre`).
  return withIpsetFile(options.ipsets, async (pre) => {
    const results = await Promise.all(
      families.map((f) =>
        stageFamily(
          f,
          rulesets[f] as RenderedRuleset,
          options.maxErrors ?? 20,
          pre,
          splitMin(f),
          options.canonical === true ? { deliver: (p) => (canonical[f] = p), nice: options.canonicalNow !== true } : undefined,
        ),
      ),
    );
    const errors = results.flat();
    if (errors.length > 0) throw new NfgitErrors(errors);
    return { canonical };
  });
}

/** Loads restore input (a text, or pieces of its bytes: a part of a split, stage-split.ts) into a scratch namespace. */
async function load(family: Family, input: string | readonly Uint8Array[], pre: string): Promise<{ ok: boolean; stderr: string }> {
  const r = await runInScratchNetns(`${pre}exec ${TOOL[family]}-restore`, [], { input });
  return { ok: r.code === 0, stderr: r.stderr };
}

const STAGED = 'nfgit-staged\n';

/** Where a staged family's save goes, and whether it runs niced (StageOptions.canonicalNow). */
interface SaveTo {
  readonly deliver: (save: Promise<string>) => void;
  readonly nice: boolean;
}

/** Loads like load(), and once loaded saves the namespace back; the save is delivered through `onSave`. */
function loadThenSave(
  family: Family,
  input: string | readonly Uint8Array[],
  pre: string,
  onSave: SaveTo,
): Promise<{ ok: boolean; stderr: string }> {
  const tool = TOOL[family];
  const child = spawnInScratchNetns(
    `${pre}${tool}-restore || exit $?; printf '${STAGED.replace('\n', '\\n')}'; exec ${onSave.nice ? 'nice -n 10 ' : ''}${tool}-save`,
    input,
  );
  let out = '';
  let err = '';
  let staged = false;
  return new Promise((resolve, reject) => {
    let saveDone: (text: string) => void = () => {};
    let saveFailed: (e: Error) => void = () => {};
    const save = new Promise<string>((res, rej) => {
      saveDone = res;
      saveFailed = rej;
    });
    save.catch(() => {});
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString('utf8');
      if (!staged && out.startsWith(STAGED)) {
        staged = true;
        onSave.deliver(save);
        resolve({ ok: true, stderr: err });
      }
    });
    child.stderr?.on('data', (b: Buffer) => (err += b.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      if (!staged) {
        const failure = sandboxFailure(err);
        if (failure !== undefined) reject(failure);
        else resolve({ ok: false, stderr: err });
        return;
      }
      if (code === 0) saveDone(out.slice(STAGED.length));
      else saveFailed(new SandboxError(`${tool}-save of the staged ruleset failed: ${err.trim()}`, { family }));
    });
  });
}

async function stageFamily(
  family: Family,
  rs: RenderedRuleset,
  maxErrors: number,
  pre: string,
  splitMin: number,
  onSave?: SaveTo,
): Promise<NfgitError[]> {
  // A large family loads in two namespaces at once (stage-split.ts) where there are two CPUs.
  const split = availableParallelism() > 1 ? splitStaging(rs, splitMin) : undefined;
  if (split !== undefined && (await stageSplit(family, rs.text, split, pre, onSave))) return [];
  const tool = TOOL[family];
  // The input as lines only once a load failed (a failing rule is then commented out): 50k rules load
  // as they are.
  let lines: string[] | undefined;
  const errors: NfgitError[] = [];
  const fail = (message: string, line: number | undefined): NfgitError => {
    const trace = line === undefined ? undefined : rs.sourceMap.get(line);
    return new RuleError(`${tool}: ${message}`, { trace: trace ?? [], family });
  };
  let first = true;
  while (errors.length < maxErrors) {
    const input = lines?.join('\n') ?? rs.text;
    const r = first && onSave !== undefined ? await loadThenSave(family, rs.text, pre, onSave) : await load(family, input, pre);
    first = false;
    if (r.ok) break;
    lines ??= rs.text.split('\n');
    const f = parseRestoreError(r.stderr);
    if (f.line === undefined) {
      const hint = family === 'ipv6' ? ' (if this host has IPv6 disabled, use --ipv4-only)' : '';
      errors.push(fail(f.message + hint, undefined));
      break;
    }
    let culprit: number | undefined = f.line;
    if (!isRuleLine(lines[f.line - 1]) || !rs.sourceMap.has(f.line)) {
      // Blamed on COMMIT or a declaration: the kernel refused the table as a whole. Find the first rule that breaks it.
      culprit = await bisect(family, lines, rs, f.line, pre);
      if (culprit === undefined) {
        errors.push(fail(f.message, f.line));
        break;
      }
    }
    const again = culprit === f.line ? f : parseRestoreError((await load(family, probe(lines, rs, culprit).join('\n'), pre)).stderr);
    errors.push(fail(again.message, culprit));
    lines[culprit - 1] = '#';
  }
  return errors;
}

/**
 * Stages the two parts of a split family at once. True when both loaded (the save, when asked for, is
 * the merge of theirs); false when either refused: the caller then stages the whole ruleset, whose
 * errors and lines are the ones reported, as if it had not been split.
 */
async function stageSplit(family: Family, text: string, split: StagingSplit, pre: string, onSave?: SaveTo): Promise<boolean> {
  const saves: Array<Promise<string>> = [];
  // The parts as pieces of the text's bytes (encoded once, and hashed from the same buffer), where a
  // character is a byte: written as they are, not encoded again part by part.
  const bytes = bytesOf(text);
  const inputs =
    bytes.length === text.length ? split.pieces.map((part) => part.map(([from, to]) => bytes.subarray(from, to))) : split.inputs;
  const results = await Promise.all(
    inputs.map((input, i) =>
      onSave === undefined
        ? load(family, input, pre)
        : loadThenSave(family, input, pre, { deliver: (p) => (saves[i] = p), nice: onSave.nice }),
    ),
  );
  if (!results.every((r) => r.ok)) return false;
  if (onSave !== undefined) {
    const merged = Promise.all(saves).then(
      (texts) => split.merge([texts[0] ?? '', texts[1] ?? '']) ?? wholeSave(family, text, pre, onSave.nice),
    );
    merged.catch(() => {});
    onSave.deliver(merged);
  }
  return true;
}

/** The save of the whole ruleset, loaded in one namespace: when the saves of its two parts do not merge. */
async function wholeSave(family: Family, text: string, pre: string, nice: boolean): Promise<string> {
  let save: Promise<string> | undefined;
  const r = await loadThenSave(family, text, pre, { deliver: (p) => (save = p), nice });
  if (!r.ok || save === undefined) {
    throw new SandboxError(`${TOOL[family]}-restore of the whole staged ruleset failed after both its parts loaded: ${r.stderr.trim()}`, {
      family,
    });
  }
  return save;
}

function isRuleLine(line: string | undefined): boolean {
  return line !== undefined && line.startsWith('-A ');
}

/** The input up to the table holding `line`, with that table's rules after `line` left out. */
function probe(lines: readonly string[], rs: RenderedRuleset, line: number): string[] {
  const t = [...rs.tableLines.values()].find((x) => x.header <= line && line <= x.commit);
  if (t === undefined) return [...lines];
  return lines.slice(0, t.commit).map((l, i) => (i + 1 > line && i + 1 < t.commit && isRuleLine(l) ? '#' : l));
}

/** Binary search for the first rule line of the failing table whose addition makes the load fail. */
async function bisect(
  family: Family,
  lines: readonly string[],
  rs: RenderedRuleset,
  blamed: number,
  pre: string,
): Promise<number | undefined> {
  const t = [...rs.tableLines.values()].find((x) => x.header <= blamed && blamed <= x.commit);
  if (t === undefined) return undefined;
  const rules: number[] = [];
  for (let n = t.header + 1; n < t.commit; n++) if (isRuleLine(lines[n - 1])) rules.push(n);
  if (rules.length === 0) return undefined;
  const failsWith = async (k: number): Promise<boolean> => {
    const keep = new Set(rules.slice(0, k));
    const text = lines
      .slice(0, t.commit)
      .map((l, i) => (i + 1 > t.header && i + 1 < t.commit && isRuleLine(l) && !keep.has(i + 1) ? '#' : l));
    return !(await load(family, text.join('\n'), pre)).ok;
  };
  if (await failsWith(0)) return undefined;
  let lo = 1;
  let hi = rules.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (await failsWith(mid)) hi = mid;
    else lo = mid + 1;
  }
  return rules[lo - 1];
}
