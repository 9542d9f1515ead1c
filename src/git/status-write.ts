// Writing this host's status: a signed tag object per report, published with one push that touches
// only this host's refs. A decision (applied, refused, rolled back, untrusted) gets its tag
// `refs/tags/nfgit/HOST/COMMIT12[.N]`, kept for history and pruned beyond tags.keep; every report, a
// heartbeat or a held commit too, moves `refs/nfgit/hosts/HOST`, the host's current status, which the
// fleet view and later rollout rings read without listing anyone's tags. Nothing here lists or
// downloads other hosts' refs: one prefixed listing of the host's own refs, the objects of those it
// lacks (a fresh state directory) in one fetch, then one push without the ref advertisement.

import fs from 'node:fs';
import git from 'isomorphic-git';
import type { HttpClient } from 'isomorphic-git';
import { RemoteError, SandboxError, UsageError } from '../errors/errors.js';
import { errnoCode, writeHint } from '../util/sandbox-hints.js';
import {
  formatStatusMessage,
  hostStatusRef,
  parseStatusMessage,
  statusTagName,
  type StatusRecord,
  type TagLink,
} from './status-message.js';
import { signerPrincipal } from './signing/host-identity.js';
import type { HostKey } from './signing/openssh-key.js';
import { signSshsig } from './signing/sshsig.js';
import { parseTagObject } from './status-tag-object.js';
import { hasObject } from './follower.js';
import { sharedRepositoryFs } from './shared-repository-fs.js';
import { readLocalRefs } from './local-refs.js';
import { redactUrl, remoteError, type authCallbacks, type RemoteContext } from './transport.js';
import { CorruptObjectError, isNotFound, readVerifiedObject } from './verified-objects.js';
import { fetchInto, listRefs, pushRefs, wireRemote, type RefUpdate, type WireObject, type WireRemote } from './wire/remote.js';

/** Where status tags are published: the repository URL, the HTTP client and the credentials. */
export interface StatusRemote {
  readonly url: string;
  readonly http: HttpClient;
  readonly auth: ReturnType<typeof authCallbacks>;
  /** The wire client over the same HTTP client (made from url, http and auth when left out). */
  readonly wire?: WireRemote;
}

/** Options of writeStatusTag. */
export interface WriteStatusTagOptions {
  /** The agent's repository: holds record.commit; with remote null, the shared repository itself. */
  readonly gitdir: string;
  readonly remote: StatusRemote | null;
  readonly record: StatusRecord;
  readonly key: HostKey;
  /** How many of this host's decision tags to keep (at least 1). */
  readonly keep: number;
  /**
   * A new decision about a commit that already has a tag (sync --retry): written under the next free
   * name `nfgit/HOST/SHORT.N` instead of leaving the old tag to speak for it (tags are never moved).
   */
  readonly again?: boolean;
}

/** What writeStatusTag did. */
export interface WriteStatusTagResult {
  /** The decision tag's name (`nfgit/HOST/…`), or for a report (heartbeat, held) the current status ref. */
  readonly name: string;
  readonly created: boolean;
  /** Whether the report went out now (to the remote, or into the local repository). */
  readonly pushed: boolean;
  /** The decision tags deleted (beyond keep). */
  readonly pruned: string[];
}

const TAGS = 'refs/tags/';

/** Whether a record is a report that moves the current status ref only (no decision tag). */
export function isReport(record: StatusRecord): boolean {
  return record.heartbeat === true || record.result === 'held';
}

/** The wire client of a status remote. */
function wireOf(remote: StatusRemote): WireRemote {
  if (remote.wire !== undefined) return remote.wire;
  const auth = remote.auth.onAuth?.();
  const credentials =
    auth !== undefined && typeof auth.username === 'string' ? { username: auth.username, password: auth.password ?? '' } : null;
  return wireRemote(remote.url, { http: remote.http, credentials });
}

/**
 * The text of a signed tag object, as git and isomorphic-git write one: headers, a blank line, the
 * message and its newline, then the armored SSH signature (what `git tag -v` checks).
 */
export function signedTagObject(record: StatusRecord, name: string, key: HostKey): Buffer {
  const when = Math.floor(record.time.getTime() / 1000);
  const payload =
    `object ${record.commit}\ntype commit\ntag ${name}\ntagger nfgit <${signerPrincipal(record.host)}> ${when} +0000\n\n` +
    `${formatStatusMessage(record)}\n`;
  const signature = signSshsig(payload, key, 'git').replace(/\r/g, '').replace(/\n+$/, '') + '\n';
  return Buffer.from(payload + signature, 'utf8');
}

/** A tag of this host, dated by its signed tagger time. */
interface Dated {
  readonly ref: string;
  readonly oid: string;
  readonly time: number;
  /** A heartbeat written as a tag by nfgit before current refs: pruned first. */
  readonly heartbeat: boolean;
}

/** A tag object read from the repository, hashed to its id; null when missing, corrupt or not a status tag. */
async function readTag(gitdir: string, oid: string): Promise<{ content: Buffer; time: number; heartbeat: boolean } | null> {
  let obj;
  try {
    obj = await readVerifiedObject({ gitdir, name: gitdir }, oid, { then: '; the status tag is not trusted' });
  } catch (err) {
    if (isNotFound(err) || err instanceof CorruptObjectError) return null;
    throw err;
  }
  if (obj.type !== 'tag') return null;
  const tag = parseTagObject(obj.content);
  const parsed = parseStatusMessage(tag.message);
  return { content: obj.content, time: tag.taggerTime?.getTime() ?? 0, heartbeat: !('error' in parsed) && parsed.heartbeat === true };
}

/** This host's own refs on the remote (its tags and its current status ref), from one prefixed listing. */
async function remoteOwnRefs(wire: WireRemote, host: string): Promise<Map<string, string>> {
  const prefix = `${TAGS}nfgit/${host}/`;
  const current = hostStatusRef(host);
  const refs = await listRefs(wire, [prefix, current]);
  return new Map([...refs].filter(([r]) => r.startsWith(prefix) || r === current));
}

/**
 * Brings the objects of this host's remote refs that gitdir lacks into it, in one fetch (haves: commits
 * gitdir has, so that only the tag objects come); writes the tag refs it lacks. Returns how many refs were written.
 */
async function fetchOwn(
  gitdir: string,
  wire: WireRemote,
  own: ReadonlyMap<string, string>,
  haves: readonly string[],
  writeRefs: boolean,
): Promise<number> {
  const missing: string[] = [];
  for (const oid of new Set(own.values())) if (!(await hasObject({ gitdir }, oid))) missing.push(oid);
  if (missing.length > 0) await fetchInto(wire, gitdir, { wants: missing, haves });
  if (!writeRefs) return 0;
  const local = await readLocalRefs(gitdir, TAGS);
  let written = 0;
  for (const [ref, oid] of own) {
    if (!ref.startsWith(TAGS) || local.get(ref) === oid) continue;
    await git.writeRef({ fs, gitdir, ref, value: oid, force: true });
    written++;
  }
  return written;
}

const PUSH_AUTH_HINT = 'check the token file, and that the token may push tags and refs/nfgit/*';

/** How a failure to publish a status is told: the tag stays local and goes out at a later sync. */
function publishing(remote: StatusRemote, name: string, gitdir: string): RemoteContext {
  return {
    url: remote.url,
    doing: `publishing status ${name}`,
    authHint: PUSH_AUTH_HINT,
    then: ` (it stays in ${gitdir} and is pushed on the next sync)`,
  };
}

/**
 * Copies this host's status tags that the remote has and gitdir lacks (a reinstalled host's fresh
 * copy): one prefixed listing of the host's own refs, then one fetch. Returns how many tags were
 * written. Network failures throw a RemoteError.
 */
export async function fetchHostTags(gitdir: string, remote: StatusRemote, host: string, haves: readonly string[] = []): Promise<number> {
  const wire = wireOf(remote);
  try {
    const own = await remoteOwnRefs(wire, host);
    // Without haves, the commits the tags point at would come with their whole history.
    const given = haves.length > 0 ? haves : [...(await readLocalRefs(gitdir, 'refs/remotes/origin/')).values()];
    return await fetchOwn(gitdir, wire, own, given, true);
  } catch (err) {
    throw remoteError(err, {
      url: remote.url,
      doing: `fetching the status tags of ${host}`,
      authHint: 'check the token in repository.tokenFile',
      then: '; nfgit will retry',
    });
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
 * Writes the signed status for record and publishes it: a decision gets its tag (never moving an
 * existing one) and becomes the current status; a report (heartbeat, held) becomes the current status
 * alone. The host's decision tags beyond keep, oldest first, are deleted in the same push, remotely
 * and locally, whatever the local copy holds. Idempotent: a tag left local by a failed push goes out
 * with the next call. Network failures throw a RemoteError.
 */
export async function writeStatusTag(opts: WriteStatusTagOptions): Promise<WriteStatusTagResult> {
  const { gitdir, remote, key } = opts;
  if (!Number.isInteger(opts.keep) || opts.keep < 1)
    throw new UsageError(`status tags to keep must be a whole number of at least 1, not ${opts.keep}`);
  const host = opts.record.host;
  const report = isReport(opts.record);
  const current = hostStatusRef(host);
  // A local repository is the one its users serve: what is written there must be theirs to read and
  // write (core.sharedRepository), not nfgit's alone under its umask.
  const wfs = remote === null ? await sharedRepositoryFs(gitdir) : fs;
  const wire = remote === null ? null : wireOf(remote);
  const haves = [opts.record.commit];

  // The host's own refs: remotely (one prefixed listing; their objects fetched when this copy lacks
  // them), and locally. The status is written locally even when the remote cannot be reached.
  let remoteRefs: Map<string, string> | null = null;
  let unreachable: unknown;
  if (wire !== null) {
    try {
      remoteRefs = await remoteOwnRefs(wire, host);
      await fetchOwn(gitdir, wire, remoteRefs, haves, false);
    } catch (err) {
      remoteRefs = null;
      unreachable = err;
    }
  }
  const remoteTags = new Map([...(remoteRefs ?? [])].filter(([r]) => r !== current));
  const local = await readLocalRefs(gitdir, `${TAGS}nfgit/${host}/`);
  const known = new Map([...local, ...remoteTags]);
  const dated: Dated[] = [];
  for (const [ref, oid] of known) {
    const t = await readTag(gitdir, oid);
    // A tag not readable here (not fetched, corrupt: not dated by content nobody can trust) is left alone.
    if (t !== null) dated.push({ ref, oid, time: t.time, heartbeat: t.heartbeat });
  }
  const decisions = dated.filter((d) => !d.heartbeat).sort((a, b) => b.time - a.time || (a.ref < b.ref ? 1 : -1));

  let name = statusTagName(host, opts.record.commit);
  let ref = TAGS + name;
  let oid: string | undefined;
  let created = false;
  const link = (exclude: string): TagLink | undefined => {
    const prev = decisions.find((d) => d.ref !== exclude);
    return prev === undefined ? undefined : { name: prev.ref.slice(TAGS.length), oid: prev.oid };
  };
  if (!report) {
    if (opts.again === true && (remote === null || remoteRefs !== null)) {
      const base = name;
      for (let n = 2; known.has(ref); n++) {
        name = `${base}.${n}`;
        ref = TAGS + name;
      }
    }
    oid = known.get(ref);
  }
  if (oid === undefined) {
    // A decision links to the one before it; a report to the newest decision (of its own commit, as a heartbeat's is).
    const previousTag = link(report ? '' : ref);
    const record: StatusRecord = { ...opts.record, ...(previousTag === undefined ? {} : { previousTag }) };
    const object = signedTagObject(record, statusTagName(host, record.commit), key);
    const written = await unwritable(gitdir, () => git.writeObject({ fs: wfs, gitdir, type: 'tag', object, format: 'content' }));
    oid = written;
    if (!report) await unwritable(gitdir, () => git.writeRef({ fs: wfs, gitdir, ref, value: written }));
    created = true;
  }
  const shown = report ? current : name;
  if (remote !== null && remoteRefs === null) throw remoteError(unreachable, publishing(remote, shown, gitdir));

  // Decision tags to keep: this one first, then the newest; tags nfgit wrote for heartbeats before current refs all go.
  const newest: Dated[] = report ? decisions : [{ ref, oid, time: Infinity, heartbeat: false }, ...decisions.filter((d) => d.ref !== ref)];
  const kept = newest.slice(0, opts.keep);
  const dropped = [...newest.slice(opts.keep), ...dated.filter((d) => d.heartbeat)];

  let pushed = false;
  if (wire !== null && remote !== null && remoteRefs !== null) {
    const updates: RefUpdate[] = [];
    const objects = new Map<string, WireObject>();
    const send = async (o: string): Promise<void> => {
      if (objects.has(o)) return;
      const t = await readTag(gitdir, o);
      if (t !== null) objects.set(o, { type: 'tag', content: t.content });
    };
    for (const t of kept) {
      // Not on the remote: a tag made now, or left local by an earlier push that failed.
      if (remoteTags.has(t.ref)) continue;
      updates.push({ ref: t.ref, old: null, new: t.oid });
      await send(t.oid);
    }
    if (remoteRefs.get(current) !== oid) {
      updates.push({ ref: current, old: remoteRefs.get(current) ?? null, new: oid });
      await send(oid);
    }
    for (const d of dropped) {
      const was = remoteTags.get(d.ref);
      if (was !== undefined) updates.push({ ref: d.ref, old: was, new: null });
    }
    if (updates.length > 0) {
      let result;
      try {
        result = await pushRefs(wire, updates, [...objects.values()]);
        // Many hosts pruning at once contend for the server's packed-refs lock (git waits one second
        // for it): a refusal for a lock is tried once more after a short random pause.
        if ([...result.values()].some((r) => !r.ok && /lock/i.test(r.reason))) {
          await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 1800));
          result = await pushRefs(wire, updates, [...objects.values()]);
        }
      } catch (err) {
        throw remoteError(err, publishing(remote, shown, gitdir));
      }
      const refused = [...result].filter(([, r]) => !r.ok);
      if (refused.length > 0) {
        throw new RemoteError(
          `the server at ${redactUrl(remote.url)} refused ${refused.map(([r, x]) => `${r}${x.ok ? '' : ` (${x.reason})`}`).join(', ')} while publishing status ${shown}${publishing(remote, shown, gitdir).then ?? ''}`,
        );
      }
      pushed = updates.some((u) => u.ref === current);
    }
  }
  // The local copy follows: the current ref (the repository itself when local), and the pruned tags.
  await unwritable(gitdir, () => git.writeRef({ fs: wfs, gitdir, ref: current, value: oid, force: true }));
  const pruned: string[] = [];
  for (const d of dropped) {
    if (local.has(d.ref)) await unwritable(gitdir, () => git.deleteRef({ fs: wfs, gitdir, ref: d.ref }));
    pruned.push(d.ref.slice(TAGS.length));
  }
  return { name: shown, created, pushed, pruned };
}
