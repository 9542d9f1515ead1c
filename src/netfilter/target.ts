import { existsSync } from 'node:fs';
import { UsageError } from '../errors/errors.js';
import { runProcess, type ProcessResult } from '../util/run-process.js';
import { toolEnv } from '../util/sandbox.js';

/** Where rules are applied: the host's own network namespace, or a named one (`ip netns add NAME`). */
export interface Target {
  readonly netns: string | undefined;
}

/** The host, or the named namespace. */
export function describeTarget(target: Target): string {
  return target.netns === undefined ? 'the host' : `network namespace ${target.netns}`;
}

/** Checks that a named namespace exists, so that nothing is applied to the host by mistake. */
export function checkTarget(target: Target): void {
  if (target.netns === undefined) return;
  if (!/^[A-Za-z0-9_.-]+$/.test(target.netns) || !existsSync(`/run/netns/${target.netns}`)) {
    throw new UsageError(`network namespace "${target.netns}" does not exist (no /run/netns/${target.netns}); create it with "ip netns add ${target.netns}" or check the name`);
  }
}

/**
 * Runs a tool against the target. The tools are found on PATH (so a host's own or a test's
 * failing stand-in is used), inside the namespace through `ip netns exec` when one is named.
 */
export function runInTarget(target: Target, argv: readonly string[], options: { input?: string; timeoutMs?: number; untilExit?: boolean } = {}): Promise<ProcessResult> {
  const [file, ...args] = target.netns === undefined ? argv : ['ip', 'netns', 'exec', target.netns, ...argv];
  return runProcess(file as string, args, { ...options, env: toolEnv(), timeoutMs: options.timeoutMs ?? 300_000 });
}
