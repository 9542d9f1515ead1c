// Status tags in a repository: reading every host's tags back with their signatures checked (the
// writing is in status-write.ts, re-exported here). Per-host names and never moving a
// tag avoid what hurt Flux v1's single moving sync tag (shared tags, force-pushes refused by tag
// protection, moved tags breaking `fetch.pruneTags`).

import { Errors } from 'isomorphic-git';
import type { StatusRecord } from './status-message.js';
import type { AllowedSigner } from './signing/allowed-signers.js';
import { readLocalRefs } from './local-refs.js';
import { checkTagSignature, parseTagObject, statusRecordOf, type SignatureState } from './status-tag-object.js';
import { CorruptObjectError, readVerifiedObject } from './verified-objects.js';

export type { SignatureState } from './status-tag-object.js';

/** One status tag as read back. */
export interface StatusTag {
  /** Tag name without `refs/tags/`, for example `nfgit/fw1/1a2b3c4d5e6f`. */
  readonly name: string;
  /** The host named by the tag name. */
  readonly host: string;
  /** The object the tag points at. */
  readonly target: string;
  /** The parsed message, or why it is not a status record (also when it disagrees with the tag name). */
  readonly record: StatusRecord | { readonly error: string };
  readonly taggerTime: Date | null;
  readonly signature: SignatureState;
  readonly signatureDetail: string;
}

/** Options of readStatusTags. */
export interface ReadStatusTagsOptions {
  readonly gitdir: string;
  /** Trusted keys; null leaves signatures not checked. */
  readonly signers: readonly AllowedSigner[] | null;
  /** Tag name prefix, `nfgit/` unless given (for example `nfgit/fw1/`). */
  readonly prefix?: string;
}

const TAGS = 'refs/tags/';

/** What a tag that does not hash to its id means for a status tag. */
const NOT_TRUSTED = '; the status tag is not trusted';

/** One tag of readStatusTags: unreadable (missing, corrupt, lightweight) or checked. */
async function readOneStatusTag(opts: ReadStatusTagsOptions, name: string, oid: string, cache: object): Promise<StatusTag> {
  const host = name.split('/')[1] ?? '';
  const unreadable = (target: string, error: string, signature: SignatureState, signatureDetail: string): StatusTag => ({
    name,
    host,
    target,
    record: { error },
    taggerTime: null,
    signature,
    signatureDetail,
  });
  let obj;
  try {
    obj = await readVerifiedObject({ gitdir: opts.gitdir, name: opts.gitdir }, oid, { then: NOT_TRUSTED, cache });
  } catch (err) {
    if (err instanceof CorruptObjectError)
      return unreadable('', err.message, 'bad', 'the tag object does not hash to its id: the repository is corrupt or was tampered with');
    if (!(err instanceof Errors.NotFoundError)) throw err;
    return unreadable('', `the tag object ${oid} is missing (fetch the tags again)`, 'bad', 'the tag object is missing');
  }
  if (obj.type !== 'tag')
    return unreadable(oid, 'a lightweight tag, not an annotated status tag', 'unsigned', 'a lightweight tag cannot be signed');
  const tag = parseTagObject(obj.content);
  return {
    name,
    host,
    target: tag.target,
    record: statusRecordOf(tag, name, host),
    taggerTime: tag.taggerTime,
    ...checkTagSignature(tag, host, opts.signers, tag.taggerTime ?? new Date()),
  };
}

/**
 * Reads the status tags under prefix (`nfgit/` by default), parsing each message and checking each
 * signature: good only when an allowed key signed it and that key may sign as `HOST@nfgit` for the
 * host the tag names. Sorted by name. The refs are listed once and the packs indexed once (one
 * isomorphic-git cache for all reads): per-tag lookups made this quadratic in the fleet (issue 14).
 */
export async function readStatusTags(opts: ReadStatusTagsOptions): Promise<StatusTag[]> {
  const prefix = opts.prefix ?? 'nfgit/';
  if (!prefix.startsWith('nfgit/')) return [];
  const refs = await readLocalRefs(opts.gitdir, `${TAGS}nfgit/`);
  const cache = {};
  const out: StatusTag[] = [];
  for (const [ref, oid] of refs) {
    const name = ref.slice(TAGS.length);
    if (name.startsWith(prefix)) out.push(await readOneStatusTag(opts, name, oid, cache));
  }
  return out;
}

export { fetchHostTags, writeStatusTag, type StatusRemote, type WriteStatusTagOptions, type WriteStatusTagResult } from './status-write.js';
