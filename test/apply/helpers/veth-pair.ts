/**
 * Two scratch namespaces joined by a veth pair (made inside them: the machine's own namespace never
 * sees it), a TCP listener in the peer, and a connect check from the host side. For the probe tests:
 * nfgit applies to `host`, and its probes try to reach `peer`.
 */
import { execa } from 'execa';
import { spawn, type ChildProcess } from 'node:child_process';
import { IP, withNetns } from './netns-apply.js';

export const HOST4 = '10.251.0.1';
export const PEER4 = '10.251.0.2';

/** The two namespaces. */
export interface Pair {
  readonly host: string;
  readonly peer: string;
}

/** Runs fn with two linked namespaces; both are deleted (and whatever runs in them killed) on every path. */
export function withPair<T>(fn: (pair: Pair) => Promise<T>): Promise<T> {
  return withNetns((host) =>
    withNetns(async (peer) => {
      const ip = (...args: string[]) => execa(IP, args);
      await ip('-n', host, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1', 'netns', peer);
      for (const [ns, dev, addr] of [
        [host, 'v0', HOST4],
        [peer, 'v1', PEER4],
      ] as const) {
        await ip('-n', ns, 'link', 'set', 'lo', 'up');
        await ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev);
        await ip('-n', ns, 'link', 'set', dev, 'up');
      }
      return fn({ host, peer });
    }),
  );
}

// Listens on every port given, on "::" (both families: bindv6only is 0 in a fresh namespace).
const SERVER = `
const net = require('net');
const ports = process.argv.slice(1).map(Number);
let listening = 0;
for (const port of ports) {
  net.createServer((s) => {
    s.on('error', () => {}); // the client hangs up at once: a reset must not end the server
    s.end('hello ' + port);
  }).listen(port, '::', () => {
    if (++listening === ports.length) console.log('ready');
  });
}`;

/** Starts a TCP listener on every port given in a namespace; resolves once it listens (it dies with the namespace). */
export function listen(netns: string, ...ports: number[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(IP, ['netns', 'exec', netns, process.execPath, '-e', SERVER, ...ports.map(String)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the listener did not start within 10 s: ${err}`));
    }, 10_000);
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the listener exited (${code}): ${err}`));
    });
  });
}

const CONNECT = `
const s = require('net').connect({ host: process.argv[1], port: Number(process.argv[2]) });
const timer = setTimeout(() => { console.log('timeout'); process.exit(0); }, 1500);
s.on('connect', () => { console.log('open'); process.exit(0); });
s.on('error', (e) => { console.log(e.code); process.exit(0); });`;

/** What a TCP connection from a namespace to host:port does: "open", "timeout" or an error code. */
export async function connectFrom(netns: string, host: string, port: number): Promise<string> {
  const r = await execa(IP, ['netns', 'exec', netns, process.execPath, '-e', CONNECT, host, String(port)]);
  return String(r.stdout).trim();
}
