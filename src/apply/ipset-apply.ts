import { randomBytes } from 'node:crypto';
import { SandboxError } from '../errors/errors.js';
import { describeTarget, type Target } from '../netfilter/target.js';
import { destroySet, parseIpsetSave, restoreSets, saveSets, type SavedSet } from '../netfilter/ipset-driver.js';

/** The sets of a ruleset to apply: ipset restore input (`create`/`add` lines) and the names it owns. */
export interface IpsetsRuleset {
  readonly text: string;
  readonly digest: string;
  /** The set names, in load order: what nfgit owns on the target once applied (recorded in last-good.json). */
  readonly sets: readonly string[];
}

/** What the journal keeps of the sets: the target's `ipset save` before, and the sets the apply may create. */
export interface IpsetsJournal {
  readonly snapshot: string;
  /** Sets of the new ruleset that the target did not have: destroyed again by a rollback. */
  readonly created: readonly string[];
  /**
   * The sets nfgit owned before this apply (the last good record's): finishing an apply interrupted
   * after both families destroys those the new ruleset no longer has, as the apply would have.
   * Absent from journals of older versions.
   */
  readonly owned?: readonly string[];
}

/** A temporary set name unique to this run, within the kernel's 31 characters. */
function tempName(run: string, i: number): string {
  return `nfgit-${run}-${i}`;
}

/** Temporary sets of nfgit (left behind only by a run that was killed mid-swap). */
const TEMP_NAME = /^nfgit-[0-9a-f]{8}-\d+$/;

/**
 * ipset restore input that replaces each set's content at once: fill a temporary set, create the live
 * one empty if it is absent, swap them (ipset.8: swap exchanges the contents under the names, and
 * rules refer to the set, so packets see the old or the new members, never a half-filled set), then
 * destroy the temporary. A set whose type changes cannot be swapped: it is destroyed and created.
 */
export function swapScript(sets: readonly SavedSet[], live: ReadonlyMap<string, SavedSet>): string {
  const run = randomBytes(4).toString('hex');
  const out: string[] = [];
  sets.forEach((s, i) => {
    const now = live.get(s.name);
    if (now !== undefined && (now.type !== s.type || now.family !== s.family)) {
      out.push(`destroy ${s.name}`, `create ${s.name} ${s.create}`, ...s.adds.map((a) => `add ${s.name} ${a}`));
      return;
    }
    const tmp = tempName(run, i);
    out.push(`create ${tmp} ${s.create}`, ...s.adds.map((a) => `add ${tmp} ${a}`));
    if (now === undefined) out.push(`create ${s.name} ${s.create}`);
    out.push(`swap ${tmp} ${s.name}`, `destroy ${tmp}`);
  });
  return out.length === 0 ? '' : out.join('\n') + '\n';
}

/** Snapshots the target's sets before an apply that has sets or had some; undefined when neither. */
export async function snapshotSets(
  target: Target,
  desired: IpsetsRuleset | undefined,
  ownedBefore: readonly string[],
): Promise<IpsetsJournal | undefined> {
  if (desired === undefined && ownedBefore.length === 0) return undefined;
  const snapshot = await saveSets(target);
  const had = new Set(parseIpsetSave(snapshot).map((s) => s.name));
  return { snapshot, created: (desired?.sets ?? []).filter((n) => !had.has(n)), owned: [...ownedBefore] };
}

/** Puts the new sets on the target (before any rule that matches them), each replaced at once. */
export async function applySets(target: Target, desired: IpsetsRuleset, journal: IpsetsJournal): Promise<void> {
  const live = new Map(parseIpsetSave(journal.snapshot).map((s) => [s.name, s]));
  await restoreSets(target, swapScript(parseIpsetSave(desired.text), live), 'loading the new sets');
}

/** Destroys sets nfgit owned before that the new ruleset no longer has (after the rules stopped using them). */
export async function destroyStaleSets(
  target: Target,
  desired: IpsetsRuleset | undefined,
  ownedBefore: readonly string[],
  journal: IpsetsJournal,
): Promise<string[]> {
  const keep = new Set(desired?.sets ?? []);
  const live = new Set(parseIpsetSave(journal.snapshot).map((s) => s.name));
  const left: string[] = [];
  for (const name of ownedBefore) {
    if (keep.has(name) || !live.has(name)) continue;
    // Still used by a rule nfgit does not own (a preserved chain): leave it.
    if (!(await destroySet(target, name)).ok) left.push(name);
  }
  return left;
}

/** First half of a rollback: every set of the snapshot gets its old members back (swapped in at once). */
export async function rollbackSetContents(target: Target, journal: IpsetsJournal): Promise<void> {
  const now = parseIpsetSave(await saveSets(target));
  // Temporary sets of an interrupted swap.
  for (const s of now) if (TEMP_NAME.test(s.name)) await destroySet(target, s.name);
  const live = new Map(now.filter((s) => !TEMP_NAME.test(s.name)).map((s) => [s.name, s]));
  await restoreSets(target, swapScript(parseIpsetSave(journal.snapshot), live), 'putting the previous sets back');
}

/**
 * Second half, once the old rules are back: destroys the sets the failed apply created. A set the
 * rules just put back match on is left, with a warning: those rules are the snapshot's, so they had
 * the set before (its snapshot missed it), and a rollback that insisted would fail at every command.
 */
export async function destroyCreatedSets(target: Target, journal: IpsetsJournal): Promise<string[]> {
  const live = new Set(parseIpsetSave(await saveSets(target)).map((s) => s.name));
  const failed: string[] = [];
  const inUse: string[] = [];
  for (const name of journal.created) {
    if (!live.has(name)) continue;
    const r = await destroySet(target, name);
    if (r.ok) continue;
    if (/in use by a kernel component/.test(r.stderr)) inUse.push(name);
    else failed.push(`${name} (${r.stderr.trim()})`);
  }
  if (failed.length > 0)
    throw new SandboxError(`could not destroy the sets the failed apply created in ${describeTarget(target)}: ${failed.join(', ')}`);
  return inUse.map(
    (name) =>
      `set ${name}, which the undone apply was to create, stays in ${describeTarget(target)}: the rules put back use it (so it was there before, though the snapshot did not list it); check its members, or run restore-last to load the last good sets`,
  );
}
