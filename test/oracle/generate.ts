// Random but valid rule directories for the "run it for real" oracle.
//
// generateCase(seed) returns 2..4 rule files (file name -> zsh source). Every command it
// emits is accepted by real iptables/ip6tables (1.8.9, nft backend) when the files are
// sourced in order into one zsh (emulate -R zsh, errexit): the generator keeps its own
// model of every table, chain and rule of both families and only emits commands that are
// valid in the current state (chains exist before use, indices in range, deletes by the
// identical spec of an existing rule, no jump loops, -X only of empty unreferenced chains,
// policies only on built-in chains, DROP policies never in nat).
//
// Deterministic per seed (mulberry32). No dependencies.

type Family = 4 | 6;
type TableName = 'filter' | 'nat' | 'mangle' | 'raw' | 'security';

interface Target {
  kind: 'verdict' | 'jump' | 'goto' | 'log' | 'reject';
  /** verdict name (ACCEPT/DROP/RETURN) or user chain name for jump/goto */
  name: string;
  /** extra target options, e.g. ['--log-prefix', 'x'] */
  opts: string[];
}

interface Rule {
  /** the match part of the rule, exactly as emitted */
  matches: string[];
  target: Target;
}

interface Chain {
  builtin: boolean;
  rules: Rule[];
}

interface Table {
  name: TableName;
  chains: Map<string, Chain>;
}

interface FamilyModel {
  family: Family;
  tables: Map<TableName, Table>;
}

const BUILTINS: Record<TableName, string[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
  security: ['INPUT', 'FORWARD', 'OUTPUT'],
};

const TABLE_NAMES: TableName[] = ['filter', 'nat', 'mangle', 'raw', 'security'];

/** chains where -i (input interface) is allowed */
const IN_OK = new Set(['PREROUTING', 'INPUT', 'FORWARD']);
/** chains where -o (output interface) is allowed */
const OUT_OK = new Set(['FORWARD', 'OUTPUT', 'POSTROUTING']);

const CHAIN_WORDS = [
  'SSH',
  'WEB',
  'MAIL',
  'DNS',
  'LAN',
  'WAN',
  'DMZ',
  'ADMIN',
  'BLOCK',
  'ALLOW',
  'LOGDROP',
  'RATE',
  'VPN',
  'MGMT',
  'NTP',
  'zone_a',
  'zone-b',
  'Mixed_Case',
  'x',
];

const COMMENTS = [
  'allow ssh',
  "it's the admin's rule",
  'say "hello"',
  'back\\slash and \\\\ two',
  '# not a comment',
  'a;b; c',
  'costs $5 or ${HOME} or $(id)',
  'café ✓',
  '-A fake',
  '-j DROP --dport 22',
  '',
  ' ',
  '  padded  ',
  'glob * ? [a-z] {x,y}',
  'mixed \'single\' and "double"',
  'tab\there',
  'COMMIT',
  '*filter',
  'Zürich → Genève',
  'pipe | amp & lt < gt >',
  'back`tick`',
  'percent %s %d',
];

const LOG_PREFIXES = [
  'fw: ',
  'DROP ',
  "it's: ",
  '"q" ',
  'a\\b ',
  '#;$ ',
  'café ✓ ',
  '-A fake ',
  'exactly twenty-nine chars ok ',
  '[in] ',
  ' ',
];

const IFACES = ['eth0', 'eth1', 'wg0', 'br-lan', 'eth+', 'ppp0', 'lo'];

const CT_STATES = ['NEW', 'ESTABLISHED', 'RELATED', 'INVALID', 'ESTABLISHED,RELATED', 'NEW,UNTRACKED'];

const LIMIT_UNITS = ['second', 'minute', 'hour', 'day'];

// ---------------------------------------------------------------------------------------
// PRNG

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** integer in [lo, hi] */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from empty list');
    return xs[this.int(0, xs.length - 1)] as T;
  }
  /** weighted choice among [weight, value] pairs with weight > 0 */
  weighted<T>(choices: ReadonlyArray<readonly [number, T]>): T {
    const total = choices.reduce((s, [w]) => s + w, 0);
    let r = this.next() * total;
    for (const [w, v] of choices) {
      if (r < w) return v;
      r -= w;
    }
    const last = choices[choices.length - 1];
    if (!last) throw new Error('weighted choice from empty list');
    return last[1];
  }
}

// ---------------------------------------------------------------------------------------
// zsh quoting

const SAFE_WORD = /^[A-Za-z0-9_./:,=+@%-]+$/;

/** Quote one word for zsh: bare when safe, else single quotes with '\'' for a quote. */
export function zshQuote(word: string): string {
  if (word !== '' && SAFE_WORD.test(word)) return word;
  return "'" + word.replace(/'/g, "'\\''") + "'";
}

function cmdline(words: string[]): string {
  return words.map(zshQuote).join(' ');
}

// ---------------------------------------------------------------------------------------
// model helpers

function newFamily(family: Family): FamilyModel {
  const tables = new Map<TableName, Table>();
  for (const name of TABLE_NAMES) {
    const chains = new Map<string, Chain>();
    for (const c of BUILTINS[name]) chains.set(c, { builtin: true, rules: [] });
    tables.set(name, { name, chains });
  }
  return { family, tables };
}

function table(m: FamilyModel, name: TableName): Table {
  const t = m.tables.get(name);
  if (!t) throw new Error(`no table ${name}`);
  return t;
}

function chainOf(t: Table, name: string): Chain {
  const c = t.chains.get(name);
  if (!c) throw new Error(`no chain ${name} in ${t.name}`);
  return c;
}

function userChains(t: Table): string[] {
  return [...t.chains.entries()].filter(([, c]) => !c.builtin).map(([n]) => n);
}

function refersTo(r: Rule, chain: string): boolean {
  return (r.target.kind === 'jump' || r.target.kind === 'goto') && r.target.name === chain;
}

function referenceCount(t: Table, chain: string): number {
  let n = 0;
  for (const c of t.chains.values()) for (const r of c.rules) if (refersTo(r, chain)) n++;
  return n;
}

/** chains reachable from `from` by jumps/gotos (including `from`) */
function reachable(t: Table, from: string): Set<string> {
  const seen = new Set<string>([from]);
  const todo = [from];
  while (todo.length > 0) {
    const c = t.chains.get(todo.pop() as string);
    if (!c) continue;
    for (const r of c.rules) {
      if ((r.target.kind === 'jump' || r.target.kind === 'goto') && !seen.has(r.target.name)) {
        seen.add(r.target.name);
        todo.push(r.target.name);
      }
    }
  }
  return seen;
}

function ruleWords(r: Rule): string[] {
  const t = r.target;
  switch (t.kind) {
    case 'goto':
      return [...r.matches, '-g', t.name];
    case 'log':
      return [...r.matches, '-j', 'LOG', ...t.opts];
    case 'reject':
      return [...r.matches, '-j', 'REJECT', ...t.opts];
    default:
      return [...r.matches, '-j', t.name, ...t.opts];
  }
}

const LIMIT_UNIT_SECONDS: Record<string, number> = { second: 1, minute: 60, hour: 3600, day: 86400 };
const ICMP_NAMES: Record<string, string> = { 'echo-request': '8', 'echo-reply': '0', 'time-exceeded': '11' };
const ICMP6_NAMES: Record<string, string> = { 'echo-request': '128', 'neighbour-solicitation': '135', 'packet-too-big': '2' };
const LOG_LEVELS: Record<string, string> = { warning: '4', info: '6', debug: '7' };
const ALIASES: Record<string, string> = {
  '--source': '-s',
  '--src': '-s',
  '--destination': '-d',
  '--dst': '-d',
  '--in-interface': '-i',
  '--out-interface': '-o',
  '--protocol': '-p',
  '--match': '-m',
  '--destination-port': '--dport',
  '--source-port': '--sport',
  '--jump': '-j',
  '--goto': '-g',
};

/**
 * A key under which two rules compare equal exactly when the kernel sees the same rule
 * (for the spellings this generator uses): option aliases, explicit -m tcp/udp, /32 and
 * /128, ICMP type names, the default log level and reject type, the default limit burst
 * and equal limit rates (24/day is 1/hour) all collapse. -C and -D by spec compare
 * rules this way, so the model must too.
 */
function canonKey(fam: Family, r: Rule): string {
  const w = ruleWords(r);
  const out: string[] = [];
  let limitAt = -1;
  let burst = false;
  for (let i = 0; i < w.length; i++) {
    const tok = ALIASES[w[i] as string] ?? (w[i] as string);
    const val = w[i + 1] ?? '';
    switch (tok) {
      case '-s':
      case '-d':
        out.push(tok, val.includes('/') ? val : `${val}/${fam === 4 ? 32 : 128}`);
        i++;
        break;
      case '-p':
        out.push(tok, val === 'icmpv6' ? 'ipv6-icmp' : val);
        i++;
        break;
      case '-m':
        if (val !== 'tcp' && val !== 'udp') out.push(tok, val);
        i++;
        break;
      case '--icmp-type':
        out.push(tok, ICMP_NAMES[val] ?? val);
        i++;
        break;
      case '--icmpv6-type':
        out.push(tok, ICMP6_NAMES[val] ?? val);
        i++;
        break;
      case '--limit': {
        const [n, unit] = val.split('/');
        limitAt = out.length;
        out.push(`--limit=${Math.floor((10000 * (LIMIT_UNIT_SECONDS[unit ?? ''] ?? 1)) / Number(n))}`);
        i++;
        break;
      }
      case '--limit-burst':
        burst = true;
        out.push(`--limit-burst=${val}`);
        i++;
        break;
      case '--log-level': {
        const level = LOG_LEVELS[val] ?? val;
        if (level !== '4') out.push(tok, level);
        i++;
        break;
      }
      default:
        out.push(tok);
    }
  }
  if (limitAt >= 0 && !burst) out.splice(limitAt + 1, 0, '--limit-burst=5');
  if (r.target.kind === 'reject' && !r.target.opts.includes('--reject-with'))
    out.push('--reject-with', fam === 4 ? 'icmp-port-unreachable' : 'icmp6-port-unreachable');
  return JSON.stringify(out);
}

// ---------------------------------------------------------------------------------------
// the generator

class Generator {
  private readonly rng: Rng;
  private readonly fams: Record<Family, FamilyModel>;
  private chainCounter = 0;
  /** user-visible "files" being built, the current one is the last */
  private readonly files: Array<{ name: string; lines: string[] }> = [];
  private helpersDefined = false;

  constructor(seed: number) {
    this.rng = new Rng(seed);
    this.fams = { 4: newFamily(4), 6: newFamily(6) };
  }

  run(): Record<string, string> {
    const rng = this.rng;
    const nFiles = rng.int(2, 4);
    const stems = ['vars', 'base', 'chains', 'filter', 'nat', 'mangle', 'edits', 'v6', 'misc', 'tail'];
    const used = new Set<string>();
    for (let i = 0; i < nFiles; i++) {
      let stem = rng.pick(stems);
      while (used.has(stem)) stem = rng.pick(stems);
      used.add(stem);
      const name = `${String(i * 10).padStart(2, '0')}-${stem}`;
      this.files.push({ name, lines: [`# generated oracle case, file ${i + 1} of ${nFiles}`] });
      if (i === 0 && rng.chance(0.6)) this.defineHelpers();
      const nCmds = rng.int(8, 30);
      for (let k = 0; k < nCmds; k++) this.step();
    }
    const out: Record<string, string> = {};
    for (const f of this.files) out[f.name] = f.lines.join('\n') + '\n';
    return out;
  }

  // --- emission -----------------------------------------------------------------------

  private emit(line: string): void {
    const f = this.files[this.files.length - 1];
    if (!f) throw new Error('no file');
    f.lines.push(line);
  }

  /** the command word for a family: plain, or through the helpers defined in file 1 */
  private tool(fam: Family): string {
    if (this.helpersDefined && this.rng.chance(0.25)) return fam === 4 ? 'fw4' : 'fw6';
    return fam === 4 ? 'iptables' : 'ip6tables';
  }

  private defineHelpers(): void {
    this.helpersDefined = true;
    this.emit('# helpers used by later files');
    this.emit('fw4() {');
    this.emit('  iptables "$@"');
    this.emit('}');
    this.emit('fw6() {');
    this.emit('  ip6tables "$@"');
    this.emit('}');
  }

  /** -t placement: absent for filter sometimes, short, long, attached, or after the spec */
  private tableWords(t: TableName): { before: string[]; after: string[] } {
    const rng = this.rng;
    if (t === 'filter' && rng.chance(0.7)) return { before: [], after: [] };
    const style = rng.int(0, 4);
    switch (style) {
      case 0:
        return { before: ['-t', t], after: [] };
      case 1:
        return { before: [`--table=${t}`], after: [] };
      case 2:
        return { before: [`-t${t}`], after: [] };
      case 3:
        return { before: ['--table', t], after: [] };
      default:
        return { before: [], after: ['-t', t] };
    }
  }

  private command(fam: Family, t: TableName, cmd: string[], spec: string[] = []): string {
    const tw = this.tableWords(t);
    const extra: string[] = [];
    if (this.rng.chance(0.05)) extra.push('-w');
    if (this.rng.chance(0.03)) extra.push(fam === 4 ? '-4' : '-6');
    return cmdline([this.tool(fam), ...extra, ...tw.before, ...cmd, ...spec, ...tw.after]);
  }

  // --- random pieces --------------------------------------------------------------------

  private addr(fam: Family): string {
    const rng = this.rng;
    if (fam === 4) {
      const len = rng.pick([8, 16, 24, 32]);
      const o = [rng.int(1, 223), rng.int(0, 255), rng.int(0, 255), rng.int(1, 254)];
      // zero host bits so that no two spellings denote the same network
      const bytes = o.map((v, i) => (i * 8 >= len ? 0 : v));
      const a = bytes.join('.');
      return len === 32 && rng.chance(0.5) ? a : `${a}/${len}`;
    }
    const len = rng.pick([32, 48, 64, 128]);
    const groups = [0x2001, 0xdb8, rng.int(0, 0xffff), rng.int(0, 0xffff), 0, 0, 0, rng.int(1, 0xffff)];
    const keep = len / 16;
    const g = groups.map((v, i) => (i >= keep ? 0 : v));
    // canonical-ish text: drop trailing zero groups into "::"
    let last = g.length;
    while (last > 0 && g[last - 1] === 0) last--;
    const head = g.slice(0, last).map((v) => v.toString(16));
    const text = last === g.length ? head.join(':') : `${head.join(':')}::`;
    return len === 128 ? text : `${text}/${len}`;
  }

  private port(): string {
    const rng = this.rng;
    if (rng.chance(0.2)) {
      const a = rng.int(1, 60000);
      return `${a}:${a + rng.int(1, 500)}`;
    }
    return String(rng.pick([22, 25, 53, 80, 123, 443, 587, 993, 1194, 3128, 5432, 8080, 8443, rng.int(1024, 65535)]));
  }

  private matches(fam: Family, chain: string, builtin: boolean): string[] {
    const rng = this.rng;
    const m: string[] = [];
    if (rng.chance(0.4)) {
      if (rng.chance(0.15)) m.push('!');
      m.push(rng.pick(['-s', '--source', '--src']), this.addr(fam));
    }
    if (rng.chance(0.25)) {
      if (rng.chance(0.1)) m.push('!');
      m.push(rng.pick(['-d', '--destination']), this.addr(fam));
    }
    if (builtin && IN_OK.has(chain) && rng.chance(0.25)) {
      if (rng.chance(0.1)) m.push('!');
      m.push(rng.pick(['-i', '--in-interface']), rng.pick(IFACES));
    }
    if (builtin && OUT_OK.has(chain) && rng.chance(0.25)) {
      m.push(rng.pick(['-o', '--out-interface']), rng.pick(IFACES));
    }
    const protoRoll = rng.int(0, 9);
    if (protoRoll < 4) {
      const proto = rng.pick(['tcp', 'udp']);
      m.push(rng.pick(['-p', '--protocol']), proto);
      if (rng.chance(0.2)) m.push('-m', proto);
      if (rng.chance(0.7)) {
        if (rng.chance(0.1)) m.push('!');
        m.push(rng.pick(['--dport', '--destination-port']), this.port());
      }
      if (rng.chance(0.2)) m.push('--sport', this.port());
    } else if (protoRoll < 5) {
      const proto = rng.pick(['tcp', 'udp']);
      const n = rng.int(2, 5);
      const ports = new Set<number>();
      while (ports.size < n) ports.add(rng.int(1, 9999));
      m.push('-p', proto, rng.pick(['-m', '--match']), 'multiport', '--dports', [...ports].join(','));
    } else if (protoRoll < 6) {
      if (fam === 4) {
        m.push('-p', 'icmp');
        if (rng.chance(0.6)) m.push('--icmp-type', rng.pick(['echo-request', 'echo-reply', '8', '3/4', 'time-exceeded']));
      } else {
        m.push('-p', rng.pick(['ipv6-icmp', 'icmpv6']));
        if (rng.chance(0.6)) m.push('--icmpv6-type', rng.pick(['echo-request', 'neighbour-solicitation', '135', 'packet-too-big', '1/4']));
      }
    }
    if (rng.chance(0.3)) {
      if (rng.chance(0.2)) m.push('-m', 'state', '--state', rng.pick(CT_STATES));
      else {
        m.push('-m', 'conntrack');
        if (rng.chance(0.15)) m.push('!');
        m.push('--ctstate', rng.pick(CT_STATES));
      }
    }
    if (rng.chance(0.15)) {
      m.push('-m', 'limit', '--limit', `${rng.int(1, 50)}/${rng.pick(LIMIT_UNITS)}`);
      if (rng.chance(0.5)) m.push('--limit-burst', String(rng.int(1, 20)));
    }
    if (rng.chance(0.3)) m.push('-m', 'comment', '--comment', rng.pick(COMMENTS));
    return m;
  }

  private target(fam: Family, t: Table, chain: string): Target {
    const rng = this.rng;
    const choices: Array<readonly [number, () => Target]> = [];
    const verdict = (name: string) => (): Target => ({ kind: 'verdict', name, opts: [] });
    choices.push([4, verdict('ACCEPT')]);
    if (t.name !== 'nat') choices.push([3, verdict('DROP')]);
    choices.push([1, verdict('RETURN')]);
    if (t.name === 'filter') {
      choices.push([
        2,
        (): Target => {
          const opts: string[] = [];
          if (rng.chance(0.5))
            opts.push(
              '--reject-with',
              fam === 4
                ? rng.pick(['icmp-port-unreachable', 'icmp-host-prohibited', 'icmp-admin-prohibited'])
                : rng.pick(['icmp6-port-unreachable', 'icmp6-adm-prohibited', 'icmp6-no-route']),
            );
          return { kind: 'reject', name: 'REJECT', opts };
        },
      ]);
    }
    choices.push([
      2,
      (): Target => {
        const opts: string[] = [];
        if (rng.chance(0.8)) opts.push('--log-prefix', rng.pick(LOG_PREFIXES));
        if (rng.chance(0.3)) opts.push('--log-level', rng.pick(['info', 'warning', 'debug', '4', '6']));
        return { kind: 'log', name: 'LOG', opts };
      },
    ]);
    // jumps and gotos to user chains that cannot reach `chain` (no loops)
    const targets = userChains(t).filter((u) => u !== chain && !reachable(t, u).has(chain));
    if (targets.length > 0) {
      choices.push([4, (): Target => ({ kind: 'jump', name: rng.pick(targets), opts: [] })]);
      choices.push([1, (): Target => ({ kind: 'goto', name: rng.pick(targets), opts: [] })]);
    }
    return rng.weighted(choices)();
  }

  private rule(fam: Family, t: Table, chain: string): Rule {
    const c = chainOf(t, chain);
    return { matches: this.matches(fam, chain, c.builtin), target: this.target(fam, t, chain) };
  }

  private newChainName(t: Table): string {
    for (;;) {
      this.chainCounter++;
      const word = this.rng.pick(CHAIN_WORDS);
      const name = `${word}_${this.chainCounter}`.slice(0, 28);
      if (!t.chains.has(name)) return name;
    }
  }

  // --- one random step --------------------------------------------------------------

  private step(): void {
    const rng = this.rng;
    const fam: Family = rng.chance(0.6) ? 4 : 6;
    const model = this.fams[fam];
    const tname: TableName = rng.weighted<TableName>([
      [10, 'filter'],
      [3, 'nat'],
      [3, 'mangle'],
      [2, 'raw'],
      [1, 'security'],
    ]);
    const t = table(model, tname);
    const chains = [...t.chains.keys()];
    const withRules = chains.filter((c) => chainOf(t, c).rules.length > 0);
    const users = userChains(t);
    const deletableUsers = users.filter((u) => chainOf(t, u).rules.length === 0 && referenceCount(t, u) === 0);
    const allUsersDeletable = users.length > 0 && deletableUsers.length === users.length;

    type Op =
      | 'append'
      | 'insert'
      | 'newchain'
      | 'deleteIndex'
      | 'deleteSpec'
      | 'replace'
      | 'rename'
      | 'flushChain'
      | 'flushAll'
      | 'deleteChain'
      | 'deleteAll'
      | 'policy'
      | 'checkAppend'
      | 'checkMissing'
      | 'loop'
      | 'host';
    const ops: Array<readonly [number, Op]> = [
      [10, 'append'],
      [4, 'insert'],
      [users.length < 6 ? 3 : 0, 'newchain'],
      [withRules.length > 0 ? 2 : 0, 'deleteIndex'],
      [withRules.length > 0 ? 2 : 0, 'deleteSpec'],
      [withRules.length > 0 ? 2 : 0, 'replace'],
      [users.length > 0 ? 1 : 0, 'rename'],
      [withRules.length > 0 ? 1 : 0, 'flushChain'],
      [withRules.length > 0 ? 0.3 : 0, 'flushAll'],
      [deletableUsers.length > 0 ? 1 : 0, 'deleteChain'],
      [allUsersDeletable ? 0.5 : 0, 'deleteAll'],
      [1, 'policy'],
      [1, 'checkAppend'],
      [0.5, 'checkMissing'],
      [1, 'loop'],
      [0.2, 'host'],
    ];
    const op = rng.weighted(ops.filter(([w]) => w > 0));

    switch (op) {
      case 'append': {
        const chain = rng.pick(chains);
        const r = this.rule(fam, t, chain);
        this.emit(this.command(fam, tname, [rng.pick(['-A', '--append']), chain], ruleWords(r)));
        chainOf(t, chain).rules.push(r);
        break;
      }
      case 'insert': {
        const chain = rng.pick(chains);
        const c = chainOf(t, chain);
        const r = this.rule(fam, t, chain);
        if (rng.chance(0.4)) {
          this.emit(this.command(fam, tname, [rng.pick(['-I', '--insert']), chain], ruleWords(r)));
          c.rules.unshift(r);
        } else {
          const idx = rng.int(1, c.rules.length + 1);
          this.emit(this.command(fam, tname, [rng.pick(['-I', '--insert']), chain, String(idx)], ruleWords(r)));
          c.rules.splice(idx - 1, 0, r);
        }
        break;
      }
      case 'newchain': {
        const name = this.newChainName(t);
        this.emit(this.command(fam, tname, [rng.pick(['-N', '--new-chain']), name]));
        t.chains.set(name, { builtin: false, rules: [] });
        // usually hook it in right away
        if (rng.chance(0.7)) {
          const from = rng.pick([...t.chains.keys()].filter((c) => c !== name));
          const r: Rule = { matches: this.matches(fam, from, chainOf(t, from).builtin), target: { kind: 'jump', name, opts: [] } };
          this.emit(this.command(fam, tname, ['-A', from], ruleWords(r)));
          chainOf(t, from).rules.push(r);
        }
        break;
      }
      case 'deleteIndex': {
        const chain = rng.pick(withRules);
        const c = chainOf(t, chain);
        const idx = rng.int(1, c.rules.length);
        this.emit(this.command(fam, tname, [rng.pick(['-D', '--delete']), chain, String(idx)]));
        c.rules.splice(idx - 1, 1);
        break;
      }
      case 'deleteSpec': {
        const chain = rng.pick(withRules);
        const c = chainOf(t, chain);
        const victim = rng.pick(c.rules);
        const key = canonKey(fam, victim);
        this.emit(this.command(fam, tname, [rng.pick(['-D', '--delete']), chain], ruleWords(victim)));
        const at = c.rules.findIndex((r) => canonKey(fam, r) === key);
        c.rules.splice(at, 1);
        break;
      }
      case 'replace': {
        const chain = rng.pick(withRules);
        const c = chainOf(t, chain);
        const idx = rng.int(1, c.rules.length);
        // the replaced rule's own jump no longer counts for loop detection
        const old = c.rules[idx - 1] as Rule;
        c.rules.splice(idx - 1, 1);
        const r = this.rule(fam, t, chain);
        c.rules.splice(idx - 1, 0, old);
        this.emit(this.command(fam, tname, [rng.pick(['-R', '--replace']), chain, String(idx)], ruleWords(r)));
        c.rules[idx - 1] = r;
        break;
      }
      case 'rename': {
        const from = rng.pick(users);
        const to = this.newChainName(t);
        this.emit(this.command(fam, tname, [rng.pick(['-E', '--rename-chain']), from, to]));
        const c = chainOf(t, from);
        t.chains.delete(from);
        t.chains.set(to, c);
        for (const ch of t.chains.values()) for (const r of ch.rules) if (refersTo(r, from)) r.target = { ...r.target, name: to };
        break;
      }
      case 'flushChain': {
        const chain = rng.pick(withRules);
        this.emit(this.command(fam, tname, [rng.pick(['-F', '--flush']), chain]));
        chainOf(t, chain).rules = [];
        break;
      }
      case 'flushAll': {
        this.emit(this.command(fam, tname, [rng.pick(['-F', '--flush'])]));
        for (const c of t.chains.values()) c.rules = [];
        break;
      }
      case 'deleteChain': {
        const chain = rng.pick(deletableUsers);
        this.emit(this.command(fam, tname, [rng.pick(['-X', '--delete-chain']), chain]));
        t.chains.delete(chain);
        break;
      }
      case 'deleteAll': {
        this.emit(this.command(fam, tname, ['-X']));
        for (const u of users) t.chains.delete(u);
        break;
      }
      case 'policy': {
        const chain = rng.pick(BUILTINS[tname]);
        const pol = tname === 'nat' ? 'ACCEPT' : rng.pick(['ACCEPT', 'DROP', 'DROP']);
        this.emit(this.command(fam, tname, [rng.pick(['-P', '--policy']), chain, pol]));
        break;
      }
      case 'checkAppend': {
        // iptables -C CHAIN spec || iptables -A CHAIN spec, spelled identically
        const chain = rng.pick(chains);
        const c = chainOf(t, chain);
        const r = rng.chance(0.4) && c.rules.length > 0 ? rng.pick(c.rules) : this.rule(fam, t, chain);
        const key = canonKey(fam, r);
        const exists = c.rules.some((x) => canonKey(fam, x) === key);
        const tool = fam === 4 ? 'iptables' : 'ip6tables';
        const tw = tname === 'filter' ? [] : ['-t', tname];
        this.emit(`${cmdline([tool, ...tw, '-C', chain, ...ruleWords(r)])} || ${cmdline([tool, ...tw, '-A', chain, ...ruleWords(r)])}`);
        if (!exists) c.rules.push({ matches: [...r.matches], target: { ...r.target } });
        break;
      }
      case 'checkMissing': {
        // -C of a rule that is not there, inside an if
        const chain = rng.pick(chains);
        const c = chainOf(t, chain);
        const r = this.rule(fam, t, chain);
        const key = canonKey(fam, r);
        const exists = c.rules.some((x) => canonKey(fam, x) === key);
        const tool = fam === 4 ? 'iptables' : 'ip6tables';
        const tw = tname === 'filter' ? [] : ['-t', tname];
        const other: Rule = {
          matches: ['-m', 'comment', '--comment', exists ? 'was present' : 'was missing'],
          target: { kind: 'verdict', name: 'ACCEPT', opts: [] },
        };
        this.emit(`if ${cmdline([tool, ...tw, '-C', chain, ...ruleWords(r)])}; then`);
        if (exists) {
          this.emit(`  ${cmdline([tool, ...tw, '-A', chain, ...ruleWords(other)])}`);
          c.rules.push(other);
        } else {
          this.emit('  :');
        }
        this.emit('else');
        if (!exists) {
          this.emit(`  ${cmdline([tool, ...tw, '-A', chain, ...ruleWords(other)])}`);
          c.rules.push(other);
        } else {
          this.emit('  :');
        }
        this.emit('fi');
        break;
      }
      case 'loop': {
        // for p in P1 P2 ...; do iptables -A CHAIN -p tcp --dport $p -j ACCEPT; done
        const chain = rng.pick(chains);
        const c = chainOf(t, chain);
        const proto = rng.pick(['tcp', 'udp']);
        const n = rng.int(2, 5);
        const ports = new Set<number>();
        while (ports.size < n) ports.add(rng.int(1, 65535));
        const verdict = tname === 'nat' ? 'ACCEPT' : rng.pick(['ACCEPT', 'DROP']);
        const tool = fam === 4 ? 'iptables' : 'ip6tables';
        const tw = tname === 'filter' ? '' : ` -t ${tname}`;
        this.emit(`for p in ${[...ports].join(' ')}; do`);
        this.emit(`  ${tool}${tw} -A ${zshQuote(chain)} -p ${proto} --dport $p -j ${verdict}`);
        this.emit('done');
        for (const p of ports)
          c.rules.push({ matches: ['-p', proto, '--dport', String(p)], target: { kind: 'verdict', name: verdict, opts: [] } });
        break;
      }
      case 'host': {
        this.emit(
          rng.pick([
            'main sysctl -w net.ipv4.ip_forward=1',
            'main sysctl -w net.ipv6.conf.all.forwarding=1',
            'main ip link set dev eth1 up',
          ]),
        );
        break;
      }
    }
  }
}

/** 2..4 rule files of random valid commands, deterministic per seed. */
export function generateCase(seed: number): Record<string, string> {
  return new Generator(seed).run();
}
