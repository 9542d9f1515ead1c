// `npm run bench`: measures `nfgit compile`, `nfgit check` and `nfgit apply` at 1k, 10k and 50k
// rules against baselines measured in the same run, and prints seconds and ratios as a markdown
// table (also written to .bench/results.md). Targets are reported, never asserted: timed assertions
// do not belong in tests.
//
//   npm run bench                                   sizes 1000,10000,50000, 3 runs each
//   npm run bench -- --sizes 1000 --runs 1          quick pass
//   npm run bench -- --sections calls,incremental   only the calls and incremental apply rows (and the seed script)
//   npm run bench -- --sequential-all               also run sequential iptables beyond 1k (slow)
//   node dist/test/bench/bench.js --emit DIR        only write the generated rule directories
//   npm run bench -- --agent-only                   only the agent section (test/bench/agent-bench.ts)
//   npm run bench -- --fleet                        only the fleet section (test/bench/fleet-bench.ts, .bench/fleet.md)
//
// This file is the order of the steps; the work is in options.ts (the command line), generate.ts
// (the rule directories), changes.ts (the changes the incremental rows apply), measure.ts (processes,
// namespaces, the timed steps), incremental.ts (the incremental apply rows) and report.ts (the tables,
// ratios, targets and results.md).

import { join } from 'node:path';
import { emitRules } from './generate.js';
import {
  applyRuns,
  bundledStartup,
  checkRuns,
  cleanup,
  compareLoads,
  compileRuns,
  finishNotes,
  floorRuns,
  installCleanup,
  interleave,
  measureAgent,
  measureCalls,
  measureFleet,
  prepareSize,
  restoreRuns,
  seedRuns,
  sequentialRuns,
  startBench,
  type Bench,
} from './measure.js';
import { measureIncremental } from './incremental.js';
import { parseOptions } from './options.js';
import { writeReport } from './report.js';
import { writeFleetReport } from './fleet-report.js';

/**
 * One size: generate the rules, the baselines and nfgit's commands, then compare what each loaded;
 * then the calls rows and the incremental apply rows (--sections).
 */
async function measureSize(bench: Bench, n: number): Promise<void> {
  const { sections } = bench.opts;
  const size = await prepareSize(bench, n);
  let compiledOut: string | undefined;
  if (sections.has('rules')) {
    // One run of every row in turn, K times (measure.ts interleave). The restore baseline loads
    // nfgit's own output, so it comes after compile in each round.
    const compile = compileRuns(size);
    await interleave(size, [
      floorRuns(size),
      seedRuns(size),
      sequentialRuns(size),
      compile.measurement,
      restoreRuns(size, compile.out),
      checkRuns(size),
      applyRuns(size),
    ]);
    compiledOut = compile.out();
    compareLoads(size, compiledOut);
  } else if (sections.has('compile')) {
    // The main table's compile row and its floor alone.
    const compile = compileRuns(size);
    await interleave(size, [floorRuns(size), compile.measurement]);
    compiledOut = compile.out();
  }
  if (sections.has('calls')) await measureCalls(size, compiledOut);
  if (sections.has('incremental')) await measureIncremental(size);
}

async function main(): Promise<void> {
  installCleanup();
  const opts = parseOptions(process.argv.slice(2));
  if (opts.emit !== undefined) {
    emitRules(opts.emit, opts.sizes);
    return;
  }
  const bench = startBench(opts);
  if (opts.fleet) {
    const result = await measureFleet(bench);
    finishNotes(bench);
    if (result !== undefined)
      writeFleetReport({
        result,
        startedAt: bench.startedAt,
        notes: bench.notes,
        problems: bench.problems,
        outDir: join(bench.root, '.bench'),
      });
    return;
  }
  for (const n of opts.rules ? opts.sizes : []) await measureSize(bench, n);
  const agent = opts.agent ? await measureAgent(bench) : undefined;
  finishNotes(bench);
  writeReport({
    opts,
    results: bench.results,
    incremental: bench.incremental,
    startedAt: bench.startedAt,
    startup: bundledStartup(bench.root, bench.tmp),
    agent,
    notes: bench.notes,
    problems: bench.problems,
    outDir: join(bench.root, '.bench'),
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  cleanup();
  process.exit(1);
});
