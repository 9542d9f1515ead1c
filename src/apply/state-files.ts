import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Family } from '../compiler/parse-argv.js';
import { ensureDir, removeDurable, writeDurable } from './durable-file.js';
import type { IpsetsJournal, IpsetsRuleset } from './ipset-apply.js';

/** The default state directory (journal, last good ruleset, lock). */
export const DEFAULT_STATE_DIR = '/var/lib/nfgit';

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
  /** The compiler's plan (source map, digests), kept as plan.json beside the last good ruleset. */
  readonly plan?: unknown;
}

/** The last good ruleset: what restore-last loads at boot. */
export interface LastGood extends AppliedRuleset {
  readonly nfgitLastGood: 1;
  readonly appliedAt: string;
  readonly target: { readonly netns: string | null };
}

/** The journal of an apply in progress: enough to finish or undo it after a crash. */
export interface Journal {
  readonly nfgitJournal: 1;
  readonly id: string;
  readonly command: string;
  readonly started: string;
  readonly target: { readonly netns: string | null };
  readonly families: readonly Family[];
  /** iptables-save -c of each family before the apply. */
  readonly snapshot: Partial<Record<Family, string>>;
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

/** Paths and durable reads and writes of the state directory. */
export class StateDir {
  constructor(readonly dir: string) {}

  ensure(): void {
    ensureDir(this.dir);
  }

  private file(name: string): string {
    return path.join(this.dir, name);
  }

  readJournal(): Journal | undefined {
    const journal = this.readJson<Journal>('journal.json');
    if (journal === undefined) return undefined;
    const applied = this.readJson<{ id: string }>('journal.applied');
    if (applied?.id === journal.id) return { ...journal, step: 'applied' };
    return this.readProbation()?.id === journal.id ? { ...journal, step: 'probation' } : journal;
  }

  /** Writes the journal durably; `serialized` is its JSON when already made (off the critical path). */
  writeJournal(journal: Journal, serialized = JSON.stringify(journal)): void {
    removeDurable(this.file('journal.applied'));
    removeDurable(this.file('journal.probation'));
    writeDurable(this.file('journal.json'), serialized);
  }

  /** Marks the journal's apply as restored in both families but awaiting probes or a confirmation (durably). */
  markJournalProbation(marker: ProbationMarker): void {
    writeDurable(this.file('journal.probation'), JSON.stringify(marker));
  }

  /** The probation marker, if an apply is (or was, before a crash) on probation. */
  readProbation(): ProbationMarker | undefined {
    return this.readJson<ProbationMarker>('journal.probation');
  }

  /** The file `nfgit confirm` creates for the apply whose journal has this id. */
  confirmFile(id: string): string {
    return this.file(`confirm-${id}`);
  }

  /** Marks the journal's apply as complete in both families (durably). */
  markJournalApplied(journal: Journal): void {
    writeDurable(this.file('journal.applied'), JSON.stringify({ id: journal.id }));
  }

  removeJournal(): void {
    removeDurable(this.file('journal.json'));
    removeDurable(this.file('journal.applied'));
    removeDurable(this.file('journal.probation'));
  }

  readLastGood(): LastGood | undefined {
    return this.readJson<LastGood>('last-good.json');
  }

  /** Records the last good ruleset atomically; rules.v4, rules.v6 and plan.json beside it are copies for people. */
  writeLastGood(last: LastGood | PreparedLastGood): void {
    const p = last instanceof PreparedLastGood ? last : new PreparedLastGood(last);
    writeDurable(this.file('last-good.json'), p.record);
    // Copies for people: written after the record, without the cost of fsync (the record is what counts).
    if (p.plan !== undefined) writeCopy(this.file('plan.json'), p.plan);
    for (const [family, name] of [['ipv4', 'rules.v4'], ['ipv6', 'rules.v6']] as const) {
      const f = last instanceof PreparedLastGood ? p.families[family] : last.families[family]?.text;
      if (f !== undefined) writeCopy(this.file(name), f);
      else rmSync(this.file(name), { force: true });
    }
  }

  /**
   * Keeps the kernel's canonical form (iptables-save) of the last good ruleset, read back from the
   * staging namespace: what drift detection compares the live ruleset with. Written after the record.
   */
  writeCanonical(family: Family, text: string | undefined): void {
    const file = this.canonicalFile(family);
    if (text === undefined) rmSync(file, { force: true });
    else writeCopy(file, text);
  }

  private canonicalFile(family: Family): string {
    return this.file(`canonical.${family === 'ipv4' ? 'v4' : 'v6'}`);
  }

  /** The canonical form of the last good ruleset for a family, if known. */
  readCanonical(family: Family): string | undefined {
    try {
      return readFileSync(this.canonicalFile(family), 'utf8');
    } catch {
      return undefined;
    }
  }

  /**
   * Keeps the canonical form (see canonicalSets) of the sets nfgit owns, saved from the target right
   * after the apply: what drift detection compares the live sets with. Removed when there are none.
   */
  writeCanonicalSets(text: string | undefined): void {
    const file = this.file('canonical.ipsets');
    if (text === undefined) rmSync(file, { force: true });
    else writeCopy(file, text);
  }

  /** The canonical form of the owned sets after the last apply, if known. */
  readCanonicalSets(): string | undefined {
    try {
      return readFileSync(this.file('canonical.ipsets'), 'utf8');
    } catch {
      return undefined;
    }
  }

  private readJson<T>(name: string): T | undefined {
    let text: string;
    try {
      text = readFileSync(this.file(name), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return JSON.parse(text) as T;
  }
}

/** Replaces a file by rename (never half-written), without fsync. */
function writeCopy(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, file);
}

/** A last good ruleset serialized ahead of time (while a restore runs), to be written at once later. */
export class PreparedLastGood {
  readonly record: string;
  readonly plan: string | undefined;
  readonly families: Partial<Record<Family, string>>;
  constructor(last: LastGood) {
    const { plan, ...record } = last;
    this.record = JSON.stringify(record);
    this.plan = plan === undefined ? undefined : JSON.stringify(plan) + '\n';
    this.families = { ipv4: last.families.ipv4?.text, ipv6: last.families.ipv6?.text };
  }
}
