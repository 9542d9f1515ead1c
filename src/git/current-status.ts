// Every host's current status: the tag object its `refs/nfgit/hosts/HOST` names (its newest report: a
// decision, a heartbeat or a held report), proven to hash to its id, parsed, and its signature checked.
// One prefixed listing and one read (or one fetch) of the objects, whatever the fleet's history: what
// `nfgit status` and a staged rollout read (issue 14).

import { Errors } from 'isomorphic-git';
import { RemoteError } from '../errors/errors.js';
import { readLocalRefs } from './local-refs.js';
import type { AllowedSigner } from './signing/allowed-signers.js';
import { HOST_STATUS_REFS, isValidHostName, statusTagName, type StatusRecord, type TagLink } from './status-message.js';
import { checkTagSignature, parseTagObject, statusRecordOf, type SignatureState } from './status-tag-object.js';
import { gitObjectId } from './object-id.js';
import { CorruptObjectError, readVerifiedObject, type ObjectType } from './verified-objects.js';

/** One host's current status as read back. */
export interface CurrentStatus {
  readonly host: string;
  /** `refs/nfgit/hosts/HOST`. */
  readonly ref: string;
  /** The tag object the ref names. */
  readonly oid: string;
  /** The name the tag object carries (`nfgit/HOST/COMMIT12[.N]`), or null when unreadable. */
  readonly name: string | null;
  /** The report, or why it cannot be used (missing or corrupt object, not a status record, named for another host). */
  readonly record: StatusRecord | { readonly error: string };
  readonly taggerTime: Date | null;
  readonly signature: SignatureState;
  readonly signatureDetail: string;
  /**
   * For a heartbeat whose Previous-Tag names a decision about another commit than the one it runs: that
   * decision (it did not apply its commit: refused, rolled back, untrusted), read so that a failure stays
   * in view after the next heartbeat. Absent when there is none or it could not be read.
   */
  readonly followed?: CurrentStatus;
}

/** What is checked: the allowed signers (null: not checked), and which hosts to read (all unless given). */
export interface CurrentStatusOptions {
  readonly signers: readonly AllowedSigner[] | null;
  readonly hosts?: (host: string) => boolean;
}

/** An object as the wire module returns it (src/git/wire/remote.ts WireObject). */
export interface FetchedObject {
  readonly type: ObjectType;
  readonly content: Buffer;
}

/**
 * The two calls of the wire module (src/git/wire/remote.ts) that reading statuses from a server takes:
 * `import * as wire from './wire/remote.js'` is one. Passed in, so the core is tested on local repositories.
 */
export interface StatusWire<R> {
  listRefs(remote: R, prefixes: readonly string[]): Promise<Map<string, string>>;
  fetchObjects(
    remote: R,
    opts: { wants: readonly string[]; haves?: readonly string[]; depth?: number },
  ): Promise<Map<string, FetchedObject>>;
}

/** Where statuses are read: a local repository (bare or a clone's git directory) in place, or a server. */
export type CurrentStatusSource<R = unknown> =
  | { readonly gitdir: string }
  | { readonly remote: R; readonly wire: StatusWire<R>; readonly url: string };

/** Looks an object up by id: its verified bytes, or why there are none (missing, corrupt). */
export type ObjectLookup = (oid: string) => Promise<FetchedObject | { readonly missing: string; readonly corrupt?: boolean }>;

/** The host a current-status ref names, or null when the ref is not one (nested, or not a valid host name). */
export function hostOfStatusRef(ref: string): string | null {
  if (!ref.startsWith(HOST_STATUS_REFS)) return null;
  const host = ref.slice(HOST_STATUS_REFS.length);
  return isValidHostName(host) ? host : null;
}

/** The host refs of a listing (ref → oid) that opts.hosts selects, sorted by host. */
export function selectHostRefs(listing: ReadonlyMap<string, string>, hosts?: (host: string) => boolean): Array<[string, string, string]> {
  const out: Array<[string, string, string]> = [];
  for (const [ref, oid] of listing) {
    const host = hostOfStatusRef(ref);
    if (host !== null && (hosts === undefined || hosts(host))) out.push([host, ref, oid]);
  }
  return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * One host's status from its tag object. With name (a tag listed under refs/tags/, or named by a
 * Previous-Tag link), the object must carry that name and the name must be the record's.
 */
export function statusFromObject(
  host: string,
  ref: string,
  oid: string,
  obj: FetchedObject | { readonly missing: string; readonly corrupt?: boolean },
  signers: readonly AllowedSigner[] | null,
  name?: string,
): CurrentStatus {
  const base = { host, ref, oid, taggerTime: null, name: null };
  if ('missing' in obj)
    return {
      ...base,
      record: { error: obj.missing },
      signature: 'bad',
      signatureDetail: obj.corrupt === true ? 'the tag object does not hash to its id' : 'the tag object is missing',
    };
  if (obj.type !== 'tag')
    return {
      ...base,
      record: { error: `${ref} names a ${obj.type}, not a status tag object` },
      signature: 'unsigned',
      signatureDetail: `a ${obj.type} cannot carry a status tag's signature`,
    };
  const tag = parseTagObject(obj.content);
  // The name is the tag's own `tag` header: a report that no refs/tags/ names (a heartbeat, a held report) still has one.
  const own = tag.name ?? '';
  let record: StatusRecord | { error: string };
  if (name !== undefined)
    record = own === name ? statusRecordOf(tag, name, host) : { error: `the tag object is named ${JSON.stringify(tag.name)}, not ${name}` };
  else
    record = own.startsWith(`nfgit/${host}/`)
      ? statusRecordOf(tag, own, host, true)
      : { error: `the tag object is named ${JSON.stringify(tag.name)}, not nfgit/${host}/…` };
  return {
    host,
    ref,
    oid,
    name: tag.name,
    record,
    taggerTime: tag.taggerTime,
    ...checkTagSignature(tag, host, signers, tag.taggerTime ?? new Date()),
  };
}

/** How many object reads run at once: enough to overlap the file system, few enough for a small machine. */
const READ_CONCURRENCY = 16;

/** Runs fn over items, at most n at a time, results in the items' order. */
export async function mapConcurrent<T, U>(items: readonly T[], n: number, fn: (item: T) => Promise<U>): Promise<U[]> {
  const out: U[] = new Array<U>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

/** Statuses from a listing and an object lookup: the core both sources share. */
export async function statusesFrom(
  listing: ReadonlyMap<string, string>,
  lookup: ObjectLookup,
  opts: CurrentStatusOptions,
): Promise<CurrentStatus[]> {
  const selected = selectHostRefs(listing, opts.hosts);
  return mapConcurrent(selected, READ_CONCURRENCY, async ([host, ref, oid]) =>
    statusFromObject(host, ref, oid, await lookup(oid), opts.signers),
  );
}

/** The decision a heartbeat follows when it is about another commit than the heartbeat's (see CurrentStatus.followed). */
export function failedLink(s: CurrentStatus): TagLink | null {
  if ('error' in s.record || s.record.heartbeat !== true || s.record.previousTag === undefined) return null;
  const own = statusTagName(s.host, s.record.commit);
  const link = s.record.previousTag;
  return link.name === own || link.name.startsWith(`${own}.`) ? null : link;
}

/** Reads the decisions heartbeats follow (failedLink) through lookup; one that cannot be read is left out. */
export async function followDecisions(
  statuses: readonly CurrentStatus[],
  lookup: ObjectLookup,
  signers: readonly AllowedSigner[] | null,
): Promise<CurrentStatus[]> {
  return mapConcurrent(statuses, READ_CONCURRENCY, async (s) => {
    const link = failedLink(s);
    if (link === null) return s;
    const obj = await lookup(link.oid);
    if ('missing' in obj && obj.corrupt !== true) return s;
    return { ...s, followed: statusFromObject(s.host, `refs/tags/${link.name}`, link.oid, obj, signers, link.name) };
  });
}

/** Every selected host's current status in a local repository, from a listing of its current refs. */
export async function localCurrentStatuses(
  gitdir: string,
  listing: ReadonlyMap<string, string>,
  opts: CurrentStatusOptions,
): Promise<CurrentStatus[]> {
  const lookup = localLookup(gitdir);
  return followDecisions(await statusesFrom(listing, lookup, opts), lookup, opts.signers);
}

/** Reads objects of a local repository, hashed to their ids; one pack-index cache for the whole read. */
export function localLookup(gitdir: string): ObjectLookup {
  const cache = {};
  return async (oid) => {
    try {
      return await readVerifiedObject({ gitdir, name: gitdir }, oid, { cache, then: '; the status is not trusted' });
    } catch (err) {
      if (err instanceof CorruptObjectError) return { missing: err.message, corrupt: true };
      if (err instanceof Errors.NotFoundError) return { missing: `the tag object ${oid} is missing (fetch the status refs again)` };
      throw err;
    }
  };
}

/**
 * Looks objects up in a fetched set. Each is hashed again here: the fetch promises it, and a status
 * believed on a wrong id would let one host's signed report stand for another's. A wanted object the
 * server did not send makes the whole answer incomplete: an error, never "missing" (issue 14's 10 MiB bug).
 */
export function fetchedLookup(objects: ReadonlyMap<string, FetchedObject>, url: string): ObjectLookup {
  return (oid) => {
    const obj = objects.get(oid);
    if (obj === undefined)
      return Promise.reject(
        new RemoteError(`${url} did not send the status tag object ${oid} it listed: the answer is incomplete; try again`),
      );
    if (gitObjectId(obj.type, obj.content) !== oid)
      return Promise.resolve({ missing: `the object sent as ${oid} does not hash to that id`, corrupt: true });
    return Promise.resolve(obj);
  };
}

/** The listing of a server's current-status refs, and the refs asked for with them (the branch, for its head). */
export async function listRemoteStatusRefs<R>(
  source: { remote: R; wire: StatusWire<R> },
  extra: readonly string[] = [],
): Promise<Map<string, string>> {
  return source.wire.listRefs(source.remote, [HOST_STATUS_REFS, ...extra]);
}

/** Fetches the tag objects a listing names (in one request) and reads the statuses from them. */
export async function fetchCurrentStatuses<R>(
  source: { remote: R; wire: StatusWire<R>; url: string },
  listing: ReadonlyMap<string, string>,
  opts: CurrentStatusOptions,
): Promise<CurrentStatus[]> {
  const wants = [...new Set(selectHostRefs(listing, opts.hosts).map(([, , oid]) => oid))];
  // depth 1: the tag objects and what they point at, not the history behind them.
  const objects =
    wants.length === 0 ? new Map<string, FetchedObject>() : await source.wire.fetchObjects(source.remote, { wants, depth: 1 });
  const statuses = await statusesFrom(listing, fetchedLookup(objects, source.url), opts);
  // A second request, for the few hosts whose heartbeat follows a failed decision. Best effort: a
  // decision tag pruned since cannot be fetched, and the hosts keep what their heartbeat says.
  const links = [...new Set(statuses.map((s) => failedLink(s)?.oid).filter((o): o is string => o !== undefined))];
  if (links.length === 0) return statuses;
  const decisions = await source.wire.fetchObjects(source.remote, { wants: links, depth: 1 }).catch(() => new Map<string, FetchedObject>());
  const fetched = fetchedLookup(decisions, source.url);
  return followDecisions(
    statuses,
    (oid) => (decisions.has(oid) ? fetched(oid) : Promise.resolve({ missing: `the tag object ${oid} is no longer on the server` })),
    opts.signers,
  );
}

/**
 * Every selected host's current status, sorted by host: from a local repository (its
 * `refs/nfgit/hosts/*`, read in place) or from a server (one listing, one fetch). Signatures are
 * checked against opts.signers for `HOST@nfgit` of the host the ref names. An empty list when the
 * repository has no current-status refs (a fleet from before them, or a clone that did not fetch them).
 */
export async function readCurrentStatuses<R>(source: CurrentStatusSource<R>, opts: CurrentStatusOptions): Promise<CurrentStatus[]> {
  if ('gitdir' in source) return localCurrentStatuses(source.gitdir, await readLocalRefs(source.gitdir, HOST_STATUS_REFS), opts);
  return fetchCurrentStatuses(source, await listRemoteStatusRefs(source), opts);
}
