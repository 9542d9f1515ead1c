// A real smart-HTTP git server for tests: git's own `http-backend` (CGI) behind a small Node HTTP (or
// HTTPS) server, protected by a token (basic authentication), with failure injection: the server can be
// stopped (connection refused) or made to stall (requests accepted, never answered), to drip (one
// byte per interval, never finishing) or to advertise refs without end.

import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

/**
 * How the server answers: normally; by holding every request open without a byte; refusing pushes
 * (503); 'drip': every answer starts (200, the right content type, a pkt-line header announcing a long
 * line) and then gets one byte per dripIntervalMs, never finishing; 'drip-pack': only the answers that
 * carry a pack (protocol v2 fetches, and v1 upload-pack POSTs as isomorphic-git fetches) drip, ref
 * listings are served; 'endless-refs': every ref listing (v1 advertisement, v2 ls-refs) goes on naming new branches forever,
 * as fast as the client reads; 'truncate': every POST is answered with the first half of git's answer
 * (what a proxy or a server that gives up leaves).
 */
export type ServerMode = 'ok' | 'stall' | 'no-push' | 'drip' | 'drip-pack' | 'endless-refs' | 'truncate';

/** A running test git server. */
export interface GitServer {
  /** Base URL; a repository `ROOT/fw.git` is at `${url}/fw.git`. */
  readonly url: string;
  readonly port: number;
  /** Requests received so far (all modes), with their method and path and the bytes they moved. */
  readonly requests: ServedRequest[];
  setMode(mode: ServerMode): void;
  /** Stops listening (clients get connection refused) and drops held requests. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
}

/** One request as the server saw it. */
export interface ServedRequest {
  readonly method: string;
  /** Path and query, for example `/fw.git/info/refs?service=git-upload-pack`. */
  readonly path: string;
  status: number;
  /**
   * Body bytes received and sent (as on the wire after chunked decoding; headers not counted), for the
   * fleet bench's bytes per pass; bytesOut is complete once the answer ended.
   */
  bytesIn: number;
  bytesOut: number;
  /** A protocol v2 POST's command (`ls-refs`, `fetch`), read from the start of its body; undefined otherwise. */
  command?: string;
  /** A v2 ls-refs request's `ref-prefix` arguments. */
  refPrefixes?: string[];
}

/** Options of startGitServer. */
export interface GitServerOptions {
  /** GIT_PROJECT_ROOT: the directory holding bare repositories. */
  readonly root: string;
  /** When set, every request needs basic authentication with this password (any user name). */
  readonly token?: string;
  readonly port?: number;
  /** The time between two bytes in the 'drip' modes (default 100 ms). */
  readonly dripIntervalMs?: number;
  /** Serve HTTPS with this key and certificate (PEM; see test-ca.ts) instead of HTTP. */
  readonly tls?: { readonly key: string; readonly cert: string };
  /** The host name in url (default 127.0.0.1; the server listens on 127.0.0.1 whatever it is). */
  readonly hostname?: string;
}

/** Starts the server on 127.0.0.1 (a random port unless given). Call stop() when done. */
export async function startGitServer(options: GitServerOptions): Promise<GitServer> {
  let mode: ServerMode = 'ok';
  const held = new Set<http.ServerResponse>();
  const requests: GitServer['requests'] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const entry: ServedRequest = { method: req.method ?? 'GET', path: url.pathname + url.search, status: 0, bytesIn: 0, bytesOut: 0 };
    requests.push(entry);
    countBytes(req, res, entry);
    if (mode === 'stall') {
      held.add(res);
      res.on('close', () => held.delete(res));
      return;
    }
    const service = url.searchParams.get('service') ?? url.pathname.replace(/^.*\//, '');
    const v2 = String(req.headers['git-protocol'] ?? '').includes('version=2');
    // A protocol v2 POST is a listing or a fetch by its first line: read it before choosing.
    if ((mode === 'drip-pack' || mode === 'endless-refs') && req.method === 'POST' && service === 'git-upload-pack' && v2) {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const listing = body.includes('command=ls-refs');
        if (mode === 'drip-pack' && !listing) {
          entry.status = 200;
          drip(res, service, false, options.dripIntervalMs ?? 100);
        } else if (mode === 'endless-refs' && listing) {
          entry.status = 200;
          endlessRefs(res, service, true);
        } else cgi(options.root, req, url, entry.method, (status) => (entry.status = status), res, false, body);
      });
      return;
    }
    if (mode === 'drip' || (mode === 'drip-pack' && req.method === 'POST' && service === 'git-upload-pack' && !v2)) {
      entry.status = 200;
      req.resume();
      drip(res, service, url.pathname.endsWith('/info/refs'), options.dripIntervalMs ?? 100);
      return;
    }
    if (mode === 'endless-refs' && url.pathname.endsWith('/info/refs')) {
      entry.status = 200;
      endlessRefs(res, service);
      return;
    }
    if (mode === 'no-push' && (url.pathname.endsWith('/git-receive-pack') || url.searchParams.get('service') === 'git-receive-pack')) {
      entry.status = 503;
      res.writeHead(503, { 'Content-Type': 'text/plain' });
      res.end('pushes are refused for a while\n');
      return;
    }
    if (options.token !== undefined && !authorized(req.headers.authorization, options.token)) {
      entry.status = 401;
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="nfgit test"', 'Content-Type': 'text/plain' });
      res.end('authentication required\n');
      return;
    }
    cgi(options.root, req, url, entry.method, (status) => (entry.status = status), res, mode === 'truncate' && req.method === 'POST');
  };
  const server = options.tls === undefined ? http.createServer(handler) : https.createServer({ ...options.tls }, handler);
  server.keepAliveTimeout = 1000;
  const listen = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  const port = await listen(options.port ?? 0);
  return {
    url: `${options.tls === undefined ? 'http' : 'https'}://${options.hostname ?? '127.0.0.1'}:${port}`,
    port,
    requests,
    setMode(m) {
      mode = m;
      if (m === 'ok') for (const res of held) res.destroy();
    },
    stop() {
      for (const res of held) res.destroy();
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
    async start() {
      await listen(port);
    },
  };
}

/** A pkt-line: four hex digits of length (itself included), then the data. */
function pkt(data: string): string {
  return (data.length + 4).toString(16).padStart(4, '0') + data;
}

/** Answers 200 and then one byte per interval, inside a pkt-line that announces 65516 bytes: never finishes. */
function drip(res: http.ServerResponse, service: string, advertisement: boolean, intervalMs: number): void {
  res.writeHead(200, {
    'Content-Type': `application/x-${service}-${advertisement ? 'advertisement' : 'result'}`,
    'Cache-Control': 'no-cache',
  });
  res.write('fff0');
  const timer = setInterval(() => res.write('a'), intervalMs);
  res.on('close', () => clearInterval(timer));
}

/** A well-formed ref listing that never ends (a protocol v1 advertisement, or a v2 ls-refs answer): new branches as fast as the client reads. */
function endlessRefs(res: http.ServerResponse, service: string, v2 = false): void {
  res.writeHead(200, { 'Content-Type': `application/x-${service}-${v2 ? 'result' : 'advertisement'}`, 'Cache-Control': 'no-cache' });
  const oid = '1'.repeat(40);
  if (!v2) res.write(pkt(`# service=${service}\n`) + '0000' + pkt(`${oid} HEAD\0side-band-64k ofs-delta agent=git/test\n`));
  let n = 0;
  let closed = false;
  res.on('close', () => (closed = true));
  const more = (): void => {
    while (!closed) {
      let chunk = '';
      for (let i = 0; i < 1000; i++) chunk += pkt(`${oid} refs/heads/b${n++}\n`);
      if (!res.write(chunk)) {
        res.once('drain', more);
        return;
      }
    }
  };
  more();
}

function authorized(header: string | undefined, token: string): boolean {
  if (header === undefined || !header.startsWith('Basic ')) return false;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  return decoded.slice(decoded.indexOf(':') + 1) === token;
}

/** Runs git http-backend for one request and relays its CGI answer. */
function cgi(
  root: string,
  req: http.IncomingMessage,
  url: URL,
  method: string,
  setStatus: (s: number) => void,
  res: http.ServerResponse,
  truncate = false,
  body?: Buffer,
): void {
  const held: Buffer[] = [];
  const write = (b: Buffer): void => {
    if (truncate) held.push(b);
    else res.write(b);
  };
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    HOME: root,
    PATH_INFO: decodeURIComponent(url.pathname),
    REQUEST_METHOD: method,
    QUERY_STRING: url.search.replace(/^\?/, ''),
    CONTENT_TYPE: req.headers['content-type'] ?? '',
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    REMOTE_USER: 'nfgit-test',
  };
  if (req.headers['content-length'] !== undefined) env['CONTENT_LENGTH'] = req.headers['content-length'];
  if (typeof req.headers['git-protocol'] === 'string') env['GIT_PROTOCOL'] = req.headers['git-protocol'];
  for (const [k, v] of Object.entries(req.headers)) {
    if (typeof v === 'string') env[`HTTP_${k.toUpperCase().replace(/-/g, '_')}`] = v;
  }
  const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  if (body === undefined) req.pipe(child.stdin);
  else child.stdin.end(body);
  child.stdin.on('error', () => {});
  child.stderr.resume();
  let head = Buffer.alloc(0);
  let headerDone = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (headerDone) {
      write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    let end = head.indexOf('\r\n\r\n');
    let sepLen = 4;
    if (end < 0) {
      end = head.indexOf('\n\n');
      sepLen = 2;
    }
    if (end < 0) return;
    headerDone = true;
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
      else headers[name] = value;
    }
    setStatus(status);
    res.writeHead(status, headers);
    write(head.subarray(end + sepLen));
  });
  child.stdout.on('end', () => {
    if (!headerDone) {
      setStatus(502);
      res.writeHead(502);
    }
    const all = Buffer.concat(held);
    res.end(all.subarray(0, Math.floor(all.length / 2)));
  });
  res.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
}

/**
 * Counts the body bytes of a request and its answer into entry, and reads a protocol v2 command (and
 * ls-refs prefixes) from the first 64 KiB of a POST body. Listens beside whatever consumes the request.
 */
function countBytes(req: http.IncomingMessage, res: http.ServerResponse, entry: ServedRequest): void {
  let head = Buffer.alloc(0);
  req.on('data', (chunk: Buffer) => {
    entry.bytesIn += chunk.length;
    if (req.method === 'POST' && head.length < 65536) {
      head = Buffer.concat([head, chunk]);
      const { command, refPrefixes } = v2Request(head);
      if (command !== undefined) entry.command = command;
      if (refPrefixes.length > 0) entry.refPrefixes = refPrefixes;
    }
  });
  const write = res.write.bind(res) as (chunk: unknown, ...rest: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => http.ServerResponse;
  const size = (chunk: unknown): number =>
    typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk instanceof Uint8Array ? chunk.byteLength : 0;
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    entry.bytesOut += size(chunk);
    return write(chunk, ...rest);
  }) as typeof res.write;
  res.end = ((...args: unknown[]) => {
    if (typeof args[0] !== 'function') entry.bytesOut += size(args[0]);
    return end(...args);
  }) as typeof res.end;
}

/** The command and ref-prefix arguments of a protocol v2 request body (pkt-lines), as far as head holds them. */
function v2Request(head: Buffer): { command: string | undefined; refPrefixes: string[] } {
  let command: string | undefined;
  const refPrefixes: string[] = [];
  for (let at = 0; at + 4 <= head.length; ) {
    const len = Number.parseInt(head.subarray(at, at + 4).toString('latin1'), 16);
    if (Number.isNaN(len)) break;
    if (len < 4) {
      at += 4;
      continue;
    }
    if (at + len > head.length) break;
    const line = head
      .subarray(at + 4, at + len)
      .toString('utf8')
      .replace(/\n$/, '');
    if (line.startsWith('command=')) command = line.slice('command='.length);
    else if (line.startsWith('ref-prefix ')) refPrefixes.push(line.slice('ref-prefix '.length));
    at += len;
  }
  return { command, refPrefixes };
}
