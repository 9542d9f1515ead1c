import { createHash } from 'node:crypto';
import { z } from 'zod';
import { isTargetJsonName } from '../netfilter/target.js';
import { CorruptStateFile } from '../errors/state-errors.js';
import { digestOf } from '../compiler/plan.js';

/**
 * The state files' shapes (checked with zod on every read) and their seal: a sha256 of the file's
 * JSON, kept as its last key, so that a file cut off or damaged on disk is told apart from a good one.
 * The seal lives in the file it guards, so it proves nothing against someone who can write the
 * state directory: that is what the ownership and mode checks (util/state-security.ts) are for.
 */

// Where it was defined before; its importers in apply/ read it from here.
export { CorruptStateFile };

const SEAL = /(,?)"sha256":"([0-9a-f]{64})"\}\s*$/;

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Adds the seal to a JSON object's text (the digest of the text without it). */
export function sealJson(body: string): string {
  const open = body.slice(0, -1);
  return `${open}${open.trim() === '{' ? '' : ','}"sha256":"${sha256(body)}"}`;
}

/**
 * Checks the seal and returns the parsed JSON. Files without a seal (written by nfgit before it
 * sealed them) are accepted when they parse: an upgrade keeps its state directory.
 */
export function unsealJson(file: string, text: string): unknown {
  const m = SEAL.exec(text);
  let body = text;
  if (m !== null) {
    body = text.slice(0, m.index) + '}';
    const got = sha256(body);
    if (got !== m[2]) throw new CorruptStateFile(file, `its content does not match its sha256 (recorded ${m[2]}, found ${got})`);
  }
  try {
    return JSON.parse(body);
  } catch (err) {
    throw new CorruptStateFile(file, text.trim() === '' ? 'it is empty' : `it is not valid JSON (${(err as Error).message}; cut off?)`);
  }
}

/** Parses a state file's JSON against its schema, every problem named as `path: message`. */
export function parseRecord<T>(file: string, text: string, schema: z.ZodType<T>, what: string): T {
  const r = schema.safeParse(unsealJson(file, text));
  if (r.success) return r.data;
  const issues = r.error.issues.slice(0, 5).map((i) => `${i.path.length === 0 ? '(top)' : i.path.map(String).join('.')}: ${i.message}`);
  throw new CorruptStateFile(file, `it is not a valid ${what} (${issues.join('; ')})`);
}

/** The digest nfgit records for a file (as plan.json does). */
export const fileDigest = digestOf;

/** A digest as nfgit records it (digestOf): `sha256:HEX`. */
const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/);

const family = z.object({
  text: z.string(),
  usedTables: z.array(z.string()),
  rules: z.number().int().nonnegative(),
  digest,
});

const ipsets = z.object({ text: z.string(), digest: z.string(), sets: z.array(z.string()) });
const target = z.object({ netns: z.string().nullable().refine(isTargetJsonName, 'not a network namespace name') });

/** The families of a record, of which at least one. */
const familiesOf = <F extends z.ZodType>(f: F) =>
  z.object({ ipv4: f.optional(), ipv6: f.optional() }).refine((x) => x.ipv4 !== undefined || x.ipv6 !== undefined, 'no family at all');

/** What both versions of last-good.json hold beside the families. */
const recordFields = {
  appliedAt: z.string(),
  target,
  hostCommands: z.array(z.object({ argv: z.array(z.string()).min(1), at: z.string() })),
  ipsets: ipsets.optional(),
  source: z.string(),
  /** sha256 of each file written beside it (rules copies, plan.json, canonical forms), by name. */
  files: z.record(z.string(), z.string()).optional(),
  generation: z.object({ boot: z.string().min(1), netns: z.string().regex(/^\d+$/), gen: z.number().int().nonnegative() }).optional(),
};

/** last-good.json as this nfgit writes it (the rule texts inside), and a journal's record; without the plan (kept as plan.json). */
export const lastGoodSchema = z.looseObject({ nfgitLastGood: z.literal(1), families: familiesOf(family), ...recordFields });

/** A record without the families' texts (version 2), which are files beside it, named by their digest. */
const recordWithoutTexts = { nfgitLastGood: z.literal(2), families: familiesOf(family.omit({ text: true })), ...recordFields };

/**
 * last-good.json as this nfgit writes it (version 2): the families' texts are rules.v4 and rules.v6
 * beside it, named by their digest (StateDir.readLastGood reads and checks them). The release before
 * this one reads it too.
 */
const lastGoodV2Schema = z.looseObject({ ...recordWithoutTexts, files: z.record(z.string(), z.string()) });

/** last-good.json as read: either version. */
export const lastGoodFileSchema = z.discriminatedUnion('nfgitLastGood', [lastGoodSchema, lastGoodV2Schema]);

/** journal.json. */
export const journalSchema = z
  .looseObject({
    // 2: the snapshot is named (snapshotFiles), not copied; 3: the record's texts too (journal.v4/v6,
    // whose digests the record holds), the snapshot named or copied. An older nfgit refuses a version it
    // does not know as damaged (sets it aside, loads a whole ruleset).
    nfgitJournal: z.union([z.literal(1), z.literal(2), z.literal(3)]),
    id: z.string().min(1),
    command: z.string(),
    started: z.string(),
    target,
    families: z.array(z.enum(['ipv4', 'ipv6'])).min(1),
    snapshot: z.object({ ipv4: z.string().optional(), ipv6: z.string().optional() }),
    snapshotFromRecord: z.literal(true).optional(),
    snapshotFiles: z.object({ ipv4: digest.optional(), ipv6: digest.optional() }).optional(),
    ipsets: z.object({ snapshot: z.string(), created: z.array(z.string()), owned: z.array(z.string()).optional() }).optional(),
    step: z.literal('journaled'),
    record: z.discriminatedUnion('nfgitLastGood', [lastGoodSchema, z.looseObject(recordWithoutTexts)]),
  })
  .refine(
    (j) => j.nfgitJournal === 3 || (j.nfgitJournal === 2) === (j.snapshotFiles !== undefined),
    'snapshotFiles with nfgitJournal 2 or 3, and only then',
  )
  .refine(
    (j) => (j.nfgitJournal === 3) === (j.record.nfgitLastGood === 2),
    'a record without its texts (nfgitLastGood 2) with nfgitJournal 3, and only then',
  );

/** journal.applied. */
export const appliedMarkerSchema = z.object({ id: z.string().min(1) });

/** journal.probation. */
export const probationMarkerSchema = z.object({
  id: z.string().min(1),
  pid: z.number().int(),
  confirmBy: z.string().nullable(),
  appliedAt: z.string(),
});

/**
 * The rulesets inside a record must be the ones their digests name: a ruleset text damaged on disk is
 * never loaded (the digest was taken by the compiler).
 */
export function checkFamilyDigests(
  file: string,
  record: {
    readonly families: { readonly [f: string]: { readonly text: string; readonly digest: string } | undefined };
    readonly ipsets?: { readonly text: string; readonly digest: string } | undefined;
  },
): void {
  for (const [name, f] of Object.entries(record.families)) {
    if (f !== undefined && digestOf(f.text) !== f.digest)
      throw new CorruptStateFile(file, `its ${name} ruleset does not match its digest ${f.digest}`);
  }
  if (record.ipsets !== undefined && digestOf(record.ipsets.text) !== record.ipsets.digest)
    throw new CorruptStateFile(file, `its ipsets do not match their digest ${record.ipsets.digest}`);
}
