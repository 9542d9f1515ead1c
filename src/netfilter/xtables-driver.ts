// The iptables/ip6tables edge: every command line of the save and restore tools (and of nft where a
// table must go) is here, so that the transaction (apply/) says what to do to a family, not how.
import { SandboxError } from '../errors/errors.js';
import { FAMILY_NAME, type Family } from '../compiler/parse-argv.js';
import { BUILTIN_CHAINS } from '../compiler/tables.js';
import { restoreTool, saveTool, type Backend } from './backend.js';
import { parseRestoreError } from './restore-errors.js';
import { diffSaves, sameTables } from './compare-saves.js';
import type { RestoreRun, RulesetDriver } from './driver.js';
import { isEmptyTable, parseSave } from './save-text.js';
import { describeTarget, runInTarget, type Target } from './target.js';

/**
 * How long one restore may take. A restore of tens of thousands of rules takes seconds; one that runs
 * longer has hung (a stuck nf_tables transaction, a tool waiting on the xtables lock), and while it
 * hangs the other family already runs the new ruleset: the families are split until it is killed
 * and both are put back.
 */
export const DEFAULT_RESTORE_TIMEOUT_MS = 60_000;

/**
 * Loads restore input into one family of the target within the time limit (`counters`: with the
 * counters the input holds, as a rollback puts them back; `noflush`: the input's commands run on the
 * tables as they are, the incremental apply); a run that hit the limit says so.
 */
export async function restoreFamily(
  target: Target,
  family: Family,
  input: string,
  options: { counters?: boolean; timeoutMs?: number | undefined; noflush?: boolean } = {},
): Promise<RestoreRun> {
  const limit = options.timeoutMs ?? DEFAULT_RESTORE_TIMEOUT_MS;
  const argv = [restoreTool(family), ...(options.counters === true ? ['-c'] : []), ...(options.noflush === true ? ['--noflush'] : [])];
  const r = await runInTarget(target, argv, { input, timeoutMs: limit });
  const hung = r.timedOut
    ? `${restoreTool(family)} hung: no answer within ${limit / 1000} s (--restore-timeout), so it was killed`
    : undefined;
  return { code: r.code, stderr: r.stderr, hung };
}

/** The message of a failed restore: the tool's own, or that it hung. */
export function restoreFailure(r: Pick<RestoreRun, 'stderr' | 'hung'>): string {
  return r.hung ?? parseRestoreError(r.stderr).message;
}

/** Saves one family of the target (with counters, so a rollback puts them back too). */
export async function saveFamily(target: Target, family: Family): Promise<string> {
  const r = await runInTarget(target, [saveTool(family), '-c']);
  if (r.code !== 0) {
    const hint = family === 'ipv6' ? ' If this host has IPv6 disabled, manage IPv4 only with --ipv4-only.' : '';
    throw new SandboxError(
      `${saveTool(family)} failed in ${describeTarget(target)}: ${r.stderr.trim() || `exit status ${r.code}`}.${hint}`,
      { family },
    );
  }
  return r.stdout;
}

/** The tables iptables(-nft) itself makes: other nft tables (firewalld, nft scripts) are not in its saves. */
const XTABLES = new Set(['filter', 'nat', 'mangle', 'raw', 'security']);

/** nft's name of a family's table family. */
function nftFamily(family: Family): string {
  return family === 'ipv4' ? 'ip' : 'ip6';
}

/** The iptables tables the kernel holds for a family, asked without the save tool; undefined when it cannot be told. */
async function kernelTables(target: Target, backend: Backend, family: Family): Promise<string[] | undefined> {
  if (backend.kind === 'nf_tables') {
    if (backend.nft === undefined) return undefined;
    const r = await runInTarget(target, [backend.nft, 'list', 'tables', nftFamily(family)]).catch(() => undefined);
    if (r === undefined || r.code !== 0) return undefined;
    return [...r.stdout.matchAll(/^table ip6? (\S+)$/gm)].map((m) => m[1] as string).filter((t) => XTABLES.has(t));
  }
  // Legacy: the kernel lists the tables loaded in this namespace (read from inside it).
  const r = await runInTarget(target, ['cat', `/proc/net/${nftFamily(family)}_tables_names`]).catch(() => undefined);
  if (r === undefined || r.code !== 0) return undefined;
  return r.stdout.split('\n').filter((t) => XTABLES.has(t.trim()));
}

/**
 * A snapshot is what a rollback puts back: an empty one would empty the family. A save tool that printed
 * nothing (or no table at all) while the kernel holds iptables tables is broken, not a sign of an empty
 * ruleset: stop before the kernel is touched. Anything that parses is taken as it is (drift is legal).
 */
export async function checkSnapshot(target: Target, backend: Backend, family: Family, snap: string): Promise<void> {
  if (parseSave(snap).size > 0) return;
  const tool = saveTool(family);
  const garbage = snap.split('\n').some((l) => l.trim() !== '' && !l.startsWith('#'));
  const tables = garbage ? undefined : await kernelTables(target, backend, family);
  if (!garbage && (tables === undefined || tables.length === 0)) return;
  const why = garbage
    ? 'printed no table block (output that is not a ruleset)'
    : `printed no table while the kernel holds the ${FAMILY_NAME[family]} ${tables?.join(', ')} table${tables?.length === 1 ? '' : 's'}`;
  throw new SandboxError(
    `${tool} -c ${why} in ${describeTarget(target)}: the snapshot a rollback would put back cannot be trusted, so nothing was changed. Check that ${tool} on PATH is the real one and works (run ${tool} there), then retry`,
    { family },
  );
}

function emptyBlock(table: string): string {
  return [`*${table}`, ...(BUILTIN_CHAINS[table] ?? []).map((c) => `:${c} ACCEPT [0:0]`), 'COMMIT', ''].join('\n');
}

/**
 * Puts one family of the target back on `text` (a snapshot, with counters): restores its tables, then
 * removes the tables of `current` (the family's save just before) that it does not have (with nft;
 * where nft cannot, they are flushed instead), then checks that the family holds exactly `text`.
 */
export async function rollbackRestore(
  target: Target,
  backend: Backend,
  family: Family,
  text: string,
  current: string,
  timeoutMs: number | undefined,
): Promise<void> {
  const before = parseSave(text);
  if (before.size > 0) {
    const r = await restoreFamily(target, family, text, { counters: true, timeoutMs });
    if (r.code !== 0) {
      throw new SandboxError(
        `${restoreTool(family)} could not load the previous ${FAMILY_NAME[family]} ruleset back: ${restoreFailure(r)}`,
        { family },
      );
    }
  }
  const flushedOnly: string[] = [];
  for (const table of parseSave(current).keys()) {
    if (before.has(table)) continue;
    const removed =
      backend.nft !== undefined && (await runInTarget(target, [backend.nft, 'delete', 'table', nftFamily(family), table])).code === 0;
    if (removed) continue;
    const r = await restoreFamily(target, family, emptyBlock(table), { timeoutMs });
    if (r.code !== 0)
      throw new SandboxError(
        `could not flush the ${FAMILY_NAME[family]} ${table} table that the failed apply created: ${restoreFailure(r)}`,
        { family },
      );
    flushedOnly.push(table);
  }
  // Trust no exit status: the family must now hold exactly the snapshot (tables only flushed where
  // they could not be removed count as empty).
  const now = parseSave(await saveFamily(target, family));
  for (const t of flushedOnly) if (isEmptyTable(now.get(t))) now.delete(t);
  if (!sameTables(before, now)) {
    throw new SandboxError(
      `after putting the previous ${FAMILY_NAME[family]} ruleset back, ${saveTool(family)} still shows a different ruleset`,
      { family },
    );
  }
}

/** The iptables tools as the transaction's driver. */
export const XTABLES_DRIVER: RulesetDriver = {
  save: saveFamily,
  checkSnapshot,
  restore: restoreFamily,
  rollbackRestore,
  compare: diffSaves,
};
