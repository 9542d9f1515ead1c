// nfgit's own smart-HTTP client for what isomorphic-git does not do, or does at the cost of the whole
// fleet: protocol v2 ls-refs with ref prefixes (one host's refs, never every host's), protocol v2 fetch
// of given objects with what the agent already has (no re-download of the history), and a push
// (receive-pack) that sends its commands without first reading the repository's ref advertisement,
// whose size grows with the fleet. Every request goes through transport.ts's client (time and size
// limits, proxies, CAs, a connection of its own), and an answer that is not whole is an error, never a
// shorter answer.

import fs from 'node:fs';
import { rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { HttpClient } from 'isomorphic-git';
import { httpWithTimeout, redactUrl, type Credentials, type TransportLimits, type TransportRoute } from '../transport.js';
import { DELIM, FLUSH, PktLineError, pktLine, pktText, readPkts, type Pkt } from './pkt-line.js';
import { PackError, readPack, type WireObject } from './pack-read.js';
import { writePack } from './pack-write.js';
import { makeDirs } from '../../util/make-dirs.js';

export type { WireObject } from './pack-read.js';

/** A repository reached over HTTP(S), with its client and credentials. */
export interface WireRemote {
  readonly url: string;
  readonly http: HttpClient;
  readonly credentials: Credentials | null;
}

/** Bytes moved by a remote's requests so far (for the fleet bench and tests). */
export interface WireCounters {
  requests: number;
  sent: number;
  received: number;
}

const counters = new WeakMap<WireRemote, WireCounters>();

/** The counters of a remote made by wireRemote. */
export function wireCounters(remote: WireRemote): WireCounters {
  let c = counters.get(remote);
  if (c === undefined) {
    c = { requests: 0, sent: 0, received: 0 };
    counters.set(remote, c);
  }
  return c;
}

/** A remote over a client made by httpWithTimeout (given, or made with the limits and route). */
export function wireRemote(
  url: string,
  opts: {
    credentials?: Credentials | null;
    http?: HttpClient;
    limits?: Partial<TransportLimits>;
    route?: TransportRoute;
  } = {},
): WireRemote {
  return {
    url: url.replace(/\/+$/, ''),
    http: opts.http ?? httpWithTimeout({ ...opts.limits, ...opts.route }),
    credentials: opts.credentials ?? null,
  };
}

/** Thrown (as the cause of a RemoteError or UsageError, by remoteError) for an HTTP status that is not 200. */
export class HttpStatusError extends Error {
  readonly code = 'HttpError';
  readonly data: { statusCode: number; statusMessage: string };
  constructor(url: string, statusCode: number, statusMessage: string, body: string) {
    super(`HTTP ${statusCode} ${statusMessage} from ${redactUrl(url)}${body === '' ? '' : `: ${body.slice(0, 200)}`}`);
    this.data = { statusCode, statusMessage };
  }
}

/** Thrown when the server's answer breaks the protocol, or is incomplete. */
export class ProtocolError extends Error {}

const AGENT = 'agent=nfgit';

/** POSTs a request body to SERVICE and returns the whole answer (the client's limits apply). */
async function post(remote: WireRemote, service: 'git-upload-pack' | 'git-receive-pack', body: Buffer, v2: boolean): Promise<Buffer> {
  const headers: Record<string, string> = {
    'content-type': `application/x-${service}-request`,
    accept: `application/x-${service}-result`,
    'user-agent': 'nfgit',
  };
  if (v2) headers['git-protocol'] = 'version=2';
  if (remote.credentials !== null) {
    const { username, password } = remote.credentials;
    headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }
  const url = `${remote.url}/${service}`;
  const c = wireCounters(remote);
  c.requests++;
  c.sent += body.length;
  // An array body is sent whole, with a Content-Length (isomorphic-git's node client accepts one).
  const res = await remote.http.request({ url, method: 'POST', headers, body: [body] as unknown as AsyncIterableIterator<Uint8Array> });
  const chunks: Buffer[] = [];
  for await (const chunk of res.body ?? []) {
    chunks.push(Buffer.from(chunk));
    c.received += chunk.byteLength;
  }
  const answer = Buffer.concat(chunks);
  if (res.statusCode !== 200) throw new HttpStatusError(url, res.statusCode, res.statusMessage, answer.toString('utf8').trim());
  if (answer.length === 0) {
    // git http-backend answers an empty 200 to a request body over GIT_HTTP_MAX_REQUEST_BUFFER (10 MiB).
    throw new ProtocolError(
      `${redactUrl(url)} sent an empty answer to a request of ${body.length} bytes (a git http-backend refuses requests over 10 MiB unless GIT_HTTP_MAX_REQUEST_BUFFER allows them)`,
    );
  }
  const type = res.headers?.['content-type'] ?? '';
  if (!type.startsWith(`application/x-${service}-result`)) {
    throw new ProtocolError(`${redactUrl(url)} answered with "${type}", not a git ${service} result: is it a git smart-HTTP server?`);
  }
  return answer;
}

/** Reads pkt-lines, turning a framing error into a ProtocolError that names the request. */
function pkts(buf: Buffer, what: string, offset = 0, stopAfterFlush = false): { pkts: Pkt[]; end: number } {
  try {
    return readPkts(buf, offset, stopAfterFlush);
  } catch (err) {
    if (err instanceof PktLineError) throw new ProtocolError(`the answer to ${what} is not whole: ${err.message}`);
    throw err;
  }
}

/** An ERR line in place of an answer: the server's own message. */
function serverError(p: Pkt | undefined, what: string): void {
  const t = p === undefined ? null : pktText(p);
  if (t?.startsWith('ERR ') === true) throw new ProtocolError(`the server refused ${what}: ${t.slice(4)}`);
}

/**
 * Protocol v2 ls-refs with a ref-prefix argument per prefix: ref → oid (tags not peeled). A prefix
 * matches by string ("refs/nfgit/hosts/fw1" also matches fw10): filter what is returned.
 */
export async function listRefs(remote: WireRemote, prefixes: readonly string[]): Promise<Map<string, string>> {
  const body = Buffer.concat([
    pktLine('command=ls-refs'),
    pktLine(AGENT),
    DELIM,
    ...prefixes.map((p) => pktLine(`ref-prefix ${p}`)),
    FLUSH,
  ]);
  const what = 'a ref listing';
  const answer = await post(remote, 'git-upload-pack', body, true);
  const { pkts: lines } = pkts(answer, what);
  serverError(lines[0], what);
  const refs = new Map<string, string>();
  let flushed = false;
  for (const p of lines) {
    if (p.kind === 'flush') {
      flushed = true;
      break;
    }
    const m = /^([0-9a-f]{40}) (\S+)/.exec(pktText(p) ?? '');
    if (m === null)
      throw new ProtocolError(
        `unexpected line in a ref listing: "${(pktText(p) ?? p.kind).slice(0, 100)}" (does the server speak git protocol v2?)`,
      );
    refs.set(m[2] ?? '', m[1] ?? '');
  }
  // A listing without its flush was cut short: fewer refs must never read as refs that do not exist.
  if (!flushed) throw new ProtocolError('the ref listing ended without its closing flush: the answer was cut short');
  return refs;
}

/** What to fetch: objects wanted, objects the caller has (the server leaves out what they reach), and a depth. */
export interface FetchRequest {
  readonly wants: readonly string[];
  readonly haves?: readonly string[];
  /** Only this many commits deep from each want (a shallow fetch: for tags, their commit without its history). */
  readonly depth?: number;
}

/** Protocol v2 fetch in one request: the pack's bytes, whole (its checksum is checked when it is read). */
export async function fetchPackBytes(remote: WireRemote, req: FetchRequest): Promise<Buffer> {
  const wants = [...new Set(req.wants)];
  if (wants.length === 0) throw new ProtocolError('nothing to fetch');
  const args = [
    pktLine('command=fetch'),
    pktLine(AGENT),
    DELIM,
    pktLine('ofs-delta'),
    pktLine('no-progress'),
    ...wants.map((w) => pktLine(`want ${w}`)),
    ...(req.depth === undefined ? [] : [pktLine(`deepen ${req.depth}`)]),
    ...[...new Set(req.haves ?? [])].map((h) => pktLine(`have ${h}`)),
    pktLine('done'),
    FLUSH,
  ];
  const what = `a fetch of ${wants.length} object(s)`;
  const answer = await post(remote, 'git-upload-pack', Buffer.concat(args), true);
  return packOfAnswer(answer, what);
}

/** The pack inside a v2 fetch answer: sections before it skipped, side-band channel 1 joined, channel 3 an error. */
function packOfAnswer(answer: Buffer, what: string): Buffer {
  const { pkts: lines } = pkts(answer, what);
  serverError(lines[0], what);
  let i = 0;
  // Sections (shallow-info, wanted-refs, …) each end with a delimiter; the packfile section comes last.
  while (i < lines.length) {
    const t = pktText(lines[i] as Pkt);
    if (t === 'packfile') break;
    if (t === null && (lines[i] as Pkt).kind === 'flush') throw new ProtocolError(`the answer to ${what} holds no pack`);
    i++;
  }
  if (i >= lines.length) throw new ProtocolError(`the answer to ${what} holds no pack (it was cut short, or the server sent none)`);
  const parts: Buffer[] = [];
  let flushed = false;
  for (i++; i < lines.length; i++) {
    const p = lines[i] as Pkt;
    if (p.kind === 'flush') {
      flushed = true;
      break;
    }
    if (p.kind !== 'data') throw new ProtocolError(`unexpected ${p.kind} packet inside the pack of ${what}`);
    const band = p.payload[0];
    if (band === 1) parts.push(p.payload.subarray(1));
    else if (band === 3)
      throw new ProtocolError(`the server failed while sending ${what}: ${p.payload.subarray(1).toString('utf8').trim()}`);
  }
  if (!flushed) throw new ProtocolError(`the pack of ${what} ended without its closing flush: the answer was cut short`);
  return Buffer.concat(parts);
}

/** Fetches objects in one request and reads them in memory, each hashed to its id. */
export async function fetchObjects(remote: WireRemote, req: FetchRequest): Promise<Map<string, WireObject>> {
  const pack = await fetchPackBytes(remote, req);
  try {
    return readPack(pack);
  } catch (err) {
    if (err instanceof PackError) throw new ProtocolError(`the pack from ${redactUrl(remote.url)} is broken: ${err.message}`);
    throw err;
  }
}

/**
 * Fetches objects in one request into a repository: the pack is written under objects/pack with its
 * index (isomorphic-git's indexPack, which hashes every object). Returns the number of objects.
 */
export async function fetchInto(remote: WireRemote, gitdir: string, req: FetchRequest): Promise<number> {
  const pack = await fetchPackBytes(remote, req);
  if (pack.length < 32 || pack.toString('latin1', 0, 4) !== 'PACK')
    throw new ProtocolError(`the answer from ${redactUrl(remote.url)} holds no pack`);
  const count = pack.readUInt32BE(8);
  if (count === 0) return 0;
  const name = `pack-${pack.subarray(pack.length - 20).toString('hex')}`;
  const dir = path.join(gitdir, 'objects', 'pack');
  await makeDirs(dir);
  const tmp = path.join(dir, `tmp-${process.pid}-${name}.pack`);
  const final = path.join(dir, `${name}.pack`);
  await writeFile(tmp, pack);
  try {
    await rename(tmp, final);
    // Loaded here: listing refs (the idle `nfgit run`'s poll) must not load isomorphic-git.
    const { default: git } = await import('isomorphic-git');
    await git.indexPack({ fs, dir: gitdir, gitdir, filepath: path.relative(gitdir, final) });
  } catch (err) {
    await unlink(final).catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw new ProtocolError(`the pack from ${redactUrl(remote.url)} is broken: ${(err as Error).message}`, { cause: err });
  }
  return count;
}

/** One ref to change: from old (null: it must not exist) to new (null: delete it). */
export interface RefUpdate {
  readonly ref: string;
  readonly old: string | null;
  readonly new: string | null;
}

/** What the server said of each ref: ok, or its reason. */
export type PushResult = Map<string, { ok: true } | { ok: false; reason: string }>;

const ZERO = '0'.repeat(40);

/**
 * Pushes ref updates and the objects they need, in one request and atomically where the server can
 * (every update or none), without reading the repository's ref advertisement: the old values come from
 * the caller, and the server refuses an update whose old value is stale. Throws when the server
 * refuses the pack or does not report on every ref.
 */
export async function pushRefs(remote: WireRemote, updates: readonly RefUpdate[], objects: readonly WireObject[]): Promise<PushResult> {
  if (updates.length === 0) return new Map();
  const commands = updates.map((u, i) => {
    const line = `${u.old ?? ZERO} ${u.new ?? ZERO} ${u.ref}`;
    return pktLine(i === 0 ? `${line}\0report-status atomic ${AGENT}` : line);
  });
  const deletesOnly = updates.every((u) => u.new === null);
  const body = Buffer.concat([...commands, FLUSH, ...(deletesOnly ? [] : [writePack(objects)])]);
  const what = `a push of ${updates.length} ref(s)`;
  const answer = await post(remote, 'git-receive-pack', body, false);
  const { pkts: lines } = pkts(answer, what);
  serverError(lines[0], what);
  const texts = lines.map(pktText);
  if (lines[lines.length - 1]?.kind !== 'flush') throw new ProtocolError(`the server's report on ${what} was cut short`);
  const unpack = texts[0];
  if (unpack === null || unpack === undefined || !unpack.startsWith('unpack '))
    throw new ProtocolError(`the server's report on ${what} has no unpack status`);
  if (unpack !== 'unpack ok') throw new ProtocolError(`the server could not store the pushed objects: ${unpack.slice(7)}`);
  const result: PushResult = new Map();
  for (const t of texts.slice(1)) {
    if (t === null) continue;
    const m = /^(ok|ng) (\S+)(?: (.*))?$/.exec(t);
    if (m === null) continue;
    result.set(m[2] ?? '', m[1] === 'ok' ? { ok: true } : { ok: false, reason: m[3] ?? 'no reason given' });
  }
  const missing = updates.filter((u) => !result.has(u.ref));
  if (missing.length > 0) throw new ProtocolError(`the server did not report on ${missing.map((u) => u.ref).join(', ')}`);
  return result;
}
