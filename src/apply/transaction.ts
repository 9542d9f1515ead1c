import { randomUUID } from 'node:crypto';
import { mark } from '../util/timings.js';
import { rmSync } from 'node:fs';
import { InternalError, RollbackError, RuleError, SandboxError } from '../errors/errors.js';
import { FAMILY_NAME, type Family } from '../compiler/parse-argv.js';
import { restoreTool, type Backend } from '../netfilter/backend.js';
import { XTABLES_DRIVER } from '../netfilter/xtables-driver.js';
import { parseRestoreError } from '../netfilter/restore-errors.js';
import type { RulesetChange } from '../netfilter/compare-saves.js';
import { selectTables, tableNames, withoutAbsentEmptyTables } from '../netfilter/save-text.js';
import {
  afterOwnCommits,
  commitsOf,
  readGeneration,
  sameGeneration,
  type Generation,
  type GenerationReader,
} from '../netfilter/generation.js';
import { withCountersOf } from '../netfilter/carry-counters.js';
import { describeTarget, sameTarget, targetExists, targetFromJson, targetToJson, type Target } from '../netfilter/target.js';
import {
  mergePreserved,
  NO_PRESERVE,
  ownClaims,
  ownFormAfter,
  stripPreserved,
  trustedOwnForm,
  withCurrentForeign,
  withoutForeign,
  type ForeignLines,
  type OwnClaims,
  type PreserveSpec,
} from '../netfilter/preserve.js';
import { hasProbation, holdProbation, ProbeError, type Probation } from './probation.js';
import { applySets, destroyCreatedSets, destroyStaleSets, rollbackSetContents, snapshotSets, type IpsetsJournal } from './ipset-apply.js';
import { saveSets } from '../netfilter/ipset-driver.js';
import { canonicalSets, countSets, diffSets, type SetCounts } from '../netfilter/set-diff.js';
import { CorruptStateFile } from './state-records.js';
import { decideIncrement, type ApplyPath, type IncrementRequest, type StagedForms } from './apply-path.js';
import type { FamilyScript } from '../netfilter/increment.js';
import { isDiskFull } from '../util/durable-file.js';
import {
  PreparedLastGood,
  journalRulesOf,
  readOrNothing,
  type AppliedRuleset,
  type CanonicalForms,
  type Journal,
  type LastGood,
  type StateDir,
} from './state-files.js';

/** How the transaction saves, restores, puts back and compares a family's ruleset (netfilter/driver.ts). */
const DRIVER = XTABLES_DRIVER;

/** What applying did to one family. */
export interface FamilyOutcome {
  readonly family: Family;
  readonly tables: readonly string[];
  readonly rules: number;
  /** Against the snapshot; undefined when the new ruleset could not be read back (it is applied all the same). */
  readonly change: RulesetChange | undefined;
}

/** What applying did to the sets: how many the ruleset has, and what changed against the snapshot. */
export interface SetsOutcome {
  readonly sets: number;
  /** Undefined when the sets could not be saved back after the apply (they are applied all the same). */
  readonly change: SetCounts | undefined;
}

/** What applying did: per family, and to the sets (undefined when neither the new nor the old ruleset has sets). */
export interface TransactionOutcome {
  readonly families: FamilyOutcome[];
  readonly sets: SetsOutcome | undefined;
  /** What could not be written to a full disk and did not stop a restore-last. */
  readonly warnings: string[];
  /** The whole ruleset reloaded, or only the difference. */
  readonly path: ApplyPath;
}

/** What an apply is asked to load: the whole ruleset (and why), or the difference if the lock allows. */
export type TransactionPath = { readonly full: string } | { readonly increment: IncrementRequest };

/** Everything the transaction needs besides the ruleset. */
export interface TransactionContext {
  readonly target: Target;
  readonly backend: Backend;
  readonly families: readonly Family[];
  readonly state: StateDir;
  /** The command line, for the journal. */
  readonly command: string;
  /** Chains of other software (Docker, fail2ban…) carried over from the live ruleset; none by default. */
  readonly preserve?: PreserveSpec;
  /** Time limit of each restore tool run (apply and rollback); DEFAULT_RESTORE_TIMEOUT_MS by default. */
  readonly restoreTimeoutMs?: number;
  /**
   * The ruleset is the recorded last good one (restore-last): on a full disk it is loaded all the same,
   * without a journal and without rewriting the record. A host that boots with a full /var must not come
   * up without its firewall; an interrupted restore-last is repaired by running it again.
   */
  readonly reloadingLastGood?: boolean;
  /**
   * restore-last of an interrupted apply's ruleset that a full disk kept recovery from recording: its
   * journal (marked applied) stands for this load. It is not replaced, and goes only once the ruleset
   * is recorded.
   */
  readonly pendingJournal?: boolean;
  /**
   * Save the snapshot from the target even when its generation shows the recorded canonical form to be
   * the live ruleset (apply --full, restore-last): the slow way, which also keeps counters in the snapshot.
   */
  readonly saveLive?: boolean;
  /** Reads the target's generation without a process each (started ahead by deploy); readGeneration otherwise. */
  readonly generations?: GenerationReader;
}

/** The target's generation now (see generation.ts). */
function generationNow(ctx: TransactionContext): Promise<Generation | undefined> {
  return ctx.generations?.read(ctx.backend) ?? readGeneration(ctx.target, ctx.backend);
}

/** Removes the journal, except one that stands for this load until its ruleset is recorded. */
function dropJournal(ctx: TransactionContext): void {
  if (ctx.pendingJournal !== true) ctx.state.removeJournal();
}

/** The table whose block holds a line of restore input. */
function tableAtLine(text: string, line: number | undefined): string | undefined {
  if (line === undefined) return undefined;
  let table: string | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < Math.min(line, lines.length); i++) {
    const l = lines[i] as string;
    if (l.startsWith('*')) table = l.slice(1);
  }
  return table;
}

/**
 * Which rules are nfgit's in one family during an apply, for a rollback that keeps the other
 * software's current part of the preserved chains: nfgit's part before the apply, and its parts
 * before and after together (what the target may run now).
 */
export interface RollbackClaims {
  readonly previous: OwnClaims;
  readonly now: OwnClaims;
}

/**
 * Puts one family back on a snapshot: restores the snapshot's tables (with counters), then removes
 * the tables the snapshot did not have (with nft; where nft cannot, they are flushed instead). With
 * chains preserved and `claims` known, the preserved parts are taken as they are now, not as in the
 * snapshot.
 */
async function rollbackFamily(
  ctx: TransactionContext,
  family: Family,
  snapshot: string,
  claims?: RollbackClaims,
  fromRecord = false,
): Promise<void> {
  const current = await DRIVER.save(ctx.target, family);
  const counted = fromRecord ? withCountersOf(snapshot, current) : snapshot;
  const text =
    claims === undefined ? counted : withCurrentForeign(counted, current, ctx.preserve ?? NO_PRESERVE, claims.previous, claims.now);
  await DRIVER.rollbackRestore(ctx.target, ctx.backend, family, text, current, ctx.restoreTimeoutMs);
}

/**
 * Puts every family of the journal back on its snapshot; throws (keeping the journal) if any cannot be.
 * Returns warnings: what was left as it is (a created set the rules put back use).
 */
export async function rollback(
  ctx: TransactionContext,
  snapshot: Partial<Record<Family, string>>,
  sets?: IpsetsJournal,
  claims: Partial<Record<Family, RollbackClaims>> = {},
  /** The snapshot is the recorded canonical form, without counters (Journal.snapshotFromRecord). */
  fromRecord = false,
): Promise<string[]> {
  const failures: string[] = [];
  let warnings: string[] = [];
  // ipsets: the old members first (swapped in, so the old rules find them), the new sets once no rule uses them.
  if (sets !== undefined) await rollbackSetContents(ctx.target, sets).catch((err: Error) => failures.push(err.message));
  for (const family of ctx.families) {
    const snap = snapshot[family];
    if (snap === undefined) continue;
    try {
      await rollbackFamily(ctx, family, snap, claims[family], fromRecord);
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
  if (sets !== undefined) warnings = await destroyCreatedSets(ctx.target, sets).catch((err: Error) => (failures.push(err.message), []));
  if (failures.length > 0) {
    throw new RollbackError(
      `COULD NOT PUT THE PREVIOUS RULESET BACK in ${describeTarget(ctx.target)}: ${failures.join('; ')}. The host may be split (one family on the new rules, the other on the old). The journal in ${ctx.state.dir} is kept: the next nfgit command (apply, restore-last) retries the rollback; run nfgit restore-last to do it now`,
    );
  }
  return warnings;
}

/** An error message followed by what the rollback left as it is. */
function withWarnings(message: string, warnings: readonly string[]): string {
  return warnings.length === 0 ? message : `${message} (warning: ${warnings.join('; ')})`;
}

/**
 * Applies both families as one transaction. Snapshot both, write the journal durably, restore IPv4
 * then IPv6; on any failure put both snapshots back (iptables-restore commits table by table, so a
 * failed restore may have changed some tables). On success, record the last good ruleset.
 */
export async function applyTransaction(
  ctx: TransactionContext,
  desired: AppliedRuleset,
  /**
   * Staging, still running or done: the kernel touches nothing until it has passed. It gives the
   * canonical form of the new ruleset per family (else that is saved after applying).
   */
  staging: Promise<Partial<Record<Family, Promise<string>>>> = Promise.resolve({}),
  /** Probes and confirmation to pass before the new ruleset is kept; undefined: kept at once. */
  probation?: Probation,
  /** The difference (staging then holds the skeletons of the changed rules), or the whole ruleset; known once staging is. */
  path: TransactionPath | Promise<TransactionPath> = { full: 'restore-last loads the whole ruleset' },
): Promise<TransactionOutcome> {
  const preserve = ctx.preserve ?? NO_PRESERVE;
  const preserving = preserve.chains.length > 0 || preserve.rules.length > 0;
  // A damaged last-good.json is replaced by this apply; the sets it named are then not known to be nfgit's.
  const lastGood = readOrNothing(() => ctx.state.readLastGood());
  // Read before the snapshot: the generation recorded after the restores must follow from this one by
  // the restores' own commits, so that nothing committed by others since is taken as nfgit's.
  mark('tx start');
  const before = await generationNow(ctx);
  // Nothing committed since the last apply recorded its generation: the live ruleset is the recorded one.
  const unchanged = preserving || ctx.saveLive === true ? undefined : unchangedSinceRecord(ctx, lastGood, before);
  const snapshot: Partial<Record<Family, string>> = unchanged ?? {};
  if (unchanged === undefined) {
    const snaps = await Promise.all(ctx.families.map((f) => DRIVER.save(ctx.target, f)));
    ctx.families.forEach((f, i) => (snapshot[f] = snaps[i]));
    for (const family of ctx.families) await DRIVER.checkSnapshot(ctx.target, ctx.backend, family, snapshot[family] ?? '');
  }
  // ipsets (see ipset-apply.ts): snapshot, loaded before the families, stale ones destroyed after them.
  const ownedSets = lastGood?.ipsets?.sets ?? [];
  const sets = await snapshotSets(ctx.target, desired.ipsets, ownedSets);

  // Tables the rules do not use are flushed where they exist, and not created where they do not.
  const next: Partial<Record<Family, string>> = {};
  const tables: Partial<Record<Family, string[]>> = {};
  for (const family of ctx.families) {
    const want = desired.families[family];
    if (want === undefined) throw new InternalError(`internal error: no ${FAMILY_NAME[family]} ruleset to apply`);
    const keep = new Set([...want.usedTables, ...tableNames(snapshot[family] ?? '')]);
    next[family] = selectTables(want.text, keep);
    tables[family] = tableNames(next[family] ?? '');
  }

  const record: LastGood = {
    nfgitLastGood: 1,
    appliedAt: new Date().toISOString(),
    target: targetToJson(ctx.target),
    ...desired,
  };
  const journal: Journal = {
    nfgitJournal: 1,
    id: randomUUID(),
    command: ctx.command,
    started: new Date().toISOString(),
    target: targetToJson(ctx.target),
    families: ctx.families,
    snapshot,
    ...(unchanged === undefined ? {} : { snapshotFromRecord: true as const }),
    ...(sets === undefined ? {} : { ipsets: sets }),
    step: 'journaled',
    // The plan (a source map) is not needed to finish the apply: keep the journal lean.
    record: { ...record, plan: undefined },
  };
  // Everything so far only read; from here on the kernel changes, so staging must have passed.
  // The record's JSON, made once: in the journal now, in last-good.json once both families are done.
  const prepared = new PreparedLastGood(record);
  // Its rulesets (journal.v4/v6) are written meanwhile, off the main thread; the journal waits for them.
  const ahead = ctx.pendingJournal === true ? undefined : ctx.state.stageJournalRules(journalRulesOf(prepared));
  ahead?.catch(() => {});
  const serialized = ctx.state.sealedJournalNamingSnapshot(journal, prepared);
  const chosen = await choosePath(ctx, await path, await staging, lastGood, snapshot);
  const canonical = chosen.forms;
  const scripts = chosen.scripts;
  if (scripts !== undefined) for (const family of ctx.families) next[family] = scripts[family]?.script ?? '';
  // nfgit's part at the last apply (what it loaded, recorded for this same target), in canonical form.
  const previous: Partial<Record<Family, string>> = {};
  // What each merge carried over from the live ruleset: not nfgit's, so not in the record of what it applied.
  const foreign: Partial<Record<Family, ForeignLines>> = {};
  // A rollback keeps what the other software has in the preserved chains by then (a probation lasts).
  const claims: Partial<Record<Family, RollbackClaims>> = {};
  if (preserving) {
    for (const family of ctx.families) {
      const recordedHere = lastGood !== undefined && sameTarget(targetFromJson(lastGood.target), ctx.target);
      const form = recordedHere ? readOrNothing(() => ctx.state.readCanonical(family)) : undefined;
      previous[family] = trustedOwnForm(form, lastGood?.families[family]?.text, preserve);
      // nfgit's own rules, last applied and new, so that none of them is mistaken for a foreign one (kept twice).
      const own = await canonical[family]?.catch(() => undefined);
      const merged = mergePreserved(next[family] ?? '', snapshot[family] ?? '', preserve, ownClaims(previous[family], own));
      next[family] = merged.text;
      foreign[family] = merged.foreign;
      claims[family] = { previous: ownClaims(previous[family]), now: ownClaims(previous[family], own) };
    }
  }
  mark('path chosen');
  const warnings: string[] = [];
  // The difference was worked out from the ruleset as it was at `before`: a commit by another program
  // since (an admin's `iptables -I`) would shift the places its -D/-I/-R name. Looked at as late as
  // possible, before anything changes: read while the journal is written (which a change found then
  // takes back); the next apply sees the ruleset as it is then.
  const recheck = scripts !== undefined && before !== undefined ? generationNow(ctx) : undefined;
  recheck?.catch(() => {});
  let journaled = ctx.pendingJournal !== true;
  try {
    if (journaled) {
      await ahead;
      ctx.state.writeJournal(journal, serialized);
    }
  } catch (err) {
    if (ctx.reloadingLastGood === true && isDiskFull((err as Error).cause)) {
      journaled = false;
      warnings.push(`${(err as Error).message}: loading the last good ruleset without a journal (if interrupted, run restore-last again)`);
    } else {
      // Without a journal a crash half-way could leave the families split: the kernel is not touched.
      throw new SandboxError(
        `${(err as Error).message}. The journal could not be written, so nothing was changed: the kernel still runs its previous ruleset`,
        { cause: err },
      );
    }
  }
  mark('journal written');
  if (recheck !== undefined && !sameGeneration(before, await recheck)) {
    if (journaled) dropJournal(ctx);
    throw new SandboxError(
      `the ruleset of ${describeTarget(ctx.target)} changed while this apply worked out its difference (another program committed to it). Nothing was changed: run the apply again, which starts from the ruleset as it is then`,
    );
  }
  if (desired.ipsets !== undefined && sets !== undefined) {
    try {
      await applySets(ctx.target, desired.ipsets, sets);
    } catch (err) {
      let left: string[];
      try {
        left = await rollback(ctx, snapshot, sets, claims, unchanged !== undefined);
      } catch (e) {
        throw new RollbackError(`${(err as Error).message}. Then: ${(e as Error).message}`, { cause: e });
      }
      dropJournal(ctx);
      throw new RuleError(
        withWarnings(`${(err as Error).message}. Nothing was changed: the sets and both families are back as they were`, left),
      );
    }
  }

  // Both families restore at once: they are independent until both are done (the commit point), and a
  // failure of either puts both back. The after-save of a family (for the summary) then runs.
  const afterSaves: Array<Promise<{ text: string; staged: boolean } | undefined>> = [];
  const noflush = scripts !== undefined;
  const restoring = ctx.families.map((family) => {
    const text = next[family] ?? '';
    return text === '' ? undefined : DRIVER.restore(ctx.target, family, text, { timeoutMs: ctx.restoreTimeoutMs, noflush });
  });
  mark('restores started');
  // The canonical forms the scripts leave, written and hashed for the record while the tools run (not
  // after them, nor before they start; after the journal, which comes first on a nearly full disk);
  // removed unused if the apply ends otherwise.
  if (scripts !== undefined && journaled) {
    void ctx.state.stageCanonicalAhead(Object.fromEntries(ctx.families.map((f) => [f, scripts[f]?.expected])));
  }
  // While the tools run: the record's plan.json and its digest, made and written now rather than after them.
  prepared.warm();
  if (journaled) void ctx.state.stagePlanAhead(prepared.plan);
  const worked = scripts === undefined ? recordAhead(ctx, canonical, snapshot, next, { write: journaled, summarize: !preserving }) : {};
  const settled = await Promise.allSettled(restoring);
  mark('restores done');
  // A tool that could not even be run: the journal stays, and the next command puts both families back.
  for (const s of settled) if (s.status === 'rejected') throw s.reason;
  for (const [i, family] of ctx.families.entries()) {
    const text = next[family] ?? '';
    const s = settled[i];
    const r = s?.status === 'fulfilled' ? s.value : undefined;
    if (r !== undefined && r.code !== 0) {
      const failure = parseRestoreError(r.stderr);
      const table = r.hung === undefined ? tableAtLine(text, failure.line) : undefined;
      const what =
        r.hung !== undefined
          ? `${FAMILY_NAME[family]} restore failed: ${r.hung}`
          : `${FAMILY_NAME[family]} restore failed${noflush ? ' (applying the difference)' : ''}${table === undefined ? '' : ` in table ${table}`}${failure.line === undefined ? '' : ` (line ${failure.line})`}: ${restoreTool(family)}: ${failure.message}`;
      let left: string[];
      try {
        left = await rollback(ctx, snapshot, sets, claims, unchanged !== undefined);
      } catch (err) {
        throw new RollbackError(`${what}. Then: ${(err as Error).message}`, { family, cause: err });
      }
      dropJournal(ctx);
      // A hung tool is the host's trouble, not the rules': retry later (exit 3), do not blame the commit.
      const message = withWarnings(`${what}. Nothing was changed: both families are back on their previous ruleset`, left);
      throw r.hung === undefined ? new RuleError(message, { family }) : new SandboxError(message, { family });
    }
  }
  // Every commit since `before` was the restores' own (one per table block): the recorded forms are then
  // the live ruleset at this generation, and the next apply can know it without a save.
  const commits = ctx.families.reduce((n, f) => n + commitsOf(next[f] ?? ''), 0);
  // Read now, right after the restores, and awaited only when the record is made.
  const reading = preserving ? undefined : generationNow(ctx);
  reading?.catch(() => {});
  for (const family of ctx.families) {
    // Only for the summary: a failure to read the ruleset back must not turn a done apply into an error.
    const staged = canonical[family];
    const live = (): Promise<{ text: string; staged: boolean }> =>
      DRIVER.save(ctx.target, family).then((text) => ({ text, staged: false }));
    const saved = (staged === undefined ? live() : staged.then((text) => ({ text, staged: true }), live)).catch(() => undefined);
    afterSaves.push(saved);
  }

  if (hasProbation(probation)) await keepOrRollBack(ctx, probation, journal, snapshot, afterSaves, claims);

  // Record the new ruleset as the last good one, with the canonical forms drift detection compares
  // with, while the journal still stands: a crash before it is recorded leaves a journal marked applied,
  // and finishing it writes them from the target (recoverJournal). If it cannot be recorded (a full
  // disk), the new ruleset is taken back: the kernel must never run what restore-last would not load.
  const afterForms = await Promise.all(afterSaves);
  const after = afterForms.map((a) => a?.text);
  // The record holds nfgit's part only: a save of the target also holds what the merge carried over.
  const own = await Promise.all(
    afterForms.map(async (a, i) => {
      const family = ctx.families[i] as Family;
      if (a === undefined || !a.staged) return a === undefined ? undefined : withoutForeign(a.text, foreign[family] ?? new Map());
      return (await worked[family]?.own.catch(() => undefined)) ?? ownStagedForm(a.text, snapshot[family], next[family]);
    }),
  );
  const names = desired.ipsets?.sets ?? [];
  const generation = reading === undefined ? undefined : afterOwnCommits(before, await reading, commits);
  // Saved from the target (not staging) so that drift compares like with like; only for drift and the summary.
  let savedSets = sets === undefined ? undefined : await saveSets(ctx.target).catch(() => undefined);
  const forms: CanonicalForms = {
    ipv4: own[ctx.families.indexOf('ipv4')],
    ipv6: own[ctx.families.indexOf('ipv6')],
    ipsets: savedSets === undefined || names.length === 0 ? undefined : canonicalSets(savedSets, names),
    // Only with forms staged or computed for every family: a form saved from the target may lack an empty table.
    generation: afterForms.every((a) => a?.staged === true) ? generation : undefined,
  };
  let recorded = false;
  try {
    if (journaled) ctx.state.markJournalApplied(journal);
    ctx.state.writeLastGood(prepared, forms);
    recorded = true;
    mark('recorded');
  } catch (err) {
    // restore-last loaded what is recorded already (or what its kept journal records): it stays.
    if (ctx.reloadingLastGood === true && isDiskFull((err as Error).cause)) {
      const kept =
        ctx.pendingJournal === true
          ? 'the journal is kept, to record it once there is space'
          : "the last good ruleset's files were not rewritten (they still describe the ruleset just loaded)";
      warnings.push(`${(err as Error).message}: ${kept}`);
    } else await takeBackUnrecorded(ctx, snapshot, sets, err, claims, unchanged !== undefined);
  }
  let setsOutcome: SetsOutcome | undefined;
  if (sets !== undefined) {
    // Stale sets go only now: a rollback above could not have made them again.
    await destroyStaleSets(ctx.target, desired.ipsets, ownedSets, sets);
    if (ownedSets.some((n) => !names.includes(n))) savedSets = await saveSets(ctx.target).catch(() => undefined);
    const change = savedSets === undefined ? undefined : countSets(diffSets(sets.snapshot, savedSets, [...names, ...ownedSets]));
    setsOutcome = { sets: names.length, change };
  }
  // A kept journal goes once its ruleset is recorded.
  if (recorded) ctx.state.removeJournal();
  else dropJournal(ctx);

  const families = await Promise.all(
    ctx.families.map(async (family, i) => ({
      family,
      tables: tables[family] ?? [],
      rules: desired.families[family]?.rules ?? 0,
      // Preserved chains are not nfgit's: they count neither as removed (the staged form lacks them) nor as kept;
      // nfgit's part of one it adds to (DOCKER-USER) counts, before as recorded at the last apply, after as now.
      change:
        after[i] === undefined
          ? undefined
          : ((afterForms[i]?.staged === true ? await worked[family]?.change?.catch(() => undefined) : undefined) ??
            DRIVER.compare(
              preserving ? stripPreserved(snapshot[family] ?? '', preserve, ownClaims(previous[family])) : (snapshot[family] ?? ''),
              preserving ? stripPreserved(after[i] as string, preserve, ownClaims(own[i])) : (after[i] as string),
            )),
    })),
  );
  mark('tx end');
  return { families, sets: setsOutcome, warnings, path: chosen.path };
}

/** A staged canonical form as the record holds it: the target holds the tables it had and those just loaded, not staging's empty others. */
function ownStagedForm(staged: string, snapshot: string | undefined, next: string | undefined): string {
  return withoutAbsentEmptyTables(staged, new Set([...tableNames(snapshot ?? ''), ...tableNames(next ?? '')]));
}

/** A family's part of the record worked out during its restore (recordAhead). */
interface WorkedAhead {
  readonly own: Promise<string>;
  readonly change?: Promise<RulesetChange>;
}

/**
 * The full path's staged canonical forms as the record will hold them (ownStagedForm), written ahead
 * (StateDir.stageCanonicalAhead) when `write`, and what changed from the snapshot when `summarize`:
 * worked out as each form comes, while the restore tools run and the main thread waits for them, so
 * that after the commit point writing the record is mostly renames. A failure here only leaves the
 * work to be done after.
 */
function recordAhead(
  ctx: TransactionContext,
  staged: StagedForms,
  snapshot: Partial<Record<Family, string>>,
  next: Partial<Record<Family, string>>,
  how: { readonly write: boolean; readonly summarize: boolean },
): Partial<Record<Family, WorkedAhead>> {
  const ahead: Partial<Record<Family, WorkedAhead>> = {};
  for (const family of ctx.families) {
    const form = staged[family];
    if (form === undefined) continue;
    const own = form.then((text) => ownStagedForm(text, snapshot[family], next[family]));
    if (how.write) own.then((text) => ctx.state.stageCanonicalAhead({ [family]: text })).catch(() => {});
    const change = how.summarize ? form.then((text) => DRIVER.compare(snapshot[family] ?? '', text)) : undefined;
    own.catch(() => {});
    change?.catch(() => {});
    ahead[family] = change === undefined ? { own } : { own, change };
  }
  return ahead;
}

/**
 * Whether `now`, the target's generation just read, is the one the last apply recorded for this target:
 * nothing has been committed there since, and its families are the recorded canonical forms.
 */
export function recordedGenerationHolds(lastGood: LastGood | undefined, target: Target, now: Generation | undefined): boolean {
  return lastGood !== undefined && sameGeneration(lastGood.generation, now) && sameTarget(targetFromJson(lastGood.target), target);
}

/**
 * The recorded canonical form of each family, when the target's ruleset is still in the generation the
 * last apply recorded (nothing committed since, by anyone): it is then the live ruleset, and no save is
 * needed to know it. Undefined when that cannot be shown.
 */
function unchangedSinceRecord(
  ctx: TransactionContext,
  lastGood: LastGood | undefined,
  now: Generation | undefined,
): Partial<Record<Family, string>> | undefined {
  if (!recordedGenerationHolds(lastGood, ctx.target, now)) return undefined;
  const forms: Partial<Record<Family, string>> = {};
  for (const family of ctx.families) {
    const form = readOrNothing(() => ctx.state.readCanonical(family));
    if (form === undefined) return undefined;
    forms[family] = form;
  }
  return forms;
}

/**
 * Under the lock, with the families saved: the incremental path if it was asked for and the live
 * ruleset is still the recorded one (then the scripts, and the canonical forms they leave), else the
 * whole ruleset, staged now if staging loaded only the skeletons.
 */
async function choosePath(
  ctx: TransactionContext,
  path: TransactionPath,
  staged: StagedForms,
  lastGood: LastGood | undefined,
  snapshot: Partial<Record<Family, string>>,
): Promise<{ forms: StagedForms; scripts?: Partial<Record<Family, FamilyScript>>; path: ApplyPath }> {
  if ('full' in path) return { forms: staged, path: { kind: 'full', reason: path.full } };
  const decided = await decideIncrement(path.increment, ctx.state, ctx.target, lastGood, snapshot, staged);
  if ('reason' in decided) return { forms: await path.increment.stageWhole(), path: { kind: 'full', reason: decided.reason } };
  const forms: StagedForms = {};
  let changes = 0;
  for (const family of ctx.families) {
    const s = decided[family];
    if (s === undefined) throw new InternalError(`internal error: no ${FAMILY_NAME[family]} increment`);
    forms[family] = Promise.resolve(s.expected);
    changes += s.changes;
  }
  return { forms, scripts: decided, path: { kind: 'incremental', changes } };
}

/**
 * Both families hold the new ruleset but it could not be recorded (the disk holding the state
 * directory is full): put both snapshots back and say so. The journal's applied mark goes first
 * (removing needs no space), so that if the rollback fails the next command undoes it, never records it.
 */
async function takeBackUnrecorded(
  ctx: TransactionContext,
  snapshot: Partial<Record<Family, string>>,
  sets: IpsetsJournal | undefined,
  err: unknown,
  claims: Partial<Record<Family, RollbackClaims>>,
  fromRecord: boolean,
): Promise<never> {
  const why = (err as Error).message;
  ctx.state.unmarkJournalApplied();
  try {
    await rollback(ctx, snapshot, sets, claims, fromRecord);
  } catch (e) {
    throw new RollbackError(`${why}; the new ruleset could not be recorded as the last good one. Then: ${(e as Error).message}`, {
      cause: e,
    });
  }
  dropJournal(ctx);
  throw new SandboxError(
    `${why}: the new ruleset could not be recorded as the last good one, so it was taken back. Nothing was changed: both families are back on their previous ruleset, and restore-last still loads the previous last good one. Free space there, then apply again`,
    { cause: err },
  );
}

/**
 * Both families hold the new ruleset: hold it on probation (the journal stays, so a crash now undoes
 * it), and if a probe fails or no confirmation comes, put both snapshots back and say why.
 */
async function keepOrRollBack(
  ctx: TransactionContext,
  probation: Probation,
  journal: Journal,
  snapshot: Partial<Record<Family, string>>,
  afterSaves: Array<Promise<unknown>>,
  claims: Partial<Record<Family, RollbackClaims>>,
): Promise<void> {
  let failure: string | undefined;
  try {
    failure = await holdProbation(probation, { target: ctx.target }, ctx.state, { id: journal.id, appliedAt: journal.record.appliedAt });
  } catch (err) {
    failure = `the probation could not be held: ${(err as Error).message}`;
  }
  if (failure === undefined) return;
  await Promise.allSettled(afterSaves);
  try {
    await rollback(ctx, snapshot, journal.ipsets, claims, journal.snapshotFromRecord === true);
  } catch (err) {
    throw new RollbackError(`${failure}, and then: ${(err as Error).message}`, { cause: err });
  }
  dropJournal(ctx);
  throw new ProbeError(
    failure,
    `rolled back: ${failure}. Both families are back on their previous ruleset; the last good ruleset is unchanged`,
  );
}

/**
 * After finishing an interrupted apply: the canonical forms drift detection compares with are read
 * from the target, which now runs the recorded ruleset. Best effort: what cannot be read is left out
 * (drift is then not checked until the next apply), never left describing an older ruleset.
 */
async function canonicalFromTarget(target: Target, journal: Journal, state: StateDir, preserve: PreserveSpec): Promise<CanonicalForms> {
  const forms: Record<string, string | undefined> = {};
  const names = journal.record.ipsets?.sets ?? [];
  for (const family of ['ipv4', 'ipv6'] as const) {
    const saved = journal.families.includes(family) ? await DRIVER.save(target, family).catch(() => undefined) : undefined;
    forms[family] = saved === undefined ? undefined : ownPartAfterInterruptedApply(saved, journal, family, state, preserve);
  }
  const sets = names.length === 0 ? undefined : await saveSets(target).catch(() => undefined);
  return { ...forms, ipsets: sets === undefined ? undefined : canonicalSets(sets, names) };
}

/**
 * The target also runs what the interrupted apply carried over from the live ruleset, which the record
 * must not claim as nfgit's: that merge is done again from the journal's snapshot and nfgit's part at
 * the apply before (still the recorded one, as the interrupted apply did not record its own).
 */
function ownPartAfterInterruptedApply(saved: string, journal: Journal, family: Family, state: StateDir, preserve: PreserveSpec): string {
  if (preserve.chains.length === 0 && preserve.rules.length === 0) return saved;
  try {
    const last = state.readLastGood();
    const recordedHere = last !== undefined && sameTarget(targetFromJson(last.target), targetFromJson(journal.target));
    const previous = recordedHere ? trustedOwnForm(state.readCanonical(family), last.families[family]?.text, preserve) : undefined;
    return ownFormAfter(saved, journal.record.families[family]?.text ?? '', journal.snapshot[family] ?? '', preserve, previous);
  } catch {
    // Without the previous record, which rules of a shared chain (DOCKER-USER) are nfgit's is not known:
    // its part is left out of the record (drift does not check it) until the next apply records it.
    return stripPreserved(saved, preserve);
  }
}

/** What looking for an unfinished journal found and did. */
export type Recovery =
  | { readonly found: false }
  | {
      readonly found: true;
      readonly action: 'finished' | 'kept' | 'undone' | 'dropped' | 'set-aside';
      readonly message: string;
      readonly warnings?: readonly string[];
    };

/**
 * Finishes or undoes an apply that was interrupted (killed, crashed), so both families end on the same
 * ruleset: if both were applied, record it as the last good one; otherwise put both snapshots back.
 * Replaying twice is harmless.
 */
export async function recoverJournal(ctx: Omit<TransactionContext, 'families' | 'target'>): Promise<Recovery> {
  let journal: Journal | undefined;
  try {
    journal = ctx.state.readJournal();
  } catch (err) {
    if (!(err instanceof CorruptStateFile)) throw err;
    // Its snapshot cannot be trusted, so nothing can be undone; the command that runs next (apply,
    // restore-last) loads a whole ruleset into both families, which ends any split it left.
    const kept = ctx.state.setJournalAside();
    return {
      found: true,
      action: 'set-aside',
      message: `${err.message}. It was moved to ${kept} and not replayed: if an apply was interrupted, the families may have been split, and this command now loads a whole ruleset into both`,
    };
  }
  if (journal === undefined) return { found: false };
  const target = targetFromJson(journal.target);
  const when = `an apply started ${journal.started} ("${journal.command}") was interrupted`;
  if (journal.step === 'applied') {
    try {
      ctx.state.writeLastGood(journal.record, await canonicalFromTarget(target, journal, ctx.state, ctx.preserve ?? NO_PRESERVE));
    } catch (err) {
      // At boot on a full disk: restore-last loads the journal's ruleset (pendingJournal) rather than none.
      if (ctx.reloadingLastGood !== true || !isDiskFull((err as Error).cause)) throw err;
      return {
        found: true,
        action: 'kept',
        message: `${when} after both families were applied, but ${(err as Error).message}: its ruleset is loaded as the last good one, and the journal kept to record it once there is space`,
      };
    }
    // The apply may have died before destroying the sets it made stale: no record names them any more,
    // so this is their last chance (the journal goes only after; a set already gone is no matter).
    // Best effort, as in the apply: a set that cannot go must not keep every later command from running.
    if (journal.ipsets !== undefined)
      await destroyStaleSets(target, journal.record.ipsets, journal.ipsets.owned ?? [], journal.ipsets).catch(() => undefined);
    ctx.state.removeJournal();
    return { found: true, action: 'finished', message: `${when} after both families were applied: recorded it as the last good ruleset` };
  }
  if (!targetExists(target)) {
    ctx.state.removeJournal();
    return { found: true, action: 'dropped', message: `${when}, but ${describeTarget(target)} no longer exists: nothing to undo` };
  }
  const left = await rollback(
    { ...ctx, target, families: journal.families },
    journal.snapshot,
    journal.ipsets,
    {},
    journal.snapshotFromRecord === true,
  );
  ctx.state.removeJournal();
  const warnings = left.length === 0 ? {} : { warnings: left };
  if (journal.step === 'probation') {
    rmSync(ctx.state.confirmFile(journal.id), { force: true });
    return {
      found: true,
      action: 'undone',
      message: `${when} on probation (its probes or confirmation had not passed): put both families back on the ruleset they had before it`,
      ...warnings,
    };
  }
  return {
    found: true,
    action: 'undone',
    message: `${when} before both families were applied: put both back on the ruleset they had before it`,
    ...warnings,
  };
}
