// Which proxy a request to the git server goes through, from the environment as curl (and so git)
// reads it: https_proxy or HTTPS_PROXY for https:// URLs, http_proxy or HTTP_PROXY for http:// ones,
// all_proxy or ALL_PROXY for both, the lower-case name first; none for a host that no_proxy or
// NO_PROXY lists. The no_proxy rules are curl's (lib/noproxy.c), which npm's proxy-from-env does not
// follow (there `example.com` does not cover `www.example.com`), plus a port after a name, as Go and
// proxy-from-env allow. Pure: the environment is handed in.

import { isIP } from 'node:net';
import { UsageError } from '../errors/errors.js';

/** The proxy for a request: its URL (credentials included, for the tunnel) and the variable that named it. */
export interface ProxyChoice {
  readonly url: URL;
  readonly variable: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** The first of the variables that is set and not empty, with its name. */
function firstSet(env: Env, names: readonly string[]): { name: string; value: string } | null {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value !== undefined && value !== '') return { name, value };
  }
  return null;
}

/** An IPv4 or IPv6 address and a prefix length as bytes, or null when text is not an address. */
function addressBytes(text: string): number[] | null {
  const family = isIP(text);
  if (family === 4) return text.split('.').map(Number);
  if (family !== 6) return null;
  // Expand :: and a trailing dotted IPv4 part into 16 bytes.
  let t = text;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (v4 !== null) {
    const b = (v4[1] ?? '').split('.').map(Number);
    t =
      t.slice(0, -(v4[1] ?? '').length) +
      `${(((b[0] ?? 0) << 8) | (b[1] ?? 0)).toString(16)}:${(((b[2] ?? 0) << 8) | (b[3] ?? 0)).toString(16)}`;
  }
  const [head = '', tail] = t.split('::');
  const h = head === '' ? [] : head.split(':');
  const tl = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - tl.length).fill('0'), ...tl];
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

/** Whether address lies in network/bits (bits 0: the whole address must be equal), as curl's cidr matches. */
function inNetwork(address: number[], network: number[], bits: number): boolean {
  if (address.length !== network.length) return false;
  const width = address.length * 8;
  const n = bits === 0 ? width : bits;
  if (n > width) return false;
  for (let i = 0; i < n; i++) {
    const byte = i >> 3;
    const mask = 0x80 >> (i & 7);
    if (((address[byte] ?? 0) & mask) !== ((network[byte] ?? 0) & mask)) return false;
  }
  return true;
}

/** A token's port, when it ends in one (`host:8443`, `[::1]:8443`), and the rest. */
function splitPort(token: string): { name: string; port: number | null } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(token);
  if (bracketed !== null) return { name: bracketed[1] ?? '', port: bracketed[2] === undefined ? null : Number(bracketed[2]) };
  const m = /^([^:]+):(\d+)$/.exec(token);
  return m === null ? { name: token, port: null } : { name: m[1] ?? '', port: Number(m[2]) };
}

/**
 * Whether a no_proxy list names the host (a name, or an IP address without brackets) at port: `*`
 * alone names every host; otherwise entries are separated by commas or blanks; a name matches itself
 * and every name under it (`example.com` and `.example.com` both cover `example.com` and
 * `www.example.com`, not `notexample.com`), case and trailing dots ignored; an address matches an
 * address entry, with a prefix length if given (`10.0.0.0/8`, `fd00::/8`), never a name; an entry
 * with a port (`git.example.com:8443`) matches only that port.
 */
export function noProxyMatches(list: string, host: string, port: number): boolean {
  const trimmed = list.trim();
  if (trimmed === '') return false;
  if (trimmed === '*') return true;
  const hostAddr = addressBytes(host);
  const name = host.toLowerCase().replace(/\.$/, '');
  for (const token of trimmed.split(/[\s,]+/)) {
    if (token === '') continue;
    const entry = splitPort(token);
    if (entry.port !== null && entry.port !== port) continue;
    if (hostAddr !== null) {
      const [net = '', bits] = entry.name.split('/');
      const netAddr = addressBytes(net);
      if (netAddr !== null && inNetwork(hostAddr, netAddr, bits === undefined ? 0 : Number(bits))) return true;
      continue;
    }
    const pattern = entry.name.toLowerCase().replace(/\.$/, '').replace(/^\./, '');
    if (pattern === '') continue;
    if (name === pattern || name.endsWith(`.${pattern}`)) return true;
  }
  return false;
}

/**
 * The proxy for a request to url under env, or null (no proxy set, or no_proxy names the host). A
 * proxy without a scheme is http://, as curl takes it. A UsageError names the variable (never its
 * value, which may hold a password) when it is not the URL of an http:// or https:// proxy.
 */
export function proxyFor(url: string, env: Env): ProxyChoice | null {
  const target = new URL(url);
  const scheme = target.protocol.replace(/:$/, '');
  if (scheme !== 'http' && scheme !== 'https') return null;
  const chosen = firstSet(env, [`${scheme}_proxy`, `${scheme.toUpperCase()}_PROXY`, 'all_proxy', 'ALL_PROXY']);
  if (chosen === null) return null;
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const port = target.port === '' ? (scheme === 'https' ? 443 : 80) : Number(target.port);
  const noProxy = firstSet(env, ['no_proxy', 'NO_PROXY']);
  if (noProxy !== null && noProxyMatches(noProxy.value, host, port)) return null;
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(chosen.value) ? chosen.value : `http://${chosen.value}`;
  let proxy: URL;
  try {
    proxy = new URL(text);
  } catch {
    throw new UsageError(`${chosen.name} in nfgit's environment is not a URL: give the proxy as http://HOST:PORT`);
  }
  if (proxy.protocol !== 'http:' && proxy.protocol !== 'https:') {
    throw new UsageError(
      `${chosen.name} in nfgit's environment names a ${proxy.protocol.replace(/:$/, '')} proxy: nfgit reaches git servers through http:// or https:// proxies only`,
    );
  }
  return { url: proxy, variable: chosen.name };
}
