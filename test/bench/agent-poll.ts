// Child process of the agent bench: polls a branch exactly as `nfgit run` does each poll
// (openRepository once, then branchHead: an ls-refs over HTTP, or a ref read of a local repository)
// and prints the wall time of every poll and this process's CPU time as one JSON line. It runs in a
// process of its own so that the CPU time is the agent side's alone: the test git server answering
// the polls lives in the bench process.
//
//   node dist/test/bench/agent-poll.js URL TOKEN_FILE|- STATE_DIR POLLS WARMUP

import { performance } from 'node:perf_hooks';
import { branchHead, openRepository } from '../../src/git/follower.js';
import { DEFAULT_IDLE_TIMEOUT_MS } from '../../src/git/transport.js';

/** What the bench reads back from the child. */
export interface PollReport {
  /** The branch head every poll returned (they must all agree). */
  readonly head: string;
  /** Wall time of each timed poll, milliseconds. */
  readonly wallMs: number[];
  /** This process's CPU time over all the timed polls, microseconds (user + system). */
  readonly cpuUs: number;
}

async function main(): Promise<void> {
  const [url, tokenFile, stateDir, polls, warmup] = process.argv.slice(2);
  if (url === undefined || tokenFile === undefined || stateDir === undefined || polls === undefined || warmup === undefined) {
    throw new Error('usage: agent-poll.js URL TOKEN_FILE|- STATE_DIR POLLS WARMUP');
  }
  const repo = await openRepository(
    { url, branch: 'main', tokenFile: tokenFile === '-' ? null : tokenFile },
    stateDir,
    DEFAULT_IDLE_TIMEOUT_MS,
  );
  const heads = new Set<string>();
  // Untimed polls first: module loading, JIT and the first connection are start-up costs, not a poll's.
  for (let i = 0; i < Number(warmup); i++) heads.add(await branchHead(repo));
  const wallMs: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < Number(polls); i++) {
    const t0 = performance.now();
    heads.add(await branchHead(repo));
    wallMs.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  if (heads.size !== 1) throw new Error(`the polls saw ${heads.size} different heads: ${[...heads].join(', ')}`);
  const report: PollReport = { head: [...heads][0] ?? '', wallMs, cpuUs: cpu.user + cpu.system };
  process.stdout.write(JSON.stringify(report) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`agent-poll: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
