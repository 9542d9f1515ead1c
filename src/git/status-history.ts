// One host's history: its reports newest first, walked from its current status ref through the
// Previous-Tag links each report carries (no listing needed), completed by the host's listed tags
// `refs/tags/nfgit/HOST/*` (tags written before the links existed, or past a link to a pruned tag).

import { RemoteError } from '../errors/errors.js';
import {
  fetchedLookup,
  localLookup,
  mapConcurrent,
  statusFromObject,
  type CurrentStatus,
  type FetchedObject,
  type ObjectLookup,
  type StatusWire,
} from './current-status.js';
import { readLocalRefs } from './local-refs.js';
import type { AllowedSigner } from './signing/allowed-signers.js';
import { hostStatusRef } from './status-message.js';

/** One report of a host's history, and how it was found: its current ref, a Previous-Tag link, or its tag listing. */
export interface HistoryEntry extends CurrentStatus {
  readonly via: 'current' | 'link' | 'tag';
}

/** How many reports a walk reads at most (a local repository keeps the objects of pruned tags until gc). */
export const HISTORY_LIMIT = 1000;

/** The time a report is sorted by: its record's, else its tagger's. */
function timeOf(e: CurrentStatus): number {
  return 'error' in e.record ? (e.taggerTime?.getTime() ?? 0) : e.record.time.getTime();
}

/**
 * The history of host from its current tag object (null: none) and its listed tags (ref → oid):
 * the links are followed while their objects can be read, then the listed tags not reached are
 * added; newest first. Pure but for lookup.
 */
export async function hostHistory(
  host: string,
  current: string | null,
  tags: ReadonlyMap<string, string>,
  lookup: ObjectLookup,
  signers: readonly AllowedSigner[] | null,
): Promise<HistoryEntry[]> {
  const entries: HistoryEntry[] = [];
  const seen = new Set<string>();
  let next: { oid: string; ref: string; name?: string; via: HistoryEntry['via'] } | null =
    current === null ? null : { oid: current, ref: hostStatusRef(host), via: 'current' };
  while (next !== null && !seen.has(next.oid) && entries.length < HISTORY_LIMIT) {
    const obj = await lookup(next.oid);
    // A link to a pruned tag whose object is gone here ends the walk; the listing carries on.
    if ('missing' in obj && next.via === 'link' && obj.corrupt !== true) break;
    const s = statusFromObject(host, next.ref, next.oid, obj, signers, next.name);
    seen.add(next.oid);
    entries.push({ ...s, via: next.via });
    const link = 'error' in s.record ? undefined : s.record.previousTag;
    next = link === undefined ? null : { oid: link.oid, ref: `refs/tags/${link.name}`, name: link.name, via: 'link' };
  }
  const rest = [...tags].filter(([, oid]) => !seen.has(oid));
  const listed = await mapConcurrent(rest, 16, async ([ref, oid]) => ({
    ...statusFromObject(host, ref, oid, await lookup(oid), signers, ref.slice('refs/tags/'.length)),
    via: 'tag' as const,
  }));
  return [...entries, ...listed].sort((a, b) => timeOf(b) - timeOf(a)).slice(0, HISTORY_LIMIT);
}

/** The prefix of a host's decision tags. */
export function hostTagsPrefix(host: string): string {
  hostStatusRef(host); // validates the name
  return `refs/tags/nfgit/${host}/`;
}

/** A host's history in a local repository (bare or a clone's git directory), read in place. */
export async function readLocalHostHistory(
  gitdir: string,
  host: string,
  signers: readonly AllowedSigner[] | null,
): Promise<HistoryEntry[]> {
  const ref = hostStatusRef(host);
  const current = (await readLocalRefs(gitdir, ref.slice(0, ref.lastIndexOf('/') + 1))).get(ref) ?? null;
  return hostHistory(host, current, await readLocalRefs(gitdir, hostTagsPrefix(host)), localLookup(gitdir), signers);
}

/**
 * A host's history from a server: one listing of its current ref and its tags, one fetch of those
 * objects. Links to tags the server no longer names cannot be fetched (servers send only what refs
 * reach) and end the walk there.
 */
export async function fetchHostHistory<R>(
  source: { remote: R; wire: StatusWire<R>; url: string },
  host: string,
  signers: readonly AllowedSigner[] | null,
): Promise<HistoryEntry[]> {
  const ref = hostStatusRef(host);
  const listing = await source.wire.listRefs(source.remote, [ref, hostTagsPrefix(host)]);
  const current = listing.get(ref) ?? null;
  const tags = new Map([...listing].filter(([r]) => r.startsWith(hostTagsPrefix(host))));
  const wants = [...new Set([...(current === null ? [] : [current]), ...tags.values()])];
  const objects =
    wants.length === 0 ? new Map<string, FetchedObject>() : await source.wire.fetchObjects(source.remote, { wants, depth: 1 });
  const fetched = fetchedLookup(objects, source.url);
  const listed = new Set(wants);
  const lookup: ObjectLookup = (oid) =>
    objects.has(oid) || listed.has(oid) ? fetched(oid) : Promise.resolve({ missing: `the tag object ${oid} is no longer on the server` });
  if (wants.some((w) => !objects.has(w)))
    throw new RemoteError(`${source.url} did not send every status tag object it listed for ${host}: the answer is incomplete; try again`);
  return hostHistory(host, current, tags, lookup, signers);
}
