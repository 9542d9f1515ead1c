// The fleet section's report: two markdown tables (per fleet size; per number of concurrent agents),
// the targets of issue 14 as reported lines (never asserted), notes, problems and raw samples; printed
// on stdout and written to .bench/fleet.md.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { fmtBytes, type FleetBenchResult, type FleetSizeRow } from './fleet-bench.js';

/** What the report needs. */
export interface FleetReportInput {
  readonly result: FleetBenchResult;
  readonly startedAt: Date;
  readonly notes: readonly string[];
  readonly problems: readonly string[];
  /** Where fleet.md goes (.bench in the repository). */
  readonly outDir: string;
}

const STATUS_SECONDS = 5;
const STATUS_MIB = 200;
const BYTES_RATIO = 2;

function sizesTable(rows: readonly FleetSizeRow[]): string {
  return [
    '| hosts | status tags | generate | `nfgit status --json` | status peak RSS | status bytes | agent pass, new commit | bytes per pass | of which tag push | idle pass bytes |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.hosts.toLocaleString('en-US')} | ${r.tags.toLocaleString('en-US')} | ${r.generateSeconds.toFixed(1)} s | ${r.status} | ${r.statusRss} | ${r.statusBytes} | ${r.pass} | ${fmtBytes(r.passBytes)} | ${r.tagPushBytes} | ${r.idleBytes} |`,
    ),
  ].join('\n');
}

function agentsTable(result: FleetBenchResult): string {
  return [
    '| agents | hosts in repository | push → all applied | → all tagged | failed passes | failed pushes | server CPU per idle poll | bytes per idle poll | server CPU per agent pass |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...result.agents.map(
      (r) =>
        `| ${r.agents} | ${r.hosts.toLocaleString('en-US')} | ${r.converge} | ${r.tagged} | ${r.failedPasses} | ${r.failedPushes} | ${r.cpuPerPoll} | ${r.bytesPerPoll} | ${r.cpuPerAgentPass} |`,
    ),
  ].join('\n');
}

/** The targets, each with what this run measured and whether it met it. */
function targetLines(result: FleetBenchResult): string[] {
  const out: string[] = [];
  const at5k = result.sizes.find((r) => r.hosts === 5000);
  if (at5k === undefined)
    out.push(`- nfgit status at 5,000 hosts under ${STATUS_SECONDS} s and ${STATUS_MIB} MiB: not measured (5,000 not in --fleet-sizes)`);
  else {
    const seconds = Number.parseFloat(at5k.status);
    const mib = Number.parseFloat(at5k.statusRss);
    const met = /^[\d.]+ s$/.test(at5k.status) && seconds < STATUS_SECONDS && mib < STATUS_MIB;
    out.push(
      `- nfgit status at 5,000 hosts under ${STATUS_SECONDS} s and ${STATUS_MIB} MiB: ${at5k.status}, ${at5k.statusRss} — ${met ? 'met' : 'NOT met'}`,
    );
  }
  const measured = result.sizes.filter((r) => Number.isFinite(r.passBytes));
  const small = measured[0];
  const large = measured.at(-1);
  if (small === undefined || large === undefined || small === large)
    out.push(`- bytes per agent pass within ${BYTES_RATIO}x across sizes: needs two sizes`);
  else {
    const ratio = large.passBytes / small.passBytes;
    out.push(
      `- bytes per agent pass within ${BYTES_RATIO}x between ${small.hosts.toLocaleString('en-US')} and ${large.hosts.toLocaleString('en-US')} hosts: ` +
        `${fmtBytes(small.passBytes)} → ${fmtBytes(large.passBytes)}, ratio ${ratio.toFixed(2)} — ${ratio <= BYTES_RATIO ? 'met' : 'NOT met'}`,
    );
  }
  for (const r of result.agents) {
    out.push(`- 0 failed pushes with ${r.agents} concurrent agents: ${r.failedPushes} — ${r.failedPushes === '0' ? 'met' : 'NOT met'}`);
  }
  return out;
}

const bullets = (lines: readonly string[]): string[] => lines.map((s) => `- ${s}`);

/** Prints the tables and targets and writes fleet.md. */
export function writeFleetReport(r: FleetReportInput): void {
  const tables = [
    ...(r.result.sizes.length > 0 ? [sizesTable(r.result.sizes)] : []),
    ...(r.result.agents.length > 0 ? [agentsTable(r.result)] : []),
  ].join('\n\n');
  const targets = targetLines(r.result);
  const md = [
    '# nfgit fleet benchmark',
    '',
    `- date: ${r.startedAt.toISOString()}`,
    `- host: ${cpus().length} CPU(s) (${cpus()[0]?.model ?? '?'}), Linux ${release()}; node ${process.version}`,
    '',
    tables,
    '',
    '## Targets (reported, not asserted)',
    '',
    ...targets,
    '',
    '## What the cells are',
    '',
    ...bullets(r.result.notes),
    ...bullets(r.notes),
    '',
    '## Problems',
    '',
    ...(r.problems.length > 0 ? bullets(r.problems) : ['- none']),
    '',
    '## All samples',
    '',
    ...bullets(r.result.samples),
    '',
  ].join('\n');
  process.stdout.write('\n' + tables + '\n\nTargets (reported, not asserted):\n' + targets.join('\n') + '\n');
  if (r.notes.length > 0) process.stdout.write('\nNotes:\n' + bullets(r.notes).join('\n') + '\n');
  if (r.problems.length > 0) process.stdout.write('\nProblems:\n' + bullets(r.problems).join('\n') + '\n');
  mkdirSync(r.outDir, { recursive: true });
  writeFileSync(join(r.outDir, 'fleet.md'), md);
  process.stdout.write(`\n(written to ${join(r.outDir, 'fleet.md')})\n`);
}
