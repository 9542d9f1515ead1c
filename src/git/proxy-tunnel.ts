// The HTTP CONNECT tunnel through a proxy (https-proxy-agent), with its failures told apart from the
// git server's: https-proxy-agent hands a proxy's refusal (407, 403, 502) to the request as if the
// server had answered it, which would read as "the server refused the credentials".

import type { ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import { HttpsProxyAgent } from 'https-proxy-agent';
import type { ProxyChoice } from './proxy-env.js';

type AgentConnectOpts = Parameters<HttpsProxyAgent<string>['connect']>[1];

/** A URL without any user:password part. */
function withoutCredentials(url: URL): string {
  const u = new URL(url.href);
  u.username = '';
  u.password = '';
  return u.toString();
}

/** Thrown (as the cause of an NfgitError) when the proxy cannot be reached or refuses the tunnel. */
export class ProxyError extends Error {
  /**
   * proxy: the proxy's URL without credentials; variable: the environment variable that named it;
   * status: the proxy's answer to CONNECT, or null when it could not be reached (cause says why).
   */
  constructor(
    readonly proxy: string,
    readonly variable: string,
    readonly target: string,
    readonly status: number | null,
    options?: { cause?: unknown },
  ) {
    super(
      status === null
        ? `cannot reach the proxy ${proxy} (${variable})`
        : `the proxy ${proxy} (${variable}) answered HTTP ${status} to CONNECT ${target}`,
      options,
    );
  }
}

/** The proxy a request went through, for messages: `http://proxy:3128/ (https_proxy)`. */
export function describeProxy(choice: ProxyChoice): string {
  return `${withoutCredentials(choice.url)} (${choice.variable})`;
}

/** An http.Agent that tunnels every request through the proxy with CONNECT, and throws ProxyError when the proxy fails. */
export class TunnelAgent extends HttpsProxyAgent<string> {
  /** idleMs: how long the proxy may take to answer CONNECT (repository.timeout). */
  constructor(
    readonly choice: ProxyChoice,
    readonly idleMs: number,
  ) {
    super(choice.url);
  }

  override async connect(req: ClientRequest, opts: AgentConnectOpts): Promise<Socket> {
    const proxy = withoutCredentials(this.choice.url);
    const target = `${opts.host ?? ''}:${opts.port}`;
    let status = 200;
    const onConnect = (connect: { statusCode: number }): void => {
      status = connect.statusCode;
    };
    req.once('proxyConnect', onConnect);
    // A proxy that never answers CONNECT would hold its connection open for good (https-proxy-agent
    // waits for the answer without a limit, and an abandoned request does not close it): it is closed
    // after the idle limit. super.connect opens that connection before its first await, so the signal
    // given here goes to this request's connection only; it is never aborted once the tunnel is up.
    const silent = new AbortController();
    const timer = setTimeout(() => silent.abort(new Error(`no answer to CONNECT for ${Math.round(this.idleMs / 1000)} s`)), this.idleMs);
    timer.unref();
    const shared = this.connectOpts;
    let socket: Socket;
    try {
      this.connectOpts = { ...shared, signal: silent.signal };
      const connecting = super.connect(req, opts);
      this.connectOpts = shared;
      socket = await connecting;
    } catch (err) {
      const cause: unknown = silent.signal.aborted ? silent.signal.reason : err;
      throw new ProxyError(proxy, this.choice.variable, target, null, { cause });
    } finally {
      clearTimeout(timer);
      this.connectOpts = shared;
      req.off('proxyConnect', onConnect);
    }
    if (status !== 200) {
      socket.destroy();
      throw new ProxyError(proxy, this.choice.variable, target, status);
    }
    return socket;
  }
}
