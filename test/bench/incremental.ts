// The incremental apply rows of `npm run bench`: at each size, the base ruleset applied into a named
// namespace, then each change of changes.ts applied on top of it, once on the path nfgit chooses and
// once with --full, each from the base ruleset; the whole command and its own `durationMs` (the part
// after compiling) are timed, the path it took is read from `apply --json`, and the counters of a rule
// the change leaves alone are set before and read after. Both applies of a change must leave the same
// ruleset in the kernel.

import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { CHANGES, changedRules, type Change, type ChangedRules } from './changes.js';
import { addNetns, delNetns, run, seedRuns, settleFor, writeCheckedRules, type Size } from './measure.js';
import { CHANGE_LABELS, countRules, firstDifference, firstLines, NO_INCREMENTAL, normalizeSave, type IncrementalCells } from './report.js';

/** What one `nfgit apply --json` run said. */
interface Applied {
  /** Wall clock of the whole command. */
  readonly seconds: number;
  /** Its durationMs: from after compiling to the end. */
  readonly postSeconds: number;
  /** "incremental (3 commands)", "full (first apply)"; undefined when the build prints no path. */
  readonly path: string | undefined;
}

/** One apply of RULES into the run's namespace and state directory; throws what went wrong. */
async function applyJson(
  size: Size,
  ns: { netns: string; state: string },
  rules: string,
  what: string,
  timed: boolean,
  extra: string[] = [],
): Promise<Applied> {
  const { bench } = size;
  if (timed) await settleFor(bench, `${size.n} rules, ${what}`);
  const args = [bench.cli, 'apply', '--rules', rules, '--netns', ns.netns, '--state-dir', ns.state, '--json', ...extra];
  const r = await run(process.execPath, args, { cwd: bench.root, env: bench.env, timeoutSeconds: bench.opts.timeoutSeconds });
  if (r.timedOut || r.code !== 0)
    throw new Error(
      `${what}: ${r.timedOut ? 'timed out' : `exit ${r.code ?? r.signal}`}\n    command: node ${args.join(' ')}\n    stderr:\n${firstLines(r.stderr, 20).replace(/^/gm, '      ')}`,
    );
  let report: { durationMs?: unknown; path?: { kind?: unknown; reason?: unknown; changes?: unknown } };
  try {
    report = JSON.parse(r.stdout.trim()) as typeof report;
  } catch {
    throw new Error(`${what}: apply --json printed no JSON object: ${firstLines(r.stdout, 3)}`);
  }
  if (typeof report.durationMs !== 'number') throw new Error(`${what}: apply --json has no durationMs`);
  const kind = report.path?.kind;
  const changes = report.path?.changes;
  const path =
    typeof kind !== 'string'
      ? undefined
      : kind === 'full'
        ? `full (${String(report.path?.reason ?? '?')})`
        : `${kind}${typeof changes === 'number' ? ` (${changes} command${changes === 1 ? '' : 's'})` : ''}`;
  return { seconds: r.seconds, postSeconds: report.durationMs / 1000, path };
}

/** Runs an iptables tool inside the namespace; throws with its message when it fails. */
function inNetns(netns: string, tool: string, args: string[]): string {
  const r = spawnSync('ip', ['netns', 'exec', netns, tool, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} in ${netns} failed: ${(r.stderr ?? '').trim() || `exit ${r.status}`}`);
  return r.stdout;
}

/** The words of a rule as `iptables -S` prints it: only double quotes group, a backslash escapes inside them. */
export function splitRule(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let started = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] ?? '';
    if (quoted) {
      if (ch === '\\' && i + 1 < line.length) word += line[++i] ?? '';
      else if (ch === '"') quoted = false;
      else word += ch;
    } else if (ch === '"') {
      quoted = started = true;
    } else if (ch === ' ') {
      if (started) words.push(word);
      word = '';
      started = false;
    } else {
      word += ch;
      started = true;
    }
  }
  if (started) words.push(word);
  return words;
}

const COUNTERS = ['7', '700'] as const;

/** Sets the counters of the first rule of CHAIN (IPv4 filter) to 7 packets, 700 bytes, leaving the rule as it is; returns the rule. */
function setCounters(netns: string, chain: string): string {
  const rule = inNetns(netns, 'iptables', ['-t', 'filter', '-S', chain, '1']).trim();
  const words = splitRule(rule);
  if (words[0] !== '-A' || words[1] !== chain) throw new Error(`iptables -S ${chain} 1 printed "${rule}"`);
  inNetns(netns, 'iptables', ['-t', 'filter', '-R', chain, '1', '-c', ...COUNTERS, ...words.slice(2)]);
  return rule;
}

/** "kept (7/700)", "reset (0/0)", or that the first rule of CHAIN is no longer RULE. */
function readCounters(netns: string, chain: string, rule: string): string {
  const shown = inNetns(netns, 'iptables', ['-t', 'filter', '-S', chain, '1', '-v']).trim();
  const m = / -c (\d+) (\d+)/.exec(shown);
  if (m === null || shown.replace(m[0], '') !== rule) return `gone (rule 1 of ${chain} is now: ${shown})`;
  return m[1] === COUNTERS[0] && m[2] === COUNTERS[1] ? `kept (${m[1]}/${m[2]})` : `reset (${m[1]}/${m[2]})`;
}

/** The namespace's ruleset, both families, normalized as the loaders' comparison does, and its rule count. */
function savedRuleset(netns: string): { text: string; rules: number } {
  const s4 = inNetns(netns, 'iptables-save', []);
  const s6 = inNetns(netns, 'ip6tables-save', []);
  return { text: normalizeSave(s4) + normalizeSave(s6), rules: countRules(s4) + countRules(s6) };
}

const emptyCells = (what: string): IncrementalCells => ({
  what,
  whole: { samples: [] },
  post: { samples: [] },
  fullWhole: { samples: [] },
  fullPost: { samples: [] },
  paths: [],
  counters: [],
});

/** The incremental apply rows of one size (bench.incremental). */
export async function measureIncremental(size: Size): Promise<void> {
  const { bench, n } = size;
  const results = new Map<Change, IncrementalCells>();
  bench.incremental.set(n, results);
  const changes: Array<[Change, ChangedRules, string]> = [];
  for (const c of CHANGES) {
    const changed = changedRules(n, c);
    const dir = join(size.dir, `rules-${c}`);
    await writeCheckedRules(bench, dir, changed.generated);
    changes.push([c, changed, dir]);
    results.set(c, emptyCells(changed.what));
  }
  if (!size.cliBuilt) {
    for (const cells of results.values()) for (const cell of [cells.whole, cells.post, cells.fullWhole, cells.fullPost]) cell.text = 'n/a';
    return;
  }
  const noFull = "this build's `nfgit apply` has no `--full`: the --full rows are plain applies (a full reload in such a build).";
  if (!bench.applyFull && !bench.notes.includes(noFull)) bench.notes.push(noFull);
  // The rows' baseline, the seed script's full reload, run at the start of each round: beside them in time.
  const seed = seedRuns(size, 'seedIncremental');
  for (let k = 0; k < bench.opts.runs; k++) {
    await seed.run(k);
    const ns = { netns: addNetns(), state: join(size.dir, `incremental-state-${k}`) };
    let current: Change | undefined;
    try {
      await applyJson(size, ns, size.rules, 'base ruleset', false);
      for (const [c, changed, dir] of changes) {
        current = c;
        await applyChange(size, ns, results.get(c) ?? emptyCells(''), c, changed, dir);
      }
    } catch (err) {
      bench.problem(
        `${n} rules, incremental apply, run ${k + 1}${current === undefined ? '' : `, ${CHANGE_LABELS[current]}`}: ${(err as Error).message}`,
      );
      for (const [c, cells] of results) {
        for (const cell of [cells.whole, cells.post, cells.fullWhole, cells.fullPost])
          if (c === current) cell.text = 'error';
          else if (cell.samples.length <= k) cell.text ??= 'not run (an earlier step failed)';
      }
      return;
    } finally {
      delNetns(ns.netns);
      rmSync(ns.state, { recursive: true, force: true });
    }
  }
  // A build whose apply --json says nothing of its path has no incremental apply: its "incremental" applies were full reloads.
  for (const cells of results.values()) if (cells.paths.every((p) => p === 'none')) cells.whole.text = cells.post.text = NO_INCREMENTAL;
}

const GENERATION_NOTE =
  'incremental rows: the counters of an unchanged rule are set with `iptables -R -c`, a commit; an untimed apply of the base ruleset (0 commands) follows, so that the timed apply starts, as after traffic, from the generation nfgit recorded (no save of the live ruleset). After a commit by another program an apply saves both families first: at 50000 rules about 0.5-1 s more.';

/** One change, one run: counters set, base applied again (a no-op), apply (timed), counters read, base again, apply --full (timed), base again. */
async function applyChange(
  size: Size,
  ns: { netns: string; state: string },
  cells: IncrementalCells,
  c: Change,
  changed: ChangedRules,
  dir: string,
): Promise<void> {
  const { bench, n } = size;
  const name = CHANGE_LABELS[c];
  const expected = changed.generated.v4 + changed.generated.v6;
  const rule = setCounters(ns.netns, changed.counterChain);
  // Setting counters (iptables -R -c) is a commit, as another program's change would be; traffic, which
  // moves counters in real use, commits nothing. The same base ruleset applied again (no command, untimed)
  // records the namespace's generation, as any apply or the agent's next check would: the timed apply
  // then knows the live ruleset without saving it (README, "Applying only what changed").
  await applyJson(size, ns, size.rules, `${name}: base ruleset again, after setting counters`, false);
  if (!bench.notes.includes(GENERATION_NOTE)) bench.notes.push(GENERATION_NOTE);
  const inc = await applyJson(size, ns, dir, `${name}: apply`, true);
  cells.whole.samples.push(inc.seconds);
  cells.post.samples.push(inc.postSeconds);
  cells.paths.push(inc.path ?? 'none');
  cells.counters.push(readCounters(ns.netns, changed.counterChain, rule));
  const after = savedRuleset(ns.netns);
  if (after.rules !== expected) bench.problem(`${n} rules, ${name}: apply left ${after.rules} rules, expected ${expected}`);
  await applyJson(size, ns, size.rules, `${name}: base ruleset again`, false);
  const full = await applyJson(size, ns, dir, `${name}: apply --full`, true, bench.applyFull ? ['--full'] : []);
  cells.fullWhole.samples.push(full.seconds);
  cells.fullPost.samples.push(full.postSeconds);
  if (full.path !== undefined && !full.path.startsWith('full'))
    bench.problem(`${n} rules, ${name}: apply --full took the ${full.path} path`);
  const afterFull = savedRuleset(ns.netns);
  if (afterFull.text !== after.text)
    bench.problem(
      `${n} rules, ${name}: apply and apply --full of the same change left different rulesets, first difference at ${firstDifference(afterFull.text, after.text)} (expected: --full; got: apply)`,
    );
  await applyJson(size, ns, size.rules, `${name}: base ruleset again`, false);
  bench.log(
    `  ${name}: apply ${inc.seconds.toFixed(3)} s (after compiling ${inc.postSeconds.toFixed(3)} s, path ${inc.path ?? 'none'}), ` +
      `--full ${full.seconds.toFixed(3)} s (after compiling ${full.postSeconds.toFixed(3)} s); counters ${cells.counters.at(-1) ?? '?'}`,
  );
}
