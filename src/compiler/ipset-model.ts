import { formatIpv4, formatIpv6, maskAddress, parseIpv4, parseIpv6 } from './ip-address.js';
import type { IpsetCall } from './parse-ipset.js';
import type { Family } from './parse-argv.js';
import type { SourceTrace } from '../errors/source-location.js';

/** The longest set name the kernel takes (IPSET_MAXNAMELEN is 32 bytes with the NUL). */
export const MAX_SET_NAME = 31;

/** One element of a set: its canonical key, the text rendered for `add`, its options, and its origin. */
export interface SetMember {
  readonly key: string;
  readonly entry: string;
  readonly options: readonly string[];
  readonly trace: SourceTrace;
}

/** The content of a set; `swap` exchanges contents and leaves the names where they are (as the kernel does). */
export interface SetContent {
  readonly type: string;
  /** `inet`, `inet6`, or undefined for types without a family (bitmap:port, list:set). */
  readonly family: 'inet' | 'inet6' | undefined;
  /** Create options after the type, `family` left out, as normalized words. */
  readonly options: readonly string[];
  members: Map<string, SetMember>;
  readonly trace: SourceTrace;
}

/** A named set. */
export interface IpSet {
  readonly name: string;
  content: SetContent;
}

/** What ipset would answer: success (with a message for `test`), or its error and exit status. */
export type IpsetResult =
  | { readonly ok: true; readonly message?: string }
  | { readonly ok: false; readonly message: string; readonly status: number };

const OK: IpsetResult = { ok: true };

/** Every set type of ipset 7; only the ones listed in ELEMENT_KINDS get their elements compared by value. */
/** The type names of ipset 4, which ipset 7 still accepts (each type's `alias` in ipset's lib/ipset_*.c). */
const OLD_TYPE_NAMES: Readonly<Record<string, string>> = {
  iphash: 'hash:ip',
  nethash: 'hash:net',
  ipporthash: 'hash:ip,port',
  ipportiphash: 'hash:ip,port,ip',
  ipportnethash: 'hash:ip,port,net',
  ipmap: 'bitmap:ip',
  macipmap: 'bitmap:ip,mac',
  portmap: 'bitmap:port',
  setlist: 'list:set',
};

const TYPES = new Set([
  'hash:ip',
  'hash:net',
  'hash:ip,port',
  'hash:net,port',
  'hash:ip,port,ip',
  'hash:ip,port,net',
  'hash:net,port,net',
  'hash:net,net',
  'hash:ip,mark',
  'hash:net,iface',
  'hash:mac',
  'hash:ip,mac',
  'bitmap:ip',
  'bitmap:ip,mac',
  'bitmap:port',
  'list:set',
]);

/** Create options that take a value, and those that are flags (ipset.8, "CREATE OPTIONS"). */
const CREATE_WITH_VALUE = new Set([
  'family',
  'hashsize',
  'maxelem',
  'timeout',
  'netmask',
  'bitmask',
  'range',
  'size',
  'markmask',
  'bucketsize',
  'initval',
]);
const CREATE_FLAGS = new Set(['counters', 'comment', 'skbinfo', 'forceadd']);
/** Add options that take a value, and flags. */
const ADD_WITH_VALUE = new Set(['timeout', 'packets', 'bytes', 'comment', 'skbmark', 'skbprio', 'skbqueue', 'before', 'after']);
const ADD_FLAGS = new Set(['nomatch']);

/** The most elements one `add` of a range or network may expand to (ipset refuses huge ranges too). */
const MAX_EXPANSION = 65536;

/** The sets a rule specification refers to (`-m set --match-set NAME`, `-j SET --add-set NAME`…). */
export function setReferences(spec: readonly string[]): string[] {
  const names: string[] = [];
  for (let i = 0; i < spec.length - 1; i++) {
    const t = spec[i];
    if (t === '--match-set' || t === '--add-set' || t === '--del-set' || t === '--map-set') names.push(spec[i + 1] as string);
  }
  return names;
}

/**
 * The sets of one network namespace, changed one `ipset` call at a time with the semantics of ipset 7
 * and the kernel (errors worded as ipset words them). Pure: no I/O.
 */
export class IpsetModel {
  readonly sets = new Map<string, IpSet>();

  /**
   * Applies one call. `ruleRefs(name)` counts the iptables rules that refer to a set now (a set in
   * use cannot be destroyed or renamed).
   */
  apply(call: IpsetCall, trace: SourceTrace, ruleRefs: (name: string) => number = () => 0): IpsetResult {
    const a = call.args;
    switch (call.op) {
      case 'create':
        return this.create(a, call.exist, trace);
      case 'add':
      case 'del':
      case 'test':
        return this.element(call.op, a, call.exist, trace);
      case 'destroy': {
        if (a.length > 1) return fail(`too many arguments to destroy: ${a.slice(1).join(' ')}`, 1);
        const name = a[0];
        if (name === undefined) {
          for (const s of this.sets.values())
            if (this.inUse(s.name, ruleRefs)) return fail('Set cannot be destroyed: it is in use by a kernel component', 1);
          this.sets.clear();
          return OK;
        }
        if (!this.sets.has(name)) return noSuchSet(name);
        if (this.inUse(name, ruleRefs))
          return fail(
            `Set cannot be destroyed: it is in use by a kernel component (set ${name} is referred to by ${this.useOf(name, ruleRefs)})`,
            1,
          );
        this.sets.delete(name);
        return OK;
      }
      case 'flush': {
        if (a.length > 1) return fail(`too many arguments to flush: ${a.slice(1).join(' ')}`, 1);
        const name = a[0];
        const targets = name === undefined ? [...this.sets.values()] : [this.sets.get(name)];
        for (const s of targets) {
          if (s === undefined) return noSuchSet(name as string);
          s.content.members = new Map();
        }
        return OK;
      }
      case 'rename': {
        const [from, to] = a;
        if (from === undefined || to === undefined || a.length > 2) return fail('rename needs two set names: ipset rename FROM TO', 1);
        const set = this.sets.get(from);
        if (set === undefined) return noSuchSet(from);
        const bad = badName(to);
        if (bad !== undefined) return fail(bad, 1);
        if (this.sets.has(to)) return fail('Set cannot be renamed: a set with the new name already exists', 1);
        if (this.inUse(from, ruleRefs)) return fail('Set cannot be renamed: it is in use by another system', 1);
        const entries = [...this.sets.entries()];
        this.sets.clear();
        for (const [k, v] of entries) this.sets.set(k === from ? to : k, k === from ? { name: to, content: v.content } : v);
        return OK;
      }
      case 'swap': {
        const [x, y] = a;
        if (x === undefined || y === undefined || a.length > 2) return fail('swap needs two set names: ipset swap FROM TO', 1);
        const sx = this.sets.get(x);
        if (sx === undefined) return noSuchSet(x);
        const sy = this.sets.get(y);
        if (sy === undefined) return fail('The second set does not exist', 1);
        if (sx.content.type !== sy.content.type || sx.content.family !== sy.content.family)
          return fail('The sets cannot be swapped: their type does not match', 1);
        const c = sx.content;
        sx.content = sy.content;
        sy.content = c;
        return OK;
      }
      case 'list': {
        // Only as an existence check (`ipset list NAME >/dev/null 2>&1 || ipset create …`): nothing is printed.
        const name = a[0];
        if (name === undefined)
          return fail(
            'cannot list all sets in a rule file: rule files are compiled, not run against a live firewall (ipset list NAME only tells whether the set exists)',
            2,
          );
        return this.sets.has(name) ? OK : noSuchSet(name);
      }
      case 'save':
      case 'restore':
        return fail(
          `cannot ${call.op} sets in a rule file: rule files are compiled, and nfgit does the ipset save/restore itself; call ipset create and add instead`,
          2,
        );
      case 'version':
      case 'help':
        return OK;
    }
  }

  /** Whether a rule of `family` may refer to the set; the message iptables gives when not. */
  checkRuleReference(family: Family, name: string): string | undefined {
    const s = this.sets.get(name);
    if (s === undefined) return `Set ${name} doesn't exist; create it with ipset create before the rule that uses it`;
    const f = s.content.family;
    if ((f === 'inet6' && family === 'ipv4') || (f === 'inet' && family === 'ipv6')) {
      return `The protocol family of set ${name} is ${f === 'inet6' ? 'IPv6' : 'IPv4'}, which is not applicable`;
    }
    return undefined;
  }

  private inUse(name: string, ruleRefs: (name: string) => number): boolean {
    return this.useOf(name, ruleRefs) !== '';
  }

  private useOf(name: string, ruleRefs: (name: string) => number): string {
    const rules = ruleRefs(name);
    const lists = [...this.sets.values()].filter((s) => s.content.type === 'list:set' && s.content.members.has(name)).map((s) => s.name);
    const why: string[] = [];
    if (rules > 0) why.push(`${rules} iptables rule(s)`);
    if (lists.length > 0) why.push(`list set(s) ${lists.join(', ')}`);
    return why.join(' and ');
  }

  private create(a: readonly string[], exist: boolean, trace: SourceTrace): IpsetResult {
    const [name, rawType, ...rest] = a;
    if (name === undefined || rawType === undefined) return fail('create needs a set name and a type: ipset create NAME TYPE [options]', 1);
    const bad = badName(name);
    if (bad !== undefined) return fail(bad, 1);
    const type = OLD_TYPE_NAMES[rawType.toLowerCase()] ?? rawType.toLowerCase();
    if (!TYPES.has(type)) return fail(`Syntax error: typename '${rawType}' is unknown`, 1);
    let family: 'inet' | 'inet6' | undefined = type === 'bitmap:port' || type === 'list:set' ? undefined : 'inet';
    const options: string[] = [];
    for (let i = 0; i < rest.length; i++) {
      const o = rest[i] as string;
      // ipset 4's `--from A --to B` for the bitmap types, still read by ipset 7 as `range A-B`.
      if (
        o === '--from' &&
        type.startsWith('bitmap:') &&
        rest[i + 2] === '--to' &&
        rest[i + 1] !== undefined &&
        rest[i + 3] !== undefined
      ) {
        options.push('range', `${rest[i + 1]}-${rest[i + 3]}`);
        i += 3;
        continue;
      }
      if (o === '-4' || o === '-6') {
        family = o === '-4' ? 'inet' : 'inet6';
        continue;
      }
      if (CREATE_FLAGS.has(o)) {
        options.push(o);
        continue;
      }
      if (!CREATE_WITH_VALUE.has(o)) return fail(`Syntax error: unknown argument '${o}' for ${type}`, 1);
      const v = rest[++i];
      if (v === undefined) return fail(`Syntax error: argument '${o}' needs a value`, 1);
      if (o === 'family') {
        if (v !== 'inet' && v !== 'inet6') return fail(`Syntax error: unknown family '${v}': use inet or inet6`, 1);
        if (type === 'bitmap:port' || type === 'list:set' || ((type === 'bitmap:ip' || type === 'bitmap:ip,mac') && v === 'inet6'))
          return fail(`Syntax error: family ${v} is not supported by ${type}`, 1);
        family = v;
        continue;
      }
      if (o !== 'range' && !/^(0x[0-9a-fA-F]+|\d+)$/.test(v) && o !== 'netmask' && o !== 'bitmask')
        return fail(`Syntax error: '${v}' is not a number (for ${o})`, 1);
      options.push(o, v);
    }
    if (type.startsWith('bitmap:') && !options.includes('range')) return fail(`Syntax error: ${type} needs the mandatory option range`, 1);
    const existing = this.sets.get(name);
    if (existing !== undefined) {
      const c = existing.content;
      if (exist && c.type === type && c.family === family && c.options.join(' ') === options.join(' ')) return OK;
      return fail('Set cannot be created: set with the same name already exists', 1);
    }
    this.sets.set(name, { name, content: { type, family, options, members: new Map(), trace } });
    return OK;
  }

  private element(op: 'add' | 'del' | 'test', a: readonly string[], exist: boolean, trace: SourceTrace): IpsetResult {
    const [name, entry, ...rest] = a;
    if (name === undefined || entry === undefined) return fail(`${op} needs a set name and an element: ipset ${op} NAME ELEMENT`, 1);
    const set = this.sets.get(name);
    if (set === undefined) return noSuchSet(name);
    const options: string[] = [];
    for (let i = 0; i < rest.length; i++) {
      const o = rest[i] as string;
      if (ADD_FLAGS.has(o)) {
        options.push(o);
        continue;
      }
      if (!ADD_WITH_VALUE.has(o)) return fail(`Syntax error: unknown argument '${o}'`, 1);
      const v = rest[++i];
      if (v === undefined) return fail(`Syntax error: argument '${o}' needs a value`, 1);
      if (o === 'comment' && !set.content.options.includes('comment'))
        return fail(`Syntax error: set ${name} was created without the comment option, so its elements cannot have comments`, 1);
      if (o === 'timeout' && !set.content.options.includes('timeout'))
        return fail(`Syntax error: set ${name} was created without the timeout option, so its elements cannot have a timeout`, 1);
      if ((o === 'packets' || o === 'bytes') && !set.content.options.includes('counters'))
        return fail(`Syntax error: set ${name} was created without the counters option`, 1);
      options.push(o, v);
    }
    const elements = this.elements(set, entry);
    if (typeof elements === 'string') return fail(elements, 1);
    const members = set.content.members;
    if (op === 'test') {
      const all = elements.every((e) => members.has(e.key));
      return all ? { ok: true, message: `${entry} is in set ${name}.` } : fail(`${entry} is NOT in set ${name}.`, 1);
    }
    if (op === 'add') {
      for (const e of elements) {
        if (members.has(e.key) && !exist) return fail(`Element cannot be added to the set: it's already added`, 1);
        members.set(e.key, { key: e.key, entry: e.entry, options, trace });
      }
      return OK;
    }
    for (const e of elements) {
      if (!members.delete(e.key) && !exist) return fail(`Element cannot be deleted from the set: it's not added`, 1);
    }
    return OK;
  }

  /** The elements one `add`/`del` argument stands for, with canonical keys; or what is wrong with it. */
  private elements(set: IpSet, entry: string): Array<{ key: string; entry: string }> | string {
    const { type, family } = set.content;
    const bits = family === 'inet6' ? 128 : 32;
    if (type === 'list:set') {
      const member = this.sets.get(entry);
      if (member === undefined) return 'Set to be added/deleted/tested as element does not exist.';
      if (member.content.type === 'list:set')
        return `Syntax error: set ${entry} is a list:set, which cannot be a member of another list:set`;
      return [{ key: entry, entry }];
    }
    if (type === 'bitmap:port') {
      const ports = expandPorts(entry);
      if (typeof ports === 'string') return ports;
      return ports.map((p) => ({ key: String(p), entry: String(p) }));
    }
    if (type === 'hash:ip' || type === 'bitmap:ip') {
      const ips = expandAddresses(entry, bits);
      if (ips === undefined) return rawElement(entry);
      if (typeof ips === 'string') return ips;
      return ips.map((ip) => ({ key: ip, entry: ip }));
    }
    if (type === 'hash:net') {
      const wrong = wrongFamily(entry, bits);
      if (wrong !== undefined) return wrong;
      const net = normalizeNet(entry, bits);
      if (net === undefined) return rawElement(entry);
      return typeof net === 'object' ? net.error : [{ key: net, entry: net }];
    }
    if (type === 'hash:ip,port' || type === 'hash:net,port') {
      const comma = entry.indexOf(',');
      if (comma < 0) return `Syntax error: the element ${entry} of a ${type} set is written ADDRESS,[PROTO:]PORT`;
      const addrPart = entry.slice(0, comma);
      const wrong = wrongFamily(addrPart, bits);
      if (wrong !== undefined) return wrong;
      let addr: string | { error: string } | undefined;
      if (type === 'hash:ip,port') {
        const n = parseAddr(addrPart, bits);
        addr = n === undefined ? undefined : formatAddr(n, bits);
      } else {
        addr = normalizeNet(addrPart, bits);
      }
      if (typeof addr === 'object') return addr.error;
      const ports = expandProtoPorts(entry.slice(comma + 1));
      if (addr === undefined || ports === undefined) return rawElement(entry);
      if (typeof ports === 'string') return ports;
      const a = addr;
      return ports.map((p) => ({ key: `${a},${p}`, entry: `${a},${p}` }));
    }
    return rawElement(entry);
  }
}

function fail(message: string, status: number): IpsetResult {
  return { ok: false, message, status };
}

function noSuchSet(name: string): IpsetResult {
  return fail(`The set with the given name does not exist (${name}); create it with ipset create first`, 1);
}

function badName(name: string): string | undefined {
  if (name === '') return 'Syntax error: the set name is empty';
  if (name.length > MAX_SET_NAME) return `Syntax error: setname '${name}' is longer than ${MAX_SET_NAME} characters`;
  if (/\s/.test(name)) return `Syntax error: setname '${name}' must not contain spaces`;
  return undefined;
}

/** An element nfgit does not interpret: compared by its exact spelling, validated by the kernel when staging. */
function rawElement(entry: string): Array<{ key: string; entry: string }> {
  return [{ key: `=${entry.toLowerCase()}`, entry }];
}

function parseAddr(s: string, bits: number): bigint | undefined {
  if (bits === 32) {
    const n = parseIpv4(s);
    return n === undefined ? undefined : BigInt(n);
  }
  return parseIpv6(s);
}

function formatAddr(n: bigint, bits: number): string {
  return bits === 32 ? formatIpv4(Number(n)) : formatIpv6(n);
}

/** Whether the text is an address of the other family (an error the kernel reports too). */
function wrongFamily(s: string, bits: number): string | undefined {
  const other = bits === 32 ? parseIpv6(s.split('/')[0] as string) : parseIpv4(s.split('/')[0] as string);
  if (other === undefined) return undefined;
  return `Syntax error: ${s} is an ${bits === 32 ? 'IPv6' : 'IPv4'} address, but the set is of family ${bits === 32 ? 'inet' : 'inet6'}`;
}

/** `ADDR`, `ADDR/PREFIX` or `FROM-TO` as the list of single addresses (hash:ip adds each one). */
function expandAddresses(s: string, bits: number): string[] | string | undefined {
  const wrong = wrongFamily(s.split('-')[0] as string, bits);
  if (wrong !== undefined) return wrong;
  let from: bigint | undefined;
  let to: bigint | undefined;
  const slash = /^([^/]+)\/(\d+)$/.exec(s);
  const dash = /^([^-]+)-([^-]+)$/.exec(s);
  if (slash !== null) {
    const a = parseAddr(slash[1] as string, bits);
    const p = Number(slash[2]);
    if (a === undefined || p > bits) return undefined;
    from = maskAddress(a, p, bits);
    to = from + (1n << BigInt(bits - p)) - 1n;
  } else if (dash !== null) {
    from = parseAddr(dash[1] as string, bits);
    to = parseAddr(dash[2] as string, bits);
    if (from === undefined || to === undefined) return undefined;
    if (to < from) [from, to] = [to, from];
  } else {
    from = parseAddr(s, bits);
    to = from;
  }
  if (from === undefined || to === undefined) return undefined;
  if (to - from >= BigInt(MAX_EXPANSION))
    return `Syntax error: ${s} holds more than ${MAX_EXPANSION} addresses; use a hash:net set for networks`;
  const out: string[] = [];
  for (let n = from; n <= to; n++) out.push(formatAddr(n, bits));
  return out;
}

/** `ADDR[/PREFIX]` as its network (`10.1.2.3/8` is `10.0.0.0/8`); a host without prefix is /32 or /128. */
function normalizeNet(s: string, bits: number): string | { error: string } | undefined {
  const m = /^([^/]+)(?:\/(\d+))?$/.exec(s);
  if (m === null) return undefined;
  const a = parseAddr(m[1] as string, bits);
  const p = m[2] === undefined ? bits : Number(m[2]);
  if (a === undefined || p > bits) return undefined;
  if (p === 0) return { error: `Syntax error: the prefix /0 is not allowed in ${s}` };
  return `${formatAddr(maskAddress(a, p, bits), bits)}/${p}`;
}

/** `PORT` or `FROM-TO` as numbers. */
function expandPorts(s: string): number[] | string {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (m === null) return `Syntax error: '${s}' is not a port number or range`;
  let from = Number(m[1]);
  let to = m[2] === undefined ? from : Number(m[2]);
  if (to < from) [from, to] = [to, from];
  if (to > 65535) return `Syntax error: port ${to} is out of range (0-65535)`;
  const out: number[] = [];
  for (let p = from; p <= to; p++) out.push(p);
  return out;
}

/** `[PROTO:]PORT[-PORT]` (tcp when no protocol) as `proto:port` elements; undefined for other protocols. */
function expandProtoPorts(s: string): string[] | string | undefined {
  const m = /^(?:(tcp|udp|sctp|udplite):)?([\d-]+)$/i.exec(s);
  if (m === null) return undefined;
  const proto = (m[1] ?? 'tcp').toLowerCase();
  const ports = expandPorts(m[2] as string);
  if (typeof ports === 'string') return ports;
  return ports.map((p) => `${proto}:${p}`);
}
