import test from 'ava';
import { buildPlan, planJson } from '../../src/compiler/plan.js';
import type { CompileResult } from '../../src/compiler/compile.js';
import type { RenderedRuleset } from '../../src/compiler/render-restore.js';
import type { RenderedIpsets } from '../../src/compiler/render-ipset.js';
import type { SourceLocation, SourceTrace } from '../../src/errors/source-location.js';

const loc = (file: string, line: number): SourceLocation => ({ file, line });

function ruleset(text: string, sourceMap: Map<number, SourceTrace>): RenderedRuleset {
  return { text, sourceMap, tableLines: new Map(), ruleCount: sourceMap.size, chainCount: 1, usedTables: ['filter'], problems: [] };
}

function result(ipsets: boolean): CompileResult {
  // Traces shared between lines (a loop), locations shared between traces (a helper), names to escape.
  const helper = loc('rules/05 "helpers"\\é', 3);
  const loop: SourceTrace = [helper, loc('rules/10-a', 7)];
  const v4 = new Map<number, SourceTrace>([
    [4, [loc('rules/10-a', 2)]],
    [5, loop],
    [6, loop],
    [7, [helper, loc('rules/10-a\u0001', 9), loc('rules/20', 0)]],
  ]);
  // Enough entries to outgrow sourceMapJson's first buffer, line numbers of every width.
  for (let i = 0; i < 20_000; i++) v4.set(10 + i * 53, i % 3 === 0 ? loop : [loc(`rules/ü-${i % 7}`, i)]);
  const sets: RenderedIpsets = {
    text: ipsets ? 'create s hash:ip\n' : '',
    sourceMap: ipsets ? new Map([[1, [loc('rules/30', 1)]]]) : new Map(),
    sets: ipsets ? [{ name: 's', type: 'hash:ip', createArgs: [], members: [] }] : [],
    memberCount: 0,
    problems: [],
  } as unknown as RenderedIpsets;
  return {
    rulesDir: 'rules',
    files: ['rules/05 "helpers"\\é', 'rules/10-a'],
    host: 'web-1',
    ipv4: ruleset('*filter\n-A INPUT -j ACCEPT\nCOMMIT\n', v4),
    ipv6: ruleset('*filter\nCOMMIT\n', new Map()),
    ipsets: sets,
    hostCommands: [{ argv: ['sysctl', '-w', 'a=1'], trace: [loc('rules/10-a', 12), loc('rules/20', 3)] }],
    output: '',
  };
}

test("planJson writes what JSON.stringify writes of buildPlan's plan, byte for byte", (t) => {
  for (const withSets of [false, true]) {
    const r = result(withSets);
    t.is(planJson(r), JSON.stringify(buildPlan(r), null, 1) + '\n', `ipsets: ${withSets}`);
    // Compact, as the state directory keeps it.
    t.is(planJson(r, true), JSON.stringify(buildPlan(r)) + '\n', `compact, ipsets: ${withSets}`);
  }
});
