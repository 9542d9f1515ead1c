// Status tags in a repository: writing this host's signed tag, publishing it, pruning old ones, and
// reading every host's tags back with their signatures checked. Per-host names and never moving a
// tag avoid what hurt Flux v1's single moving sync tag (shared tags, force-pushes refused by tag
// protection, moved tags breaking `fetch.pruneTags`).

import fs from 'node:fs';
import git, { Errors, type HttpClient } from 'isomorphic-git';
import { RemoteError, SandboxError, UsageError } from '../errors/errors.js';
import { errnoCode, writeHint } from '../util/sandbox-hints.js';
import { formatStatusMessage, parseStatusMessage, statusTagName, type StatusRecord } from './status-message.js';
import type { AllowedSigner } from './signing/allowed-signers.js';
import { signerPrincipal } from './signing/host-identity.js';
import type { HostKey } from './signing/openssh-key.js';
import { signSshsig } from './signing/sshsig.js';
import { splitSignedTag } from './signed-objects.js';
import { sharedRepositoryFs } from './shared-repository-fs.js';
import { redactUrl, remoteError, withLimits, type authCallbacks, type RemoteContext } from './transport.js';
import { CorruptObjectError, readVerifiedObject } from './verified-objects.js';
import { readLocalRefs } from './local-refs.js';
import { checkTagSignature, parseTagObject, statusRecordOf, type SignatureState } from './status-tag-object.js';

export type { SignatureState } from './status-tag-object.js';

/** Where status tags are published: the repository URL, the HTTP client and the credentials. */
export interface StatusRemote {
  readonly url: string;
  readonly http: HttpClient;
  readonly auth: ReturnType<typeof authCallbacks>;
}

/** Options of writeStatusTag. */
export interface WriteStatusTagOptions {
  /** The agent's repository: holds record.commit; with remote null, the shared repository itself. */
  readonly gitdir: string;
  readonly remote: StatusRemote | null;
  readonly record: StatusRecord;
  readonly key: HostKey;
  /** How many of this host's status tags to keep (at least 1). */
  readonly keep: number;
  /**
   * A new decision about a commit that already has a tag (sync --retry), or a heartbeat: written under the next free
   * name `nfgit/HOST/SHORT.N` instead of leaving the old tag to speak for it (tags are never moved).
   */
  readonly again?: boolean;
}

/** What writeStatusTag did: the tag name, whether it made it now, whether it pushed it now, and the tags it deleted. */
export interface WriteStatusTagResult {
  readonly name: string;
  readonly created: boolean;
  readonly pushed: boolean;
  readonly pruned: string[];
}

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

/** The time of a raw tag's tagger header, or null. */
function taggerTimeOf(headers: string): Date | null {
  const m = /^tagger .*> (\d+) [+-]\d{4}$/m.exec(headers);
  return m === null ? null : new Date(Number(m[1]) * 1000);
}

/** A raw annotated tag, split: header text, target, message, signature. */
interface RawTag {
  readonly headers: string;
  readonly target: string;
  readonly message: string;
  readonly split: ReturnType<typeof splitSignedTag>;
}

/** What a tag that does not hash to its id means for a status tag. */
const NOT_TRUSTED = '; the status tag is not trusted';

/**
 * Reads a tag object raw (readTag drops SSH signatures), proven to hash to its id (a swapped tag
 * could carry another tag's signed record); null when oid is not an annotated tag.
 */
async function readRawTag(gitdir: string, oid: string): Promise<RawTag | null> {
  const obj = await readVerifiedObject({ gitdir, name: gitdir }, oid, { then: NOT_TRUSTED });
  if (obj.type !== 'tag') return null;
  const split = splitSignedTag(obj.content);
  const text = split.payload.toString('utf8');
  const blank = text.indexOf('\n\n');
  const headers = blank < 0 ? text : text.slice(0, blank);
  const target = /^object ([0-9a-f]+)$/m.exec(headers)?.[1] ?? '';
  return { headers, target, message: blank < 0 ? '' : text.slice(blank + 2), split };
}

/** The oid a local ref names, or null when it does not exist. */
async function localRef(gitdir: string, ref: string): Promise<string | null> {
  try {
    return await git.resolveRef({ fs, gitdir, ref, depth: 1 });
  } catch (err) {
    if (err instanceof Errors.NotFoundError) return null;
    throw err;
  }
}

/** This host's local status tags: full ref → tag object oid. */
async function localHostTags(gitdir: string, host: string): Promise<Map<string, string>> {
  const prefix = `nfgit/${host}/`;
  const out = new Map<string, string>();
  for (const tag of await git.listTags({ fs, gitdir })) {
    if (!tag.startsWith(prefix)) continue;
    const oid = await localRef(gitdir, TAGS + tag);
    if (oid !== null) out.set(TAGS + tag, oid);
  }
  return out;
}

const PUSH_AUTH_HINT = 'check the token file, and that the token may push tags';

/** How a failure to publish a status tag is told: the tag stays local and goes out at a later sync. */
function publishing(remote: StatusRemote, name: string, gitdir: string): RemoteContext {
  return {
    url: remote.url,
    doing: `publishing status tag ${name}`,
    authHint: PUSH_AUTH_HINT,
    then: ` (the tag stays in ${gitdir} and is pushed on the next sync)`,
  };
}

/** The remote's refs under `refs/tags/nfgit/HOST/` (ref → oid); an error when the server cannot be reached. */
async function remoteHostTags(remote: StatusRemote, host: string): Promise<Map<string, string>> {
  // An aborted discovery can resolve with nothing, and the host's prefix may legitimately be empty:
  // list every ref (the branch at least is there) and filter.
  const refs = await withLimits(remote.http, () =>
    git.listServerRefs({ http: remote.http, url: remote.url, protocolVersion: 2, prefix: 'refs/', ...remote.auth }),
  );
  if (refs.length === 0) throw new Error('the server listed no refs at all (not the rules repository, or the answer was cut short)');
  const prefix = `${TAGS}nfgit/${host}/`;
  return new Map(refs.filter((r) => r.ref.startsWith(prefix)).map((r) => [r.ref, r.oid]));
}

/**
 * Copies this host's status tags that the remote has and gitdir lacks (a reinstalled host's fresh
 * copy): one listing, then one small fetch per missing tag, each written as the remote names it.
 * Returns how many were fetched. Network failures throw a RemoteError.
 */
export async function fetchHostTags(gitdir: string, remote: StatusRemote, host: string): Promise<number> {
  const context = {
    url: remote.url,
    doing: `fetching the status tags of ${host}`,
    authHint: 'check the token in repository.tokenFile',
    then: '; nfgit will retry',
  };
  let wanted: Map<string, string>;
  try {
    wanted = await remoteHostTags(remote, host);
  } catch (err) {
    throw remoteError(err, context);
  }
  let fetched = 0;
  for (const [ref, oid] of wanted) {
    if ((await localRef(gitdir, ref)) === oid) continue;
    try {
      // singleBranch with tags: the one tag is wanted, and written under its own name (refs/tags/…).
      await withLimits(remote.http, () =>
        git.fetch({
          fs,
          http: remote.http,
          gitdir,
          url: remote.url,
          remote: 'origin',
          remoteRef: ref,
          singleBranch: true,
          tags: true,
          ...remote.auth,
        }),
      );
    } catch (err) {
      throw remoteError(err, context);
    }
    if ((await localRef(gitdir, ref)) !== oid) await git.writeRef({ fs, gitdir, ref, value: oid, force: true });
    fetched++;
  }
  return fetched;
}

/** Pushes one ref (or deletes it remotely when del) and fails unless the server accepted it. */
async function pushRef(gitdir: string, remote: StatusRemote, ref: string, del: false | { oid: string }): Promise<void> {
  const result = await withLimits(remote.http, () =>
    git.push({
      fs,
      http: remote.http,
      gitdir,
      url: remote.url,
      // isomorphic-git expands ref locally even for a delete: a full oid always expands to itself
      ref: del === false ? ref : del.oid,
      remoteRef: ref,
      ...(del === false ? {} : { delete: true }),
      ...remote.auth,
    }),
  );
  const r = result.refs[ref];
  if (!result.ok || (r !== undefined && !r.ok)) {
    throw new RemoteError(
      `the server at ${redactUrl(remote.url)} refused ${del === false ? 'the push of' : 'deleting'} ${ref}: ${r?.error ?? result.error ?? 'no reason given'}`,
    );
  }
}

/**
 * Runs a write into the repository; a file system that refuses it (read-only, permissions: under
 * systemd, a local repository not in the unit's ReadWritePaths) is a SandboxError that says so.
 */
async function unwritable<T>(gitdir: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    const code = errnoCode(err);
    if (code !== 'EROFS' && code !== 'EACCES' && code !== 'EPERM') throw err;
    throw new SandboxError(`cannot write the status tag into ${gitdir}: ${(err as Error).message}${writeHint(gitdir, code)}`, {
      cause: err,
    });
  }
}

/**
 * Writes the signed status tag for record (never moving an existing one), publishes it, and prunes
 * this host's tags beyond keep, oldest first, remotely and locally. Idempotent: a tag left local by
 * a failed push is pushed by the next call. Network failures throw a RemoteError.
 */
export async function writeStatusTag(opts: WriteStatusTagOptions): Promise<WriteStatusTagResult> {
  const { gitdir, remote, record, key } = opts;
  if (!Number.isInteger(opts.keep) || opts.keep < 1)
    throw new UsageError(`status tags to keep must be a whole number of at least 1, not ${opts.keep}`);
  let name = statusTagName(record.host, record.commit);
  let ref = TAGS + name;
  // A local repository is the one its users serve: what is written there must be theirs to read and
  // write (core.sharedRepository), not nfgit's alone under its umask.
  const wfs = remote === null ? await sharedRepositoryFs(gitdir) : fs;
  // The tag is written locally even when the remote cannot be reached, so a later call publishes it.
  let remoteTags: Map<string, string> | null = null;
  let unreachable: unknown;
  if (remote !== null) {
    try {
      remoteTags = await remoteHostTags(remote, record.host);
    } catch (err) {
      unreachable = err;
    }
  }
  let created = false;
  const taken = async (r: string): Promise<boolean> => (await localRef(gitdir, r)) !== null || (remoteTags?.has(r) ?? false);
  if (opts.again === true && (remote === null || remoteTags !== null)) {
    const base = name;
    for (let n = 2; await taken(ref); n++) {
      name = `${base}.${n}`;
      ref = TAGS + name;
    }
  }
  if (!(await taken(ref))) {
    await unwritable(gitdir, () =>
      git.annotatedTag({
        fs: wfs,
        gitdir,
        ref,
        object: record.commit,
        tagger: {
          name: 'nfgit',
          email: signerPrincipal(record.host),
          timestamp: Math.floor(record.time.getTime() / 1000),
          timezoneOffset: 0,
        },
        message: formatStatusMessage(record),
        signingKey: 'ssh',
        onSign: ({ payload }) => ({ signature: signSshsig(payload, key, 'git') }),
      }),
    );
    created = true;
  }
  if (remote !== null && remoteTags === null) {
    throw remoteError(unreachable, publishing(remote, name, gitdir));
  }

  // This host's tags, newest first by tagger time; the one just decided on is always kept.
  const local = await localHostTags(gitdir, record.host);
  const known = new Map([...(remoteTags ?? []), ...local]);
  const dated: Array<{ ref: string; oid: string; time: number; heartbeat: boolean }> = [];
  for (const [r, oid] of known) {
    let raw: RawTag | null = null;
    try {
      raw = await readRawTag(gitdir, oid);
    } catch (err) {
      // A remote tag not fetched here, or a corrupt one (not dated by content nobody can trust): left alone.
      if (!(err instanceof Errors.NotFoundError) && !(err instanceof CorruptObjectError)) throw err;
    }
    if (raw === null) continue;
    const parsed = parseStatusMessage(raw.message);
    dated.push({
      ref: r,
      oid,
      time: taggerTimeOf(raw.headers)?.getTime() ?? 0,
      heartbeat: !('error' in parsed) && parsed.heartbeat === true,
    });
  }
  dated.sort((a, b) => (a.ref === ref ? -1 : b.ref === ref ? 1 : b.time - a.time || (a.ref < b.ref ? 1 : -1)));
  // A new heartbeat replaces the host's earlier ones: an idle host keeps one, and its decisions are not pruned by hourly reports.
  const superseded = (t: (typeof dated)[number]): boolean => record.heartbeat === true && t.heartbeat && t.ref !== ref;
  const kept = dated.filter((t) => !superseded(t)).slice(0, opts.keep);
  const dropped = dated.filter((t) => !kept.includes(t)).reverse();

  let pushed = false;
  if (remote !== null && remoteTags !== null) {
    try {
      for (const t of kept) {
        if (!local.has(t.ref) || remoteTags.has(t.ref)) continue;
        await pushRef(gitdir, remote, t.ref, false);
        if (t.ref === ref) pushed = true;
      }
    } catch (err) {
      throw remoteError(err, publishing(remote, name, gitdir));
    }
  }
  const pruned: string[] = [];
  for (const t of dropped) {
    if (remote !== null && remoteTags?.has(t.ref) === true) {
      try {
        await pushRef(gitdir, remote, t.ref, { oid: t.oid });
      } catch (err) {
        throw remoteError(err, {
          url: remote.url,
          doing: `deleting the old status tag ${t.ref.slice(TAGS.length)}`,
          authHint: PUSH_AUTH_HINT,
        });
      }
    }
    if (local.has(t.ref)) await git.deleteRef({ fs: wfs, gitdir, ref: t.ref });
    pruned.push(t.ref.slice(TAGS.length));
  }
  return { name, created, pushed, pruned };
}

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
