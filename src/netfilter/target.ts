import { existsSync } from 'node:fs';
import { UsageError } from '../errors/errors.js';
import { runProcess, runSpawned, type ProcessResult } from '../util/run-process.js';
import { execLine, startWaitingShells, takeWaitingShell } from '../util/waiting-shells.js';
import { toolEnv } from '../util/sandbox.js';

/**
 * Where rules are applied: the host's own network namespace (`netns` undefined), or a named one
 * (`ip netns add NAME`). Built once per entry point (targetOf: a flag, a setting, a record), so that
 * the rest of nfgit never meets the other spellings of "the host" (null in JSON files, absent flags).
 */
export interface Target {
  readonly netns: string | undefined;
}

/** The host's own network namespace. */
export const HOST: Target = Object.freeze({ netns: undefined });

/**
 * The one rule for a namespace name, wherever it comes from (--netns, the configuration, a state
 * file). It must be one path component under /run/netns (so not "." or "..", which name /run/netns
 * itself and /run) and never read as an option by `ip netns exec` (no leading "-"). The ".." and
 * ".lock" exclusions are the configuration's rule for names (host names go in tag names), kept so
 * that a configuration valid before stays valid and says the same when it is not.
 */
const NETNS_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const NETNS_NAME_RULE = 'a name of letters, digits, ".", "_" and "-" that starts with a letter or digit (no "..", not ending in ".lock")';

/** What is wrong with a namespace name, or undefined when it is one. */
export function netnsNameProblem(name: string): string | undefined {
  const ok = NETNS_NAME.test(name) && !name.includes('..') && !name.endsWith('.lock');
  return ok ? undefined : `must be ${NETNS_NAME_RULE}, not ${JSON.stringify(name)}`;
}

/**
 * The target a flag or setting names: the host when none is (undefined, null), else the namespace.
 * `where` says where the name came from (`--netns`), for the message of a bad name.
 */
export function targetOf(netns: string | null | undefined, where = '--netns'): Target {
  if (netns === undefined || netns === null) return HOST;
  const problem = netnsNameProblem(netns);
  if (problem !== undefined) throw new UsageError(`${where} ${problem}`);
  return { netns };
}

/** Whether two targets are the same namespace (or both the host). */
export function sameTarget(a: Target, b: Target): boolean {
  return a.netns === b.netns;
}

/** The host, or the named namespace. */
export function describeTarget(target: Target): string {
  return target.netns === undefined ? 'the host' : `network namespace ${target.netns}`;
}

/** How the journal, last-good.json and `diff --json` write a target (null for the host). */
export interface TargetJson {
  readonly netns: string | null;
}

export function targetToJson(target: Target): TargetJson {
  return { netns: target.netns ?? null };
}

/** The target of a record whose schema has checked the name (isTargetJson). */
export function targetFromJson(json: TargetJson): Target {
  return json.netns === null ? HOST : { netns: json.netns };
}

/** Whether a name read from a file is one targetOf accepts (or null, the host): the schemas of the state files use it. */
export function isTargetJsonName(netns: string | null): boolean {
  return netns === null || netnsNameProblem(netns) === undefined;
}

/** The file that stands for the target's network namespace (also what the target lock locks). */
export function namespaceFile(target: Target): string {
  return target.netns === undefined ? '/proc/self/ns/net' : `/run/netns/${target.netns}`;
}

/** Whether the target is there: the host always is, a named namespace while /run/netns/NAME is. */
export function targetExists(target: Target): boolean {
  return target.netns === undefined || existsSync(namespaceFile(target));
}

/** Checks that a named namespace exists, so that nothing is applied to the host by mistake. */
export function checkTarget(target: Target): void {
  if (target.netns === undefined) return;
  // A target built by hand (not by targetOf) is checked too: "." or ".." would pass for an existing namespace.
  const problem = netnsNameProblem(target.netns);
  if (problem !== undefined) throw new UsageError(`network namespace ${problem}`);
  if (targetExists(target)) return;
  const name = target.netns;
  throw new UsageError(
    `network namespace "${name}" does not exist (no /run/netns/${name}); create it with "ip netns add ${name}" or check the name`,
  );
}

/** The command line that runs ARGV in the target: through `ip netns exec` when a namespace is named. */
export function commandInTarget(target: Target, argv: readonly string[]): readonly string[] {
  return target.netns === undefined ? argv : ['ip', 'netns', 'exec', target.netns, ...argv];
}

/**
 * Runs a tool against the target. The tools are found on PATH (so a host's own or a test's
 * failing stand-in is used), inside the namespace through `ip netns exec` when one is named.
 */
export function runInTarget(
  target: Target,
  argv: readonly string[],
  options: { input?: string; timeoutMs?: number; untilExit?: boolean } = {},
): Promise<ProcessResult> {
  const timeoutMs = options.timeoutMs ?? 300_000;
  const shell = takeWaitingShell(shellsKey(target), execLine(argv));
  if (shell !== undefined) return runSpawned(shell, { ...options, timeoutMs });
  const [file, ...args] = commandInTarget(target, argv);
  return runProcess(file as string, args, { ...options, env: toolEnv(), timeoutMs });
}

/** The key of the shells started ahead in the target (waiting-shells.ts). */
const shellsKey = (target: Target): string => `target:${target.netns ?? ''}`;

/**
 * Starts `count` shells in the target, each waiting to become a tool that runInTarget runs (restore
 * tools, host commands): started while the rule files run, so that after the compile a tool starts
 * without a spawn of nfgit's large process or `ip netns exec`'s setup. `release` ends those not taken.
 */
export function startTargetShells(target: Target, count: number): { release(): void } {
  return startWaitingShells(shellsKey(target), count, commandInTarget(target, ['/bin/sh', '-c']), toolEnv());
}
