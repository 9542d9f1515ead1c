import { renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Family } from '../compiler/parse-argv.js';
import type { TargetJson } from '../netfilter/target.js';
import type { Generation } from '../netfilter/generation.js';
import { APPLY_FILES, confirmFileName, damagedJournalName, STATE_FILE } from '../util/state-layout.js';
import { SandboxError } from '../errors/errors.js';
import { errnoCode, writeHint } from '../util/sandbox-hints.js';
import { ensureDir, removeDurable, renamedFile, stageFile, stageFileAsync, writeDurable, type StagedFile } from '../util/durable-file.js';
import {
  appliedMarkerSchema,
  checkFamilyDigests,
  CorruptStateFile,
  fileDigest,
  journalSchema,
  lastGoodFileSchema,
  parseRecord,
  probationMarkerSchema,
  sealJson,
} from './state-records.js';
import { checkStateDir, readStampedStateFile, readStateFile, readStateFileAhead, tightenFiles } from '../util/state-security.js';
import { digestOf } from '../compiler/plan.js';
import { knownBytes } from '../util/text-bytes.js';
import type { IpsetsJournal, IpsetsRuleset } from './ipset-apply.js';

/** The default state directory (journal, last good ruleset, lock). */

/** One family of a ruleset to apply: nfgit's restore input and what it holds. */
export interface FamilyRuleset {
  readonly text: string;
  /** Tables the rules use; the others are flushed only where the host has them. */
  readonly usedTables: readonly string[];
  readonly rules: number;
  readonly digest: string;
}

/** A complete ruleset as applied: both families (IPv6 absent in IPv4-only mode), host commands, origin. */
export interface AppliedRuleset {
  readonly families: Partial<Record<Family, FamilyRuleset>>;
  readonly hostCommands: ReadonlyArray<{ readonly argv: readonly string[]; readonly at: string }>;
  /** The sets (ipset restore input) loaded before both families; their names are the sets nfgit owns. */
  readonly ipsets?: IpsetsRuleset;
  /** Where it came from: a rules directory, later a commit. */
  readonly source: string;
  /**
   * The compiler's plan (source map, digests), kept as plan.json beside the last good ruleset: its JSON
   * text as the file holds it (compiler/plan.ts planJson, compact), or the plan itself.
   */
  readonly plan?: { readonly json: string } | object;
}

/** The last good ruleset: what restore-last loads at boot. */
export interface LastGood extends AppliedRuleset {
  readonly nfgitLastGood: 1;
  readonly appliedAt: string;
  readonly target: TargetJson;
  /** sha256 (`sha256:…`) of the files written beside it, by name (absent in files of an older nfgit). */
  readonly files?: Readonly<Record<string, string>>;
  /**
   * The target's ruleset generation right after this apply (netfilter/generation.ts), when the apply's
   * own restores made every commit since the snapshot: while the target still reads the same, its live
   * ruleset is the recorded canonical form, and the next apply needs no save to know it.
   */
  readonly generation?: Generation;
}

/** The journal of an apply in progress: enough to finish or undo it after a crash. */
export interface Journal {
  /**
   * On disk: 2 when the snapshot is named (snapshotFiles) rather than copied; 3 when the record's
   * rulesets are named too (journal.v4/v6, by the digests the record holds). In memory the record always
   * holds its texts.
   */
  readonly nfgitJournal: 1 | 2 | 3;
  readonly id: string;
  readonly command: string;
  readonly started: string;
  readonly target: TargetJson;
  readonly families: readonly Family[];
  /** iptables-save -c of each family before the apply. */
  readonly snapshot: Partial<Record<Family, string>>;
  /**
   * The snapshot is the recorded canonical form (the generation showed the live ruleset unchanged since
   * it was recorded), which has no counters: a rollback takes each unchanged rule's counters from the
   * target as it is then.
   */
  readonly snapshotFromRecord?: true;
  /**
   * On disk only, with snapshotFromRecord: the snapshot is not copied into the journal but named, as the
   * sha256 of each family's recorded canonical file (canonical.v4/.v6), which stays in place until the
   * apply is marked applied (only writeLastGood replaces it, after the mark). readJournal reads it back.
   */
  readonly snapshotFiles?: Partial<Record<Family, string>>;
  /** ipset save of the target before the apply, when sets are involved (a rollback puts them back too). */
  readonly ipsets?: IpsetsJournal;
  /**
   * `journaled`: the kernel may hold a mix; `probation`: both families hold the new ruleset, but probes
   * or a confirmation are still awaited (undone after a crash, as `journaled`); `applied`: both
   * families hold the new ruleset for good. Written as `journaled`; the later steps are small marker
   * files beside it (no rewrite of the whole journal).
   */
  readonly step: 'journaled' | 'probation' | 'applied';
  /** The new ruleset (both families' restore input), recorded as the last good one once applied. */
  readonly record: LastGood;
}

/** What an apply on probation awaits: written beside the journal as `journal.probation`. */
export interface ProbationMarker {
  /** The journal's id. */
  readonly id: string;
  /** The nfgit process that waits. */
  readonly pid: number;
  /** When the wait for `nfgit confirm` ends (ISO time), or null when only probes are awaited. */
  readonly confirmBy: string | null;
  /** appliedAt of the record, to tell afterwards whether it became the last good ruleset. */
  readonly appliedAt: string;
}

/** The kernel's forms of the last good ruleset (for drift), recorded with it; undefined: not known, removed. */
export interface CanonicalForms {
  readonly ipv4?: string | undefined;
  readonly ipv6?: string | undefined;
  readonly ipsets?: string | undefined;
  /** The target's generation these forms are the live ruleset of (LastGood.generation); undefined: unknown. */
  readonly generation?: Generation | undefined;
}

/** The files written beside last-good.json, whose sha256 it records. */
const CANONICAL_FILE = STATE_FILE.canonical;
const RULES_COPY = STATE_FILE.rulesCopy;
const JOURNAL_RULES = STATE_FILE.journalRules;
const FAMILIES = ['ipv4', 'ipv6'] as const;

/**
 * Paths and durable reads and writes of the state directory. Every file read is checked (owner, mode,
 * a regular file), validated (schema, seal, digests) and, when it is damaged, named in the error.
 */
export class StateDir {
  private lastGoodCache: { readonly stamp: string; readonly value: LastGood } | undefined;
  /** Recorded files (canonical forms) read and checked against last-good.json, by name: stamp, digest checked, text. */
  private readonly recordedCache = new Map<string, { readonly stamp: string; readonly want: string | undefined; readonly text: string }>();
  /** Recorded files read ahead (readAhead), by name: believed only where a later read finds the same stamp. */
  private readonly ahead = new Map<string, { readonly stamp: string; readonly text: string }>();
  /** rules.v4/rules.v6 as last read and checked against a record of version 2: the stamp of the file and its digest. */
  private readonly verifiedRules = new Map<Family, { readonly stamp: string; readonly digest: string }>();
  /** The digests of journal.v4/journal.v6 as this command wrote them for its journal (renamed into place by writeLastGood). */
  private readonly journalRules = new Map<Family, string>();
  /** journal.v4/v6 being written ahead of the journal (stageJournalRules): the digest of each one's text, and the file once written. */
  private readonly earlyRules = new Map<Family, { readonly digest: string; readonly done: Promise<void>; file?: StagedFile }>();

  /** Files of the record written ahead (stageCanonicalAhead, stagePlanAhead), by name. */
  private readonly earlyFiles = new Map<string, EarlyFile>();

  constructor(readonly dir: string) {}

  /**
   * Reads the recorded rulesets and canonical forms (rules.v4/v6, canonical.v4/v6) ahead, in libuv's
   * threads, and hashes them (digestOf, from the bytes read), while the rules compile: an incremental apply reads and
   * checks all four right after (12 MB at 50k rules). Never fails; the reads that use them check each
   * file again and take the text only when its stamp is the one read here. `onText` gets each text
   * read (to prepare what will be made of it: deploy.ts scans them for the incremental plan).
   */
  async readAhead(onText?: (text: string, kind: 'ruleset' | 'canonical') => void): Promise<void> {
    await Promise.all(
      [RULES_COPY.ipv4, RULES_COPY.ipv6, CANONICAL_FILE.ipv4, CANONICAL_FILE.ipv6].map(async (name) => {
        const got = await readStateFileAhead(this.file(name));
        if (got === undefined) return;
        this.ahead.set(name, got);
        // Hashed from the bytes read, not from the text encoded again (12 MB at 50k rules).
        knownBytes(got.text, got.bytes);
        digestOf(got.text);
        onText?.(got.text, name === CANONICAL_FILE.ipv4 || name === CANONICAL_FILE.ipv6 ? 'canonical' : 'ruleset');
      }),
    );
    // The record itself, parsed and checked now (its first parse compiles zod's schema: 15-20 ms), and
    // the canonical forms checked against it: cached by stamp for the reads that follow. Their errors
    // are theirs to report.
    try {
      this.readLastGood();
      for (const f of FAMILIES) this.readCanonical(f);
    } catch {
      // reported by the read that needs it
    }
  }

  /** Creates the directory if needed, and refuses it when others could write it (state-security.ts). */
  ensure(): void {
    try {
      ensureDir(this.dir);
      checkStateDir(this.dir);
    } catch (err) {
      // Not a bug: nfgit runs without the rights it needs (not root), or in a sandbox that hides the directory.
      const code = errnoCode(err);
      if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS') throw err;
      const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
      const who = uid === 0 ? '' : `; run nfgit as root (this process runs as uid ${uid})`;
      throw new SandboxError(`cannot use the state directory ${this.dir}: ${(err as Error).message}${who}${writeHint(this.dir, code)}`, {
        cause: err,
      });
    }
    // Files of an older nfgit were 0644 (copies for people): the rulesets are nobody else's business.
    tightenFiles(this.dir, APPLY_FILES);
  }

  private file(name: string): string {
    return path.join(this.dir, name);
  }

  /** The journal, if an apply is in progress or was interrupted; throws (naming the file) if it is damaged. */
  readJournal(): Journal | undefined {
    const file = this.file(STATE_FILE.journal);
    const read = readStateFile(file);
    if (!read.exists) return undefined;
    const journal = this.withJournalRules(file, parseRecord(file, read.text, journalSchema, 'journal') as unknown as Journal);
    const appliedFile = this.file(STATE_FILE.journalApplied);
    const applied = readStateFile(appliedFile);
    // Finished from its record alone: the snapshot it names is not needed (and may be replaced already).
    if (applied.exists && parseRecord(appliedFile, applied.text, appliedMarkerSchema, 'applied mark').id === journal.id)
      return { ...journal, step: 'applied' };
    const undoable = { ...journal, snapshot: this.journalSnapshot(file, journal) };
    return this.readProbation()?.id === journal.id ? { ...undoable, step: 'probation' } : undoable;
  }

  /**
   * A journal's record with its rulesets' texts: those of a journal of version 3 are read from the files
   * it names by digest, journal.v4/v6 or, once writeLastGood renamed them into place, rules.v4/v6.
   */
  private withJournalRules(file: string, journal: Journal): Journal {
    const record = journal.record as unknown as { nfgitLastGood: 1 | 2; families: Partial<Record<Family, FamilyRuleset>> };
    if (record.nfgitLastGood !== 2) {
      checkFamilyDigests(file, journal.record);
      return journal;
    }
    const families: Partial<Record<Family, FamilyRuleset>> = {};
    for (const f of FAMILIES) {
      const family = record.families[f];
      if (family === undefined) continue;
      const text = this.rulesByDigest(f, family.digest);
      if (text === undefined)
        throw new CorruptStateFile(
          file,
          `its ${f} ruleset (${family.digest}) is in neither ${this.file(JOURNAL_RULES[f])} nor ${this.file(RULES_COPY[f])}`,
        );
      families[f] = { ...family, text };
    }
    const full = { ...journal.record, nfgitLastGood: 1 as const, families };
    checkFamilyDigests(file, { families: {}, ipsets: full.ipsets });
    return { ...journal, record: full };
  }

  /** A family's ruleset of this digest, from journal.v4/v6 or rules.v4/v6, if either holds it. */
  private rulesByDigest(family: Family, digest: string): string | undefined {
    for (const name of [JOURNAL_RULES[family], RULES_COPY[family]]) {
      const read = readStateFile(this.file(name));
      if (read.exists && fileDigest(read.text) === digest) return read.text;
    }
    return undefined;
  }

  /** Whether rules.v4/v6 still holds the ruleset of this digest, as checked when last-good.json was read (not read again). */
  private rulesOnDisk(family: Family, digest: string | undefined): boolean {
    const known = this.verifiedRules.get(family);
    return known !== undefined && known.digest === digest && this.sameWrite(RULES_COPY[family], known.stamp);
  }

  /** Whether a state file is still the write of this stamp (checked as every read checks it; any problem: no). */
  private sameWrite(name: string, stamp: string): boolean {
    try {
      const read = readStampedStateFile(this.file(name), stamp);
      return read.exists && read.text === undefined;
    } catch {
      return false;
    }
  }

  /** The snapshot of a journal, read from the recorded canonical files it names (Journal.snapshotFiles). */
  private journalSnapshot(file: string, journal: Journal): Partial<Record<Family, string>> {
    if (journal.snapshotFiles === undefined) return journal.snapshot;
    const snapshot: Partial<Record<Family, string>> = { ...journal.snapshot };
    for (const [family, digest] of Object.entries(journal.snapshotFiles) as Array<[Family, string]>) {
      const name = CANONICAL_FILE[family];
      const read = readStateFile(this.file(name));
      if (!read.exists || fileDigest(read.text) !== digest)
        throw new CorruptStateFile(
          file,
          `its snapshot, ${this.file(name)}, is ${read.exists ? `no longer the one it names (${digest})` : 'missing'}`,
        );
      snapshot[family] = read.text;
    }
    return snapshot;
  }

  /**
   * The journal's text for an apply whose snapshot is the recorded canonical form: the snapshot named by
   * the sha256 last-good.json records for each family's canonical file, not copied (half the journal at
   * 50k rules); copied as before when a digest is not recorded.
   */
  sealedJournalNamingSnapshot(journal: Journal, record?: PreparedLastGood): SealedJournal {
    if (journal.snapshotFromRecord !== true) return sealedJournal(journal, record);
    const files = this.readLastGood()?.files ?? {};
    const named: Partial<Record<Family, string>> = {};
    for (const family of journal.families) {
      const digest = files[CANONICAL_FILE[family]];
      // The snapshot was read from that file (readCanonical checked its sha256): the same text, not hashed again.
      const recorded = readOrNothing(() => this.readCanonical(family));
      if (digest === undefined || recorded === undefined || journal.snapshot[family] !== recorded) return sealedJournal(journal, record);
      named[family] = digest;
    }
    return sealedJournal({ ...journal, nfgitJournal: 2, snapshot: {}, snapshotFiles: named }, record);
  }

  /**
   * Writes the journal durably; `sealed` is its sealed JSON when already made (sealedJournal, off the
   * critical path). A journal that names its record's rulesets has them written first (journal.v4/v6,
   * durably), except a family whose ruleset rules.v4/v6 holds already (unchanged since the last apply).
   */
  writeJournal(journal: Journal, sealed = sealedJournal(journal)): void {
    removeDurable(this.file(STATE_FILE.journalApplied));
    removeDurable(this.file(STATE_FILE.journalProbation));
    this.journalRules.clear();
    const p = sealed.rules;
    if (p !== undefined) {
      const staged: StagedFile[] = [];
      try {
        for (const { f, text, digest } of this.journalRulesToWrite(journalRulesOf(p))) {
          const ahead = this.earlyRules.get(f);
          if (ahead?.digest === digest && ahead.file !== undefined) {
            // Written ahead (stageJournalRules): only renamed into place here.
            this.earlyRules.delete(f);
            staged.push(ahead.file);
          } else staged.push(stageFile(this.file(JOURNAL_RULES[f]), text, 0o600, { json: true }));
          this.journalRules.set(f, digest);
        }
      } catch (err) {
        for (const st of staged) st.discard();
        this.journalRules.clear();
        throw err;
      }
      for (const st of staged) st.commit();
    }
    writeDurable(this.file(STATE_FILE.journal), sealed.text, 0o600, { json: true });
  }

  /**
   * Starts writing the record's rulesets for its journal (journal.v4/v6) in libuv's threads, durably,
   * under temporary names of this process: writeJournal then only renames them into place. deploy.ts
   * starts it as soon as the rules are compiled and hashed, before the lock (the names are this
   * process's own, and the journal.v4/v6 an interrupted apply left are touched only by the rename,
   * under the lock), and the transaction asks again for its record's (a text written or being
   * written is not written twice). The promise fails as writeJournal would (a full disk named);
   * discardEarlyFiles removes what was not used.
   */
  stageJournalRules(rules: JournalRules): Promise<void> {
    const writes = this.journalRulesToWrite(rules).map(({ f, text, digest }) => {
      const known = this.earlyRules.get(f);
      if (known?.digest === digest) return known.done;
      const entry: { digest: string; done: Promise<void>; file?: StagedFile } = {
        digest,
        // After any other text of the family (same temporary name), which then removes its file.
        done: (known?.done.catch(() => {}) ?? Promise.resolve())
          .then(() => stageFileAsync(this.file(JOURNAL_RULES[f]), text, 0o600, { json: true }))
          .then((file) => {
            // Replaced meanwhile (another text asked for): not used, so not kept.
            if (this.earlyRules.get(f) === entry) entry.file = file;
            else file.discard();
          }),
      };
      entry.done.catch(() => {});
      this.earlyRules.set(f, entry);
      return entry.done;
    });
    return Promise.allSettled(writes).then((results) => {
      for (const r of results) if (r.status === 'rejected') throw r.reason;
    });
  }

  /** The record's rulesets its journal needs written (journal.v4/v6): all but those rules.v4/v6 holds already. */
  private journalRulesToWrite(rules: JournalRules): Array<{ f: Family; text: string; digest: string }> {
    return FAMILIES.flatMap((f) => {
      const r = rules[f];
      return r === undefined || this.rulesOnDisk(f, r.digest) ? [] : [{ f, text: r.text, digest: r.digest }];
    });
  }

  /**
   * Writes the canonical forms an incremental apply will record (canonical.v4/v6: the scripts' expected
   * forms) ahead, in libuv's threads, and hashes them, while the restore tools run (the journal is
   * written first); writeLastGood renames a finished one into place instead of writing it (4 MB a
   * family at 50k rules). Unsynced, as writeLastGood's own copies are (last-good.json, synced, records their sha256).
   * One the same as the recorded form read in this command is not written (writeLastGood keeps it).
   */
  stageCanonicalAhead(forms: Partial<Record<Family, string>>): Promise<void> {
    return this.stageAhead(FAMILIES.flatMap((f) => (forms[f] === undefined ? [] : [[CANONICAL_FILE[f], forms[f]] as const])));
  }

  /** plan.json's text, written ahead as stageCanonicalAhead writes the canonical forms (its digest is PreparedLastGood.warm's). */
  stagePlanAhead(text: string | undefined): Promise<void> {
    return this.stageAhead(text === undefined ? [] : [[STATE_FILE.plan, text]], false);
  }

  /**
   * Writes files the record will name ahead (unsynced), and hashes them unless their digests are known.
   * Resolves once written (or not: writeLastGood then writes them itself, and names a full disk).
   */
  private stageAhead(files: ReadonlyArray<readonly [name: string, text: string]>, hash = true): Promise<void> {
    const writes = files.map(async ([name, text]) => {
      if (this.recordedCache.get(name)?.text === text || this.earlyFiles.has(name)) return;
      if (hash) digestOf(text);
      const entry: EarlyFile = {
        text,
        done: stageFileAsync(this.file(name), text, 0o600, { noSync: true }).then(
          (file) => void (entry.staged = file),
          () => undefined,
        ),
      };
      this.earlyFiles.set(name, entry);
      await entry.done;
    });
    return Promise.all(writes).then(() => undefined);
  }

  /** A file written ahead with this very text and done, taken (writeLastGood commits it), or undefined. */
  private takeEarlyFile(name: string, text: string): StagedFile | undefined {
    const early = this.earlyFiles.get(name);
    if (early?.staged === undefined || early.text !== text) return undefined;
    this.earlyFiles.delete(name);
    return early.staged;
  }

  /**
   * Removes what was written ahead and not used: journal rulesets (the apply ended before its journal)
   * and the record's files (it ended before the record, or recorded other texts).
   */
  async discardEarlyFiles(): Promise<void> {
    const files = [...this.earlyFiles.values()];
    const rules = [...this.earlyRules.values()];
    this.earlyFiles.clear();
    this.earlyRules.clear();
    await Promise.all([...files.map((f) => f.done), ...rules.map((r) => r.done.catch(() => undefined))]);
    for (const file of [...files.map((f) => f.staged), ...rules.map((r) => r.file)]) {
      try {
        file?.discard();
      } catch {
        // A temporary file left behind is harmless: the next write of the same name replaces it.
      }
    }
  }

  /** Marks the journal's apply as restored in both families but awaiting probes or a confirmation (durably). */
  markJournalProbation(marker: ProbationMarker): void {
    writeDurable(this.file(STATE_FILE.journalProbation), sealJson(JSON.stringify(marker)), 0o600, { json: true });
  }

  /** The probation marker, if an apply is (or was, before a crash) on probation. */
  readProbation(): ProbationMarker | undefined {
    const file = this.file(STATE_FILE.journalProbation);
    const read = readStateFile(file);
    return read.exists ? parseRecord(file, read.text, probationMarkerSchema, 'probation mark') : undefined;
  }

  /** The file `nfgit confirm` creates for the apply whose journal has this id. */
  confirmFile(id: string): string {
    return this.file(confirmFileName(id));
  }

  /** Marks the journal's apply as complete in both families (durably). */
  markJournalApplied(journal: Journal): void {
    writeDurable(this.file(STATE_FILE.journalApplied), sealJson(JSON.stringify({ id: journal.id })), 0o600, { json: true });
  }

  /** Takes the applied mark back (a removal needs no space on the disk): the journal is undone, not finished. */
  unmarkJournalApplied(): void {
    removeDurable(this.file(STATE_FILE.journalApplied));
  }

  /** Moves a damaged journal out of the way (kept for a post-mortem); returns its new name. */
  setJournalAside(): string {
    const kept = this.file(damagedJournalName(new Date()));
    renameSync(this.file(STATE_FILE.journal), kept);
    removeDurable(this.file(STATE_FILE.journalApplied));
    removeDurable(this.file(STATE_FILE.journalProbation));
    return kept;
  }

  removeJournal(): void {
    removeDurable(this.file(STATE_FILE.journal));
    // Once journal.json is gone (durably) the files beside it mean nothing: a mark names its journal's
    // id, and journal.v4/v6 are found by digest, so these need no sync of the directory each.
    for (const name of [STATE_FILE.journalApplied, STATE_FILE.journalProbation, ...FAMILIES.map((f) => JOURNAL_RULES[f])])
      rmSync(this.file(name), { force: true });
    this.journalRules.clear();
  }

  /** The last good ruleset, if any; throws (naming the file) if it is damaged. */
  readLastGood(): LastGood | undefined {
    const file = this.file(STATE_FILE.lastGood);
    let read = readStampedStateFile(file, this.lastGoodCache?.stamp);
    if (!read.exists) return undefined;
    if (read.text === undefined && this.lastGoodCache !== undefined) {
      // The same record, read before (perhaps ahead, while the rules compiled): believed while the
      // rulesets it names (version 2) are the files checked then too.
      if (this.verifiedRulesStay()) return this.lastGoodCache.value;
      read = readStampedStateFile(file, undefined);
      if (!read.exists) return undefined;
    }
    const parsed = parseRecord(file, read.text ?? '', lastGoodFileSchema, 'last good ruleset');
    const value = (parsed.nfgitLastGood === 2 ? this.withRulesFiles(parsed) : parsed) as unknown as LastGood;
    checkFamilyDigests(file, value);
    this.lastGoodCache = { stamp: read.stamp, value };
    return value;
  }

  /** Whether rules.v4/rules.v6, as last checked against a record of version 2, are still the files checked then. */
  private verifiedRulesStay(): boolean {
    return [...this.verifiedRules].every(([f, v]) => this.sameWrite(RULES_COPY[f], v.stamp));
  }

  /**
   * A record of version 2 (state-records.ts lastGoodV2Schema) with each family's text read from the
   * rules file it names (rules.v4, rules.v6), which must be the one recorded: as this nfgit's own
   * record (version 1) from then on, so that it writes its own form back.
   */
  private withRulesFiles(record: {
    readonly families: Partial<Record<Family, { readonly digest: string }>>;
    readonly files: Readonly<Record<string, string>>;
  }): object {
    const families: Partial<Record<Family, unknown>> = {};
    for (const f of ['ipv4', 'ipv6'] as const) {
      const family = record.families[f];
      if (family === undefined) continue;
      const file = this.file(RULES_COPY[f]);
      if (record.files[RULES_COPY[f]] !== family.digest)
        throw new CorruptStateFile(
          this.file(STATE_FILE.lastGood),
          `its ${f} ruleset ${family.digest} is not the ${RULES_COPY[f]} it records`,
        );
      const ahead = this.ahead.get(RULES_COPY[f]);
      const read = readStampedStateFile(file, ahead?.stamp);
      // What to do either way: this file is the last good ruleset itself, not a copy.
      const fix = `: it holds the last good ${f} ruleset, which restore-last loads; put back the file nfgit wrote, or apply the rules again (nfgit apply, nfgit sync)`;
      if (!read.exists) throw new CorruptStateFile(file, `it is missing, though last-good.json records it${fix}`);
      // Unread: the very file read ahead.
      const text = read.text ?? ahead?.text ?? '';
      if (fileDigest(text) !== family.digest)
        throw new CorruptStateFile(file, `it does not match the sha256 recorded in last-good.json (${family.digest})${fix}`);
      this.verifiedRules.set(f, { stamp: read.stamp, digest: family.digest });
      families[f] = { ...family, text };
    }
    return { ...record, nfgitLastGood: 1, families };
  }

  /**
   * Records the last good ruleset with the files beside it: first its rulesets (rules.v4, rules.v6,
   * durably), the copy of its plan for people (plan.json) and the canonical forms for drift, staged;
   * then last-good.json (version 2), durably, naming each of those files by sha256; then the staged files
   * renamed into place. A crash in between leaves the journal (marked applied), whose recovery writes
   * them all again. Throws (a full disk named) if any cannot be written.
   */
  writeLastGood(last: LastGood | PreparedLastGood, canonical: CanonicalForms): void {
    const p = last instanceof PreparedLastGood ? last : new PreparedLastGood(last);
    const files: Record<string, string> = {};
    const staged: StagedFile[] = [];
    const removed: string[] = [];
    try {
      const put = (name: string, text: string | undefined): void => {
        if (text === undefined) {
          removed.push(this.file(name));
          return;
        }
        // A canonical form the same as the one read and checked in this command stays as it is.
        const same = this.recordedUnchanged(name, text);
        if (same !== undefined) {
          files[name] = same;
          return;
        }
        // Copies and caches need no fsync: last-good.json, which records their sha256, is synced.
        staged.push(this.takeEarlyFile(name, text) ?? stageFile(this.file(name), text, 0o600, { noSync: true }));
        files[name] = p.digests[name] ?? fileDigest(text);
      };
      // The rulesets are the record's own texts (version 2): durable before last-good.json names them.
      const putRules = (family: Family): void => {
        const text = p.families[family];
        const name = RULES_COPY[family];
        const digest = p.digests[name];
        if (text === undefined || digest === undefined) {
          removed.push(this.file(name));
          return;
        }
        files[name] = digest;
        // Unchanged since last-good.json was read: rules.v4/v6 holds it already.
        if (this.rulesOnDisk(family, digest)) return;
        // Written for the journal already (durably): renamed into place, not written again.
        if (this.journalRules.get(family) === digest) staged.push(renamedFile(this.file(JOURNAL_RULES[family]), this.file(name)));
        else staged.push(stageFile(this.file(name), text, 0o600, { json: true }));
      };
      if (p.plan !== undefined) put(STATE_FILE.plan, p.plan);
      else if (!this.keepPlan(p, files)) removed.push(this.file(STATE_FILE.plan));
      for (const family of FAMILIES) {
        putRules(family);
        put(CANONICAL_FILE[family], canonical[family]);
      }
      put(CANONICAL_FILE.ipsets, canonical.ipsets);
      const generation = canonical.generation === undefined ? '' : `,"generation":${JSON.stringify(canonical.generation)}`;
      const record = `${p.fileRecord.slice(0, -1)},"files":${JSON.stringify(files)}${generation}}`;
      writeDurable(this.file(STATE_FILE.lastGood), sealJson(record), 0o600, { json: true });
    } catch (err) {
      for (const s of staged) s.discard();
      throw err;
    } finally {
      this.lastGoodCache = undefined;
      this.recordedCache.clear();
      this.verifiedRules.clear();
      this.ahead.clear();
    }
    // Renames and removals need no space: once the record is written, the files beside it follow.
    for (const s of staged) s.commit();
    for (const f of removed) rmSync(f, { force: true });
    this.journalRules.clear();
  }

  /**
   * The digest of a recorded file (a canonical form) when it holds `text` already: read and checked in
   * this command (readRecorded) and not changed since. Undefined when it must be written.
   */
  private recordedUnchanged(name: string, text: string): string | undefined {
    const cached = this.recordedCache.get(name);
    if (cached === undefined || cached.text !== text || !this.sameWrite(name, cached.stamp)) return undefined;
    return cached.want ?? fileDigest(text);
  }

  /**
   * restore-last and a finished journal have no plan (the journal stays lean): the plan.json of the
   * same ruleset stays, if it is still the one recorded; otherwise it goes, rather than describe
   * another ruleset.
   */
  private keepPlan(p: PreparedLastGood, files: Record<string, string>): boolean {
    const file = this.file(STATE_FILE.plan);
    try {
      const prev = this.readLastGood();
      const want = prev?.files?.[STATE_FILE.plan];
      const same = (['ipv4', 'ipv6'] as const).every((f) => prev?.families[f]?.digest === p.digests[RULES_COPY[f]]);
      const read = readStateFile(file);
      if (same && want !== undefined && read.exists && fileDigest(read.text) === want) {
        files[STATE_FILE.plan] = want;
        return true;
      }
    } catch {
      // A damaged record or plan: the plan goes.
    }
    return false;
  }

  /**
   * The copies for people (rules.v4, rules.v6, plan.json) that no longer match what last-good.json
   * recorded: nfgit never loads them, but a mismatch means someone or something changed the state
   * directory. One sentence each.
   */
  damagedCopies(): string[] {
    const files = this.readLastGood()?.files ?? {};
    const damaged: string[] = [];
    for (const name of [STATE_FILE.plan, RULES_COPY.ipv4, RULES_COPY.ipv6]) {
      const want = files[name];
      if (want === undefined) continue;
      const file = this.file(name);
      try {
        const read = readStateFile(file);
        if (!read.exists) damaged.push(`${file} is missing`);
        else if (fileDigest(read.text) !== want) damaged.push(`${file} does not match the sha256 recorded in last-good.json`);
      } catch (err) {
        damaged.push((err as Error).message);
      }
    }
    return damaged;
  }

  /** The canonical form of the last good ruleset for a family, if known; throws if it is not what was recorded. */
  readCanonical(family: Family): string | undefined {
    return this.readRecorded(CANONICAL_FILE[family]);
  }

  /** The canonical form of the owned sets after the last apply, if known; throws if it is not what was recorded. */
  readCanonicalSets(): string | undefined {
    return this.readRecorded(CANONICAL_FILE.ipsets);
  }

  /**
   * A file whose sha256 last-good.json records: drift detection trusts it to say what was applied, so
   * a mismatch is an error naming it (never a silent "repair" towards a changed file). Files of an
   * older nfgit (no sha256 recorded) are read as they are.
   */
  private readRecorded(name: string): string | undefined {
    const file = this.file(name);
    const cached = this.recordedCache.get(name);
    const ahead = cached === undefined ? this.ahead.get(name) : undefined;
    const read = readStampedStateFile(file, cached?.stamp ?? ahead?.stamp);
    const want = this.readLastGood()?.files?.[name];
    if (!read.exists) {
      if (want !== undefined) throw new CorruptStateFile(file, 'it is missing, though last-good.json records it');
      return undefined;
    }
    // The same file as read before, checked against the same record: not read or hashed again.
    if (read.text === undefined && cached !== undefined && cached.want === want) return cached.text;
    // Unread only when its stamp was the cached one: the same text, checked again against a new record.
    const text = read.text ?? cached?.text ?? ahead?.text ?? '';
    if (want !== undefined && fileDigest(text) !== want)
      throw new CorruptStateFile(file, `it does not match the sha256 recorded in last-good.json (${want})`);
    this.recordedCache.set(name, { stamp: read.stamp, want, text });
    return text;
  }
}

/** A state file's content, or undefined when it is damaged (only where the caller replaces it, or copies what it holds). */
export function readOrNothing<T>(read: () => T | undefined): T | undefined {
  try {
    return read();
  } catch (err) {
    if (err instanceof CorruptStateFile) return undefined;
    throw err;
  }
}

/** A journal's text as written (its JSON, sealed), and the record whose rulesets it names (written beside it first). */
export interface SealedJournal {
  readonly text: string;
  readonly rules?: PreparedLastGood;
}

/**
 * The journal's text as written: its JSON, sealed (made while staging runs, off the critical path).
 * With the record prepared for last-good.json, version 3: the record without its rulesets' texts, which
 * are journal.v4/v6 (writeJournal writes them; readJournal reads them back by digest), so that 50k
 * rules are neither quoted into JSON, sealed, read back nor parsed.
 */
export function sealedJournal(journal: Journal, record?: PreparedLastGood): SealedJournal {
  if (record === undefined || !record.describes(journal.record)) return { text: sealJson(JSON.stringify(journal)) };
  const { record: _record, ...rest } = journal;
  const head = JSON.stringify({ ...rest, nfgitJournal: 3, record: 0 });
  return { text: sealJson(`${head.slice(0, -'0}'.length)}${record.fileRecord}}`), rules: record };
}

/** A file of the record written ahead (StateDir.stageAhead): its text, and the staged file once written. */
interface EarlyFile {
  readonly text: string;
  readonly done: Promise<void>;
  staged?: StagedFile;
}

/** The rulesets a journal names (journal.v4/v6), with the digests of their texts. */
export type JournalRules = Partial<Record<Family, { readonly text: string; readonly digest: string }>>;

/** A prepared record's rulesets, as its journal names them. */
export function journalRulesOf(p: PreparedLastGood): JournalRules {
  const rules: JournalRules = {};
  for (const f of FAMILIES) {
    const text = p.families[f];
    const digest = p.digests[RULES_COPY[f]];
    if (text !== undefined && digest !== undefined) rules[f] = { text, digest };
  }
  return rules;
}

/** A last good ruleset serialized once, before the journal (which holds the same JSON), to be written at once later. */
export class PreparedLastGood {
  /**
   * Its JSON as last-good.json (version 2) and a journal (version 3) hold it: the families without their
   * texts, which are rules.v4/rules.v6 (journal.v4/v6) beside it, named by their digests (no 6 MB of
   * rules quoted, sealed, read back and parsed at 50k rules); without `files` and `generation`.
   */
  readonly fileRecord: string;
  /** The record it was made from, to tell whether a journal's record is that one. */
  private readonly source: LastGood;
  readonly families: Partial<Record<Family, string>>;
  /** sha256 of the files written from it (rules.v4, rules.v6; plan.json once warm() made it), by file name, taken ahead of time. */
  readonly digests: Record<string, string> = {};
  /** The text of plan.json, made when first needed (null: not yet). */
  private planText: string | undefined | null = null;
  constructor(last: LastGood) {
    // `files` and `generation` describe an earlier write; writeLastGood records them anew.
    this.source = last;
    const { plan: _plan, files: _files, generation: _generation, ...record } = last;
    const families: Partial<Record<Family, Omit<FamilyRuleset, 'text'>>> = {};
    for (const f of FAMILIES) {
      const family = last.families[f];
      if (family === undefined) continue;
      const { text: _text, ...rest } = family;
      families[f] = rest;
      // The compiler's digest of each family is the digest of the very text written to rules.v4/rules.v6.
      this.digests[RULES_COPY[f]] = family.digest;
    }
    this.fileRecord = JSON.stringify({ ...record, nfgitLastGood: 2, families });
    this.families = { ipv4: last.families.ipv4?.text, ipv6: last.families.ipv6?.text };
  }

  /** plan.json's text: the compiler's plan (its JSON made lazily by deploy.ts, 50k source map entries), if any. */
  get plan(): string | undefined {
    if (this.planText === null) {
      const plan = this.source.plan;
      this.planText =
        plan === undefined ? undefined : 'json' in plan && typeof plan.json === 'string' ? plan.json : JSON.stringify(plan) + '\n';
    }
    return this.planText;
  }

  /** Makes plan.json's text and digest now (while the restore tools run), not when the record is written. */
  warm(): void {
    const plan = this.plan;
    if (plan !== undefined) this.digests[STATE_FILE.plan] ??= fileDigest(plan);
  }

  /**
   * Whether `record` serializes as this one did: the same object, or a copy of it without the plan (the
   * journal's), files or generation (which this one leaves out too).
   */
  describes(record: LastGood): boolean {
    if (record === this.source) return true;
    const keys = (r: LastGood): string[] => Object.keys(r).filter((k) => k !== 'plan' && k !== 'files' && k !== 'generation');
    const a = keys(record);
    const b = keys(this.source);
    return a.length === b.length && a.every((k, i) => k === b[i] && record[k as keyof LastGood] === this.source[k as keyof LastGood]);
  }
}
