// The HTTP side of isomorphic-git for the agent: every request has time limits and a size cap
// (isomorphic-git's node client has none, so a stalled, dripping or endless server would hang the
// agent forever or fill its memory), and credentials come from a token file, never from the
// configuration or the URL.

import type { Agent } from 'node:http';
import type { GitAuth, HttpClient, GitHttpRequest, GitHttpResponse } from 'isomorphic-git';
import nodeHttp from 'isomorphic-git/http/node';
import { NfgitError, RemoteError, UsageError } from '../errors/errors.js';
import { proxyFor, type ProxyChoice } from './proxy-env.js';
import { ProxyError, TunnelAgent, describeProxy } from './proxy-tunnel.js';
import type { Credentials } from './token-file.js';

// In a file of its own, so that the idle `nfgit run` reads a token file without loading the HTTP client.
export { readTokenFile, type Credentials } from './token-file.js';

/** How long a request may go without the server sending anything before it is abandoned. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

/** How long one request that transfers objects (a fetch's pack, a push's answer) may take in all. */
export const DEFAULT_FETCH_DEADLINE_MS = 5 * 60_000;

/**
 * How many bytes a ref listing may hold. Fetches use protocol v1, whose advertisement names every ref
 * of the repository, status tags of the whole fleet included (two lines of about 80 bytes per tag: a
 * thousand hosts keeping 50 tags each is some 8 MB), so the cap leaves room for that and no more.
 */
export const MAX_REFS_BYTES = 16 * 1024 * 1024;

/** How many bytes a fetched pack (any answer that is not a ref listing) may hold. */
export const DEFAULT_MAX_PACK_BYTES = 1024 * 1024 * 1024;

/** The limits of every request to the git server. */
export interface TransportLimits {
  /** Longest silence: before the response headers, or between two chunks of the body. */
  readonly idleMs: number;
  /** Total time of a request that transfers objects. */
  readonly fetchDeadlineMs: number;
  /**
   * Total time of a ref listing, which is one or two small answers: twice the idle limit unless given
   * (never more than fetchDeadlineMs), so that a server dripping bytes is cut long before a fetch would be.
   */
  readonly listDeadlineMs?: number;
  readonly maxRefsBytes: number;
  readonly maxPackBytes: number;
}

/** How requests reach the server, beside their limits. */
export interface TransportRoute {
  /** The CAs to trust for HTTPS (see ca-file.ts); Node's default store when left out. */
  readonly ca?: readonly string[];
  /** Where https_proxy, no_proxy and the like are read (see proxy-env.ts): process.env unless given. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Which limit cut a request. */
export type TransportLimit = 'list-deadline' | 'fetch-deadline' | 'refs-size' | 'pack-size';

/** What a message about a request cut by a limit says about the setting behind it. */
const LIMIT_SETTING: Record<TransportLimit, string> = {
  'list-deadline': ' (a ref listing may take twice repository.timeout)',
  'fetch-deadline': ' (repository.fetchTimeout)',
  'refs-size': '',
  'pack-size': ' (repository.maxFetchMiB)',
};

/** Thrown (as the cause of a transient NfgitError) when a request is abandoned for silence. */
export class StalledRequestError extends Error {
  /** via: the proxy the request went through, as describeProxy tells it. */
  constructor(
    readonly url: string,
    readonly idleMs: number,
    readonly via: string | null = null,
  ) {
    super(`no answer from ${redactUrl(url)} for ${Math.round(idleMs / 1000)} s${via === null ? '' : ` through the proxy ${via}`}`);
  }
}

/**
 * Thrown (as the cause of a transient NfgitError) when an answer goes on for too long or grows too
 * large: a server that drips a byte at a time, or one that never ends its ref advertisement.
 */
export class TransportLimitError extends Error {
  /** detail: what the server did, as in "sent more than 16 MiB of refs" (the URL is in the message). */
  constructor(
    readonly url: string,
    readonly limit: TransportLimit,
    readonly detail: string,
  ) {
    super(`the git server at ${redactUrl(url)} ${detail}`);
  }
}

/** A URL without any user:password part, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username !== '' || u.password !== '') {
      u.username = '';
      u.password = '';
    }
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * What cut a request of each client made by httpWithTimeout, since the last withLimits call began.
 * isomorphic-git swallows errors from a response body while it reads pkt-lines (the reader just ends),
 * so a listing cut short by a limit would look like a short or empty listing: a missing branch.
 */
const cuts = new WeakMap<HttpClient, { reason: unknown }>();

/**
 * Runs one isomorphic-git call with a client made by httpWithTimeout and throws what cut one of its
 * requests, if anything did, in place of whatever the call made of the cut (an empty listing, a
 * parse error) or even of its result.
 */
export async function withLimits<T>(http: HttpClient, call: () => Promise<T>): Promise<T> {
  const state = cuts.get(http);
  if (state !== undefined) state.reason = undefined;
  let result: T;
  try {
    result = await call();
  } catch (err) {
    throw state?.reason ?? err;
  }
  if (state?.reason !== undefined) throw state.reason;
  return result;
}

/** Whether a request lists refs (a v1 advertisement, or a v2 ls-refs command) rather than transferring objects. */
function isRefListing(req: GitHttpRequest): boolean {
  if (/\/info\/refs$/.test(new URL(req.url).pathname)) return true;
  const first = Array.isArray(req.body) ? (req.body[0] as Uint8Array | undefined) : undefined;
  return first !== undefined && Buffer.from(first).toString('latin1').includes('command=ls-refs');
}

function formatMs(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 100) / 10} s`;
}

function formatBytes(n: number): string {
  return `${Math.round((n / (1024 * 1024)) * 100) / 100} MiB`;
}

/** How a request reaches its URL: the tunnel of the proxy the environment names (one agent per proxy), and the CAs. */
function router(
  given: TransportRoute,
  idleMs: number,
): (url: string) => { agent?: Agent | false; via: string | null; fetchOptions?: { ca: readonly string[] } } {
  const env = given.env ?? process.env;
  const fetchOptions = given.ca === undefined ? {} : { fetchOptions: { ca: given.ca } };
  const agents = new Map<string, Agent>();
  // Never Node's global agent: in Node 20 it keeps idle connections alive with a 5 s socket timeout,
  // and a server that closes its idle connections (git servers behind most proxies do) races the next
  // request onto a dead socket. `agent: false` is a fresh agent of Node's defaults (no keep-alive)
  // for each request, whatever its scheme after a redirect: one connection per request, a few per pass.
  return (url) => {
    const choice: ProxyChoice | null = proxyFor(url, env);
    if (choice === null) return { agent: false, via: null, ...fetchOptions };
    let agent = agents.get(choice.url.href);
    if (agent === undefined) {
      agent = new TunnelAgent(choice, idleMs);
      agents.set(choice.url.href, agent);
    }
    return { agent, via: describeProxy(choice), ...fetchOptions };
  };
}

/**
 * An isomorphic-git HTTP client whose requests are abandoned when the server stays silent for the idle
 * limit (a slow but moving transfer is not cut by that), when a request goes on past its total deadline
 * (the idle limit alone would let a server dripping one byte at a time hold the agent forever), or when
 * an answer grows past its cap (an endless advertisement would otherwise fill the memory). A number
 * stands for the idle limit, the other limits at their defaults.
 */
export function httpWithTimeout(
  limits: number | (Partial<TransportLimits> & TransportRoute) = {},
  base: HttpClient = nodeHttp,
): HttpClient {
  const given: Partial<TransportLimits> & TransportRoute = typeof limits === 'number' ? { idleMs: limits } : limits;
  const idleMs = given.idleMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const route = router(given, idleMs);
  const fetchDeadlineMs = given.fetchDeadlineMs ?? DEFAULT_FETCH_DEADLINE_MS;
  const listDeadlineMs = given.listDeadlineMs ?? Math.min(2 * idleMs, fetchDeadlineMs);
  const maxRefsBytes = given.maxRefsBytes ?? MAX_REFS_BYTES;
  const maxPackBytes = given.maxPackBytes ?? DEFAULT_MAX_PACK_BYTES;
  const state: { reason: unknown } = { reason: undefined };
  const client: HttpClient = {
    async request(req: GitHttpRequest): Promise<GitHttpResponse> {
      const listing = isRefListing(req);
      const deadlineMs = listing ? listDeadlineMs : fetchDeadlineMs;
      const maxBytes = listing ? maxRefsBytes : maxPackBytes;
      const what = listing ? 'refs' : 'objects';
      const { via, ...through } = route(req.url);
      const controller = new AbortController();
      // Recorded only when thrown at isomorphic-git: a limit that fires on a request it has stopped
      // reading (it leaves an advertisement's body unfinished) cuts nothing that matters.
      const cut = (): unknown => (state.reason ??= controller.signal.reason);
      let timer: NodeJS.Timeout | undefined;
      const deadline = setTimeout(
        () =>
          controller.abort(
            new TransportLimitError(
              req.url,
              listing ? 'list-deadline' : 'fetch-deadline',
              `sent ${what} for longer than ${formatMs(deadlineMs)}`,
            ),
          ),
        deadlineMs,
      );
      deadline.unref();
      const arm = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        timer = setTimeout(() => controller.abort(new StalledRequestError(req.url, idleMs, via)), idleMs);
        timer.unref();
      };
      const disarm = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        timer = undefined;
        clearTimeout(deadline);
      };
      arm();
      let res: GitHttpResponse;
      try {
        res = await raceAbort(base.request({ ...req, ...through, signal: controller.signal }), controller.signal);
      } catch (err) {
        disarm();
        throw controller.signal.aborted ? cut() : err;
      }
      const body = res.body;
      if (body === undefined) {
        disarm();
        return res;
      }
      arm();
      const iterator = body[Symbol.asyncIterator]();
      let received = 0;
      const guarded: AsyncIterableIterator<Uint8Array> = {
        async next(): Promise<IteratorResult<Uint8Array>> {
          try {
            const r = await raceAbort(iterator.next(), controller.signal);
            if (r.done === true) {
              disarm();
              return r;
            }
            received += r.value.byteLength;
            if (received > maxBytes)
              controller.abort(
                new TransportLimitError(req.url, listing ? 'refs-size' : 'pack-size', `sent more than ${formatBytes(maxBytes)} of ${what}`),
              );
            if (controller.signal.aborted) throw cut();
            arm();
            return r;
          } catch (err) {
            disarm();
            throw controller.signal.aborted ? cut() : err;
          }
        },
        async return(): Promise<IteratorResult<Uint8Array>> {
          disarm();
          await iterator.return?.();
          return { done: true, value: undefined };
        },
        [Symbol.asyncIterator]() {
          return this;
        },
      };
      return { ...res, body: guarded };
    },
  };
  cuts.set(client, state);
  return client;
}

/** Resolves or rejects with p, or rejects as soon as the signal aborts (whatever p does). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** isomorphic-git's onAuth and onAuthFailure for a token, or nothing when there is none. */
export function authCallbacks(credentials: Credentials | null): {
  onAuth?: () => GitAuth;
  onAuthFailure?: () => GitAuth;
} {
  if (credentials === null) return {};
  return {
    onAuth: () => ({ username: credentials.username, password: credentials.password }),
    // Returning { cancel: true } ends with an HttpError 401 instead of asking again forever.
    onAuthFailure: () => ({ cancel: true }),
  };
}

/** What a message about a failed request to the git server says beside the failure itself. */
export interface RemoteContext {
  /** The repository's URL (credentials are removed before it is shown). */
  readonly url: string;
  /** What nfgit was doing, as in "while fetching main". */
  readonly doing: string;
  /** What to fix when the server refuses the credentials. */
  readonly authHint: string;
  /** Added to messages about failures a retry can cure (down, stalled), such as "; nfgit will retry". */
  readonly then?: string;
}

/**
 * Turns what isomorphic-git or the network threw into an NfgitError: refused credentials (401/403, or
 * the UserCanceledError that authCallbacks' onAuthFailure causes) and a missing repository (404) are
 * the configuration's fault (UsageError); silence, answers cut by a time or size limit and unreachable
 * servers are transient (RemoteError).
 */
export function remoteError(err: unknown, ctx: RemoteContext): NfgitError {
  if (err instanceof NfgitError) return err;
  const name = redactUrl(ctx.url);
  const then = ctx.then ?? '';
  const e = err as { code?: string; data?: { statusCode?: number }; message?: string };
  const status = e.data?.statusCode;
  if (e.code === 'UserCanceledError' || status === 401 || status === 403) {
    return new UsageError(`${name} refused the credentials while ${ctx.doing} (HTTP ${status ?? 401}): ${ctx.authHint}`, { cause: err });
  }
  if (status === 404) return new UsageError(`${name} has no repository (HTTP 404) while ${ctx.doing}: check the URL`, { cause: err });
  if (err instanceof TransportLimitError) {
    return new RemoteError(`the git server at ${name} ${err.detail} while ${ctx.doing}${LIMIT_SETTING[err.limit]}${then}`, { cause: err });
  }
  if (err instanceof StalledRequestError) {
    const fix = err.via === null ? '' : `; check that the proxy can reach the server, or list its host in no_proxy`;
    return new RemoteError(`${name} stopped answering while ${ctx.doing} (${err.message})${fix}${then}`, { cause: err });
  }
  if (err instanceof ProxyError) return proxyError(err, name, ctx);
  const tls = certificateProblem(e.code);
  if (tls !== undefined) {
    return new UsageError(`the certificate of ${name} is not accepted while ${ctx.doing} (${e.code}: ${e.message ?? ''}): ${tls}`, {
      cause: err,
    });
  }
  const what =
    status !== undefined ? `HTTP ${status}` : e.code !== undefined && /^E[A-Z]+$/.test(e.code) ? e.code : (e.message ?? String(err));
  return new RemoteError(`cannot reach ${name} while ${ctx.doing}: ${what}${then}`, { cause: err });
}

/** What to do about a certificate error of Node's TLS (its code), or undefined when the code is not one. */
function certificateProblem(code: string | undefined): string | undefined {
  switch (code) {
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_UNTRUSTED':
      return 'if the server has a certificate of a private CA, set repository.caFile to a PEM file of that CA';
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return "the server's certificate is outside its validity dates: renew it on the server, or check this host's clock";
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return "the server's certificate is for another name: use the name it was issued for in repository.url";
    default:
      return undefined;
  }
}

/** A proxy's failure: unreachable or 5xx are transient, a demand for credentials (407) is the configuration's. */
function proxyError(err: ProxyError, name: string, ctx: RemoteContext): NfgitError {
  const then = ctx.then ?? '';
  const where = `the proxy ${err.proxy} (${err.variable})`;
  if (err.status === 407) {
    return new UsageError(
      `${where} wants credentials (HTTP 407) for ${name} while ${ctx.doing}: put them in ${err.variable} as http://USER:PASSWORD@HOST:PORT (systemctl edit nfgit: Environment=)`,
      { cause: err },
    );
  }
  if (err.status !== null) {
    return new RemoteError(
      `${where} refused the tunnel to ${err.target} (HTTP ${err.status}) for ${name} while ${ctx.doing}: allow that host and port on the proxy, or list the host in no_proxy${then}`,
      { cause: err },
    );
  }
  const c = err.cause as { code?: string; message?: string } | undefined;
  const why = c?.code !== undefined && /^E[A-Z]+$/.test(c.code) ? c.code : (c?.message ?? 'the connection failed');
  return new RemoteError(
    `cannot reach ${where} for ${name} while ${ctx.doing}: ${why}; check ${err.variable} in nfgit's environment (systemctl edit nfgit: Environment=), or list the host in no_proxy${then}`,
    { cause: err },
  );
}
