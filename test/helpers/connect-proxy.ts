// A real HTTP CONNECT proxy on loopback, as a company's egress proxy looks to nfgit: it opens TCP
// tunnels and counts them, and can demand credentials (407), refuse every tunnel (403) or never answer.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';

/** A running test proxy. */
export interface ConnectProxy {
  /** `http://127.0.0.1:PORT` (no credentials). */
  readonly url: string;
  readonly port: number;
  /** Every CONNECT received: its target (`host:port`), the status answered (0: none), and its Proxy-Authorization header. */
  readonly connects: Array<{ target: string; status: number; authorization: string | undefined }>;
  /** How many tunnels were opened (answered 200 and connected). */
  tunnels(): number;
  /** Resolves once no client connection is open (every client has closed its end). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/** Options of startConnectProxy. */
export interface ConnectProxyOptions {
  /** When set, CONNECT needs Basic credentials `user:password` or gets 407. */
  readonly credentials?: string;
  /** Answer every CONNECT with this status instead of opening a tunnel (403: the proxy does not allow it). */
  readonly refuse?: number;
  /** Never answer a CONNECT (a proxy that hangs); stop() drops the held connections. */
  readonly stall?: boolean;
}

/** Starts the proxy on 127.0.0.1, on a random port. Call stop() when done. */
export async function startConnectProxy(options: ConnectProxyOptions = {}): Promise<ConnectProxy> {
  const connects: ConnectProxy['connects'] = [];
  const sockets = new Set<net.Socket>();
  const clients = new Set<net.Socket>();
  const waiting: Array<() => void> = [];
  let opened = 0;
  const server = http.createServer((_req, res) => {
    res.writeHead(405, { 'Content-Type': 'text/plain' });
    res.end('only CONNECT\n');
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    sockets.add(client);
    clients.add(client);
    client.on('close', () => {
      sockets.delete(client);
      clients.delete(client);
      if (clients.size === 0) for (const w of waiting.splice(0)) w();
    });
    client.on('error', () => {});
    const target = req.url ?? '';
    const authorization = req.headers['proxy-authorization'];
    const answer = (status: number, text: string, extra = ''): void => {
      connects.push({ target, status, authorization });
      client.end(`HTTP/1.1 ${status} ${text}\r\n${extra}Content-Length: 0\r\n\r\n`);
    };
    if (options.credentials !== undefined && authorization !== `Basic ${Buffer.from(options.credentials).toString('base64')}`) {
      answer(407, 'Proxy Authentication Required', 'Proxy-Authenticate: Basic realm="test proxy"\r\n');
      return;
    }
    if (options.stall === true) {
      connects.push({ target, status: 0, authorization });
      // An http.Server's sockets allow half-open connections: close this end when the client closes its own.
      client.once('end', () => client.destroy());
      return;
    }
    if (options.refuse !== undefined) {
      answer(options.refuse, 'Forbidden');
      return;
    }
    const colon = target.lastIndexOf(':');
    const host = target.slice(0, colon).replace(/^\[|\]$/g, '');
    const upstream = net.connect(Number(target.slice(colon + 1)), host);
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    upstream.once('connect', () => {
      opened++;
      connects.push({ target, status: 200, authorization });
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connects,
    tunnels: () => opened,
    idle: () => new Promise<void>((resolve) => (clients.size === 0 ? resolve() : waiting.push(resolve))),
    stop() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
