// The HTTP side of isomorphic-git for the agent: every request has a time limit (isomorphic-git's node
// client has none, so a stalled server would hang the agent forever), and credentials come from a
// token file, never from the configuration or the URL.

import { readFileSync } from 'node:fs';
import type { GitAuth, HttpClient, GitHttpRequest, GitHttpResponse } from 'isomorphic-git';
import nodeHttp from 'isomorphic-git/http/node';
import { NfgitError } from '../compiler/errors.js';

/** How long a request may go without the server sending anything before it is abandoned. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

/** Thrown (as the cause of a transient NfgitError) when a request is abandoned for silence. */
export class StalledRequestError extends Error {
  constructor(readonly url: string, readonly idleMs: number) {
    super(`no answer from ${redactUrl(url)} for ${Math.round(idleMs / 1000)} s`);
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
 * An isomorphic-git HTTP client that aborts a request when the server stays silent for idleMs: before
 * the response headers, or between two chunks of the body. A slow but moving transfer is not cut.
 */
export function httpWithTimeout(idleMs: number = DEFAULT_IDLE_TIMEOUT_MS, base: HttpClient = nodeHttp): HttpClient {
  return {
    async request(req: GitHttpRequest): Promise<GitHttpResponse> {
      const controller = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const arm = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        timer = setTimeout(() => controller.abort(new StalledRequestError(req.url, idleMs)), idleMs);
        timer.unref();
      };
      const disarm = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        timer = undefined;
      };
      arm();
      let res: GitHttpResponse;
      try {
        res = await raceAbort(base.request({ ...req, signal: controller.signal }), controller.signal);
      } catch (err) {
        disarm();
        throw controller.signal.aborted ? controller.signal.reason : err;
      }
      const body = res.body;
      if (body === undefined) {
        disarm();
        return res;
      }
      arm();
      const iterator = body[Symbol.asyncIterator]();
      const guarded: AsyncIterableIterator<Uint8Array> = {
        async next(): Promise<IteratorResult<Uint8Array>> {
          try {
            const r = await raceAbort(iterator.next(), controller.signal);
            if (r.done === true) disarm();
            else arm();
            return r;
          } catch (err) {
            disarm();
            throw controller.signal.aborted ? controller.signal.reason : err;
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

/** Credentials for HTTPS: basic authentication with the token as the password. */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/**
 * Reads a token file: one line, either `TOKEN` (sent with the user name `nfgit`, which GitHub, GitLab
 * project tokens and Gitea accept) or `USER:TOKEN`. A UsageError says what to fix.
 */
export function readTokenFile(file: string): Credentials {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new NfgitError('UsageError', `cannot read the token file ${file} (repository.tokenFile): ${why}`, { cause: err });
  }
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length !== 1) {
    throw new NfgitError('UsageError', `${file} (repository.tokenFile) must hold one line, the token (or USER:TOKEN); it has ${lines.length}`);
  }
  const line = lines[0] ?? '';
  const colon = line.indexOf(':');
  if (colon > 0) return { username: line.slice(0, colon), password: line.slice(colon + 1) };
  return { username: 'nfgit', password: line };
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
 * the configuration's fault (UsageError); silence and unreachable servers are transient (SandboxError).
 */
export function remoteError(err: unknown, ctx: RemoteContext): NfgitError {
  if (err instanceof NfgitError) return err;
  const name = redactUrl(ctx.url);
  const then = ctx.then ?? '';
  const e = err as { code?: string; data?: { statusCode?: number }; message?: string };
  const status = e.data?.statusCode;
  if (e.code === 'UserCanceledError' || status === 401 || status === 403) {
    return new NfgitError('UsageError', `${name} refused the credentials while ${ctx.doing} (HTTP ${status ?? 401}): ${ctx.authHint}`, { cause: err });
  }
  if (status === 404) return new NfgitError('UsageError', `${name} has no repository (HTTP 404) while ${ctx.doing}: check the URL`, { cause: err });
  if (err instanceof StalledRequestError) {
    return new NfgitError('SandboxError', `${name} stopped answering while ${ctx.doing} (${err.message})${then}`, { cause: err });
  }
  const what = status !== undefined ? `HTTP ${status}` : e.code !== undefined && /^E[A-Z]+$/.test(e.code) ? e.code : (e.message ?? String(err));
  return new NfgitError('SandboxError', `cannot reach ${name} while ${ctx.doing}: ${what}${then}`, { cause: err });
}
