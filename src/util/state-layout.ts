// The state directory's layout, once: its default place and every file name in it (the apply's
// records, the agent's memory and clone, the locks). Renaming one here renames it everywhere; the names
// are part of what an installed nfgit finds on disk, so a rename needs a migration.

/** Where nfgit keeps its state by default; here (no state code, no zod) so the command line can name it cheaply. */
export const DEFAULT_STATE_DIR = '/var/lib/nfgit';

/** The files in it, by what they hold. */
export const STATE_FILE = {
  /** flock of apply and restore-last (state-lock.ts). */
  lock: 'lock',
  /** flock of an agent pass (sync, run, diff --config), apart from the apply's. */
  agentLock: 'agent.lock',
  /** The agent's memory: what it applied and decided (agent-state.ts). */
  agent: 'agent.json',
  /** An admin's pause of the agent (`nfgit pause`): who, when, until when, why (agent/pause.ts). */
  pause: 'pause.json',
  /** What the agent's passes did, for `nfgit status --local` and metrics: last pass, failures, next pass, counters (agent/pass-record.ts). */
  passes: 'agent-status.json',
  /** The agent's clone of the rules repository. */
  repo: 'repo.git',
  /** An apply in progress: enough to finish or undo it after a crash. */
  journal: 'journal.json',
  /** The journal's apply is in both families. */
  journalApplied: 'journal.applied',
  /** The journal's apply is on probation (probes, confirmation). */
  journalProbation: 'journal.probation',
  /** The rulesets of the journal's apply, which journal.json names by sha256; renamed to rules.v4/v6 once recorded. */
  journalRules: { ipv4: 'journal.v4', ipv6: 'journal.v6' },
  /** The last good ruleset, what restore-last loads. */
  lastGood: 'last-good.json',
  /** Its source map. */
  plan: 'plan.json',
  /** The rulesets it loaded, which last-good.json names by sha256 (version 2; copies beside an older nfgit's record). */
  rulesCopy: { ipv4: 'rules.v4', ipv6: 'rules.v6' },
  /** The kernel's form of what it loaded, which drift detection compares with. */
  canonical: { ipv4: 'canonical.v4', ipv6: 'canonical.v6', ipsets: 'canonical.ipsets' },
} as const;

/** The file `nfgit confirm` creates for the apply whose journal has this id. */
export function confirmFileName(id: string): string {
  return `confirm-${id}`;
}

/** Where a damaged journal is moved (kept for a post-mortem), stamped with when. */
export function damagedJournalName(when: Date): string {
  return `${STATE_FILE.journal}.damaged-${when.toISOString().replace(/[:.]/g, '-')}`;
}

/** Every file apply and restore-last keep in the state directory (agent.json and the clone are the agent's). */
export const APPLY_FILES: readonly string[] = [
  STATE_FILE.lock,
  STATE_FILE.journal,
  STATE_FILE.journalApplied,
  STATE_FILE.journalProbation,
  ...Object.values(STATE_FILE.journalRules),
  STATE_FILE.lastGood,
  STATE_FILE.plan,
  ...Object.values(STATE_FILE.rulesCopy),
  ...Object.values(STATE_FILE.canonical),
];
