// The bench's rule directory generator. Realistic shape: 00-vars (zsh arrays of addresses),
// 05-helpers (a helper function), then files whose loops call iptables/ip6tables -A (and a few -I)
// across the filter and nat tables, with 20 user chains made with -N, ports, addresses, comments,
// conntrack, multiport, limit, LOG, DNAT, SNAT. About 80% of the rules are IPv4. Exactly N
// rule-adding calls (-A/-I) in total; -N and -P calls and `main` host commands are not counted.
// Variants (GenerateOptions) write the same rules with other calls, or change a few of them.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The fewest rules the fixed part of the generated files leaves room for. */
export const MIN_RULES = 200;

/** A generated rule directory: its files in order, and how many rules of each family they add. */
export interface Generated {
  files: Array<[name: string, text: string]>;
  v4: number;
  v6: number;
}

/** The address OFFSET after BASE (dotted quad). */
export function ip4(base: string, offset: number): string {
  const parts = base.split('.').map(Number);
  let x = (((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) >>> 0;
  x = (x + offset) >>> 0;
  return `${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`;
}

const hex = (n: number): string => n.toString(16);

/** i-th IPv6 host (i from 0) under PREFIX (three groups, e.g. "2001:db8:10"). */
function ip6host(prefix: string, i: number): string {
  return `${prefix}:${hex(Math.floor(i / 65535))}::${hex((i % 65535) + 1)}`;
}

/** i-th /64 (i from 0) under PREFIX (two groups + high bits of the third, e.g. "2001:db8", 0x300). */
function ip6net(prefix: string, third: number, i: number): string {
  return `${prefix}:${hex(third + Math.floor(i / 65536))}:${hex(i % 65536)}::/64`;
}

/** A zsh array assignment, eight items a line. */
function zshArray(name: string, items: string[]): string {
  const lines: string[] = [];
  for (let i = 0; i < items.length; i += 8) lines.push('  ' + items.slice(i, i + 8).join(' '));
  return `${name}=(\n${lines.join('\n')}\n)\n`;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

const WEB_PORTS = ['80', '443', '8080', '8443'];
const MAIL_PORTS = ['25', '465', '587'];

/** How many rules of each kind make n: the fixed part, and the length of every address array. */
interface Plan {
  v4: number;
  v6: number;
  web4: number;
  ssh4: number;
  mail4: number;
  dns4: number;
  db4: number;
  mon4: number;
  dmz4: number;
  lan4: number;
  block4: number;
  web6: number;
  ssh6: number;
  lan6: number;
  block6: number;
}

function plan(n: number): Plan {
  const n4 = Math.round(n * 0.8);
  const n6 = n - n4;
  // Fixed rule-adding calls, counted by hand next to the text that makes them (10-base, 15-chains,
  // 20-icmp, 35-mail, 90-final); the total is checked against a zsh run of the files anyway.
  const fixed4 = 5 /* 10-base */ + 14 /* 15-chains */ + 5 /* 20-icmp */ + 4 /* 35-mail */ + 4; /* 90-final */
  const fixed6 = 5 /* 10-base */ + 5 /* 15-chains */ + 9 /* 20-icmp */ + 4; /* 90-final */
  const bulk4 = n4 - fixed4;
  const bulk6 = n6 - fixed6;
  // Loops: outer array length = floor(weight * bulk / calls per element); the blocklists take the rest.
  const outer = (bulk: number, weight: number, per: number): number => Math.max(1, Math.floor((bulk * weight) / per));
  const web4 = outer(bulk4, 0.3, WEB_PORTS.length);
  const ssh4 = outer(bulk4, 0.04, 1);
  const mail4 = outer(bulk4, 0.09, MAIL_PORTS.length);
  const dns4 = outer(bulk4, 0.08, 2);
  const db4 = outer(bulk4, 0.07, 2);
  const mon4 = outer(bulk4, 0.04, 2);
  const dmz4 = outer(bulk4, 0.12, 2 * WEB_PORTS.length);
  const lan4 = outer(bulk4, 0.08, WEB_PORTS.length + 1);
  const block4 =
    bulk4 - (web4 * 4 + ssh4 + mail4 * MAIL_PORTS.length + dns4 * 2 + db4 * 2 + mon4 * 2 + dmz4 * 8 + lan4 * (WEB_PORTS.length + 1));
  const web6 = outer(bulk6, 0.45, WEB_PORTS.length);
  const ssh6 = outer(bulk6, 0.06, 1);
  const lan6 = outer(bulk6, 0.2, WEB_PORTS.length);
  const block6 = bulk6 - (web6 * WEB_PORTS.length + ssh6 + lan6 * WEB_PORTS.length);
  if (block4 < 1 || block6 < 1) throw new Error(`generateRules: ${n} rules is too few for the fixed part`);
  const v4 = fixed4 + bulk4;
  const v6 = fixed6 + bulk6;
  return { v4, v6, web4, ssh4, mail4, dns4, db4, mon4, dmz4, lan4, block4, web6, ssh6, lan6, block6 };
}

/** The address arrays of 00-vars, in order: the only part of the files whose text depends on n. */
export type Arrays = Array<[name: string, items: string[]]>;

function arrays(p: Plan): Arrays {
  return [
    ['admin_nets4', range(p.ssh4).map((i) => `${ip4('10.200.0.0', i * 256)}/24`)],
    ['web_clients4', range(p.web4).map((i) => ip4('172.16.0.1', i))],
    ['mail_peers4', range(p.mail4).map((i) => ip4('198.18.0.1', i))],
    ['dns_clients4', range(p.dns4).map((i) => ip4('10.64.0.1', i))],
    ['db_clients4', range(p.db4).map((i) => ip4('10.96.0.1', i))],
    ['mon_hosts4', range(p.mon4).map((i) => ip4('10.250.0.1', i))],
    ['pub_addrs4', range(p.dmz4).map((i) => ip4('100.100.0.1', i))],
    ['backends4', range(p.dmz4).map((i) => ip4('10.128.0.1', i))],
    ['lan_nets4', range(p.lan4).map((i) => `${ip4('10.0.0.0', i * 256)}/24`)],
    ['blocklist4', range(p.block4).map((i) => `${ip4('100.64.0.0', i * 16)}/28`)],
    ['web_clients6', range(p.web6).map((i) => ip6host('2001:db8:10', i))],
    ['admin_nets6', range(p.ssh6).map((i) => ip6net('2001:db8', 0x200, i))],
    ['lan_nets6', range(p.lan6).map((i) => ip6net('2001:db8', 0x300, i))],
    ['blocklist6', range(p.block6).map((i) => ip6net('2001:db8', 0x8000, i))],
  ];
}

/** 00-vars: interfaces, ports, then the address arrays. */
function varsFile(a: Arrays, calls: Calls): string {
  return (
    'wan_if=eth0\nlan_if=eth1\ndmz_if=eth2\n' +
    `web_ports=(${WEB_PORTS.join(' ')})\nmail_ports=(${MAIL_PORTS.join(' ')})\n` +
    'db_ports=(5432 3306)\nmon_ports=(9100 9090)\ndns_protos=(udp tcp)\n' +
    'mon_net4=10.250.0.0/16\nsnat_addr4=198.51.100.1\nmail_backend4=10.128.255.25\n' +
    'dmz_net6=2001:db8:ffff::/64\n\n' +
    (calls === 'variables' ? '# the commands, as many admins name them once\nIPT=iptables\nIP6T=ip6tables\ncmd=iptables\n\n' : '') +
    a.map(([name, items]) => zshArray(name, items)).join('')
  );
}

/** Every file after 00-vars: name, what it holds (for its header), text. */
const FIXED_FILES: Array<[name: string, what: string, body: string]> = [
  [
    '05-helpers',
    'helper functions',
    '# allow_in CMD CHAIN PROTO PORT SOURCE\n' +
      '#   accept new connections to PROTO/PORT from SOURCE in CHAIN; CMD is iptables or ip6tables\n' +
      'allow_in() {\n' +
      '  local cmd=$1 chain=$2 proto=$3 port=$4 src=$5\n' +
      '  $cmd -A $chain -p $proto -s $src --dport $port -m conntrack --ctstate NEW \\\n' +
      '    -m comment --comment "$chain $proto/$port" -j ACCEPT\n' +
      '}\n',
  ],
  [
    '10-base',
    'policies and stateful basics, both families',
    'for ipt in iptables ip6tables; do\n' +
      '  $ipt -P INPUT DROP\n' +
      '  $ipt -P FORWARD DROP\n' +
      '  $ipt -P OUTPUT ACCEPT\n' +
      '  $ipt -A INPUT -i lo -j ACCEPT\n' +
      '  $ipt -A INPUT -m conntrack --ctstate INVALID -j DROP\n' +
      '  $ipt -I INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n' +
      '  $ipt -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n' +
      '  $ipt -A OUTPUT -o lo -j ACCEPT\n' +
      'done\n\n' +
      'main sysctl -q -w net.ipv4.ip_forward=1\n' +
      'main sysctl -q -w net.ipv6.conf.all.forwarding=1\n',
  ],
  [
    '15-chains',
    'user chains and the jumps into them',
    'for chain in WEB_IN SSH_IN MAIL_IN DNS_IN DB_IN MON_IN ICMP_IN BLOCKLIST FWD_LAN FWD_DMZ LOG_DROP; do\n' +
      '  iptables -N $chain\n' +
      'done\n' +
      'for chain in WEB6_IN SSH6_IN ICMP6_IN BLOCK6 FWD6_LAN LOG6_DROP; do\n' +
      '  ip6tables -N $chain\n' +
      'done\n' +
      'iptables -t nat -N DNAT_WEB\n' +
      'iptables -t nat -N DNAT_MAIL\n' +
      'iptables -t nat -N SNAT_LAN\n\n' +
      'iptables -A INPUT -j BLOCKLIST\n' +
      'iptables -A INPUT -p icmp -j ICMP_IN\n' +
      'iptables -A INPUT -p tcp -m multiport --dports ${(j:,:)web_ports} -j WEB_IN\n' +
      'iptables -A INPUT -p tcp --dport 22 -j SSH_IN\n' +
      'iptables -A INPUT -p tcp -m multiport --dports ${(j:,:)mail_ports} -j MAIL_IN\n' +
      'for proto in $dns_protos; do\n' +
      '  iptables -A INPUT -p $proto --dport 53 -j DNS_IN\n' +
      'done\n' +
      'iptables -A INPUT -p tcp -m multiport --dports ${(j:,:)db_ports} -j DB_IN\n' +
      'iptables -A INPUT -s $mon_net4 -p tcp -m multiport --dports ${(j:,:)mon_ports} -j MON_IN\n' +
      'iptables -A FORWARD -i $lan_if -o $wan_if -j FWD_LAN\n' +
      'iptables -A FORWARD -i $wan_if -o $dmz_if -j FWD_DMZ\n' +
      'iptables -t nat -A PREROUTING -i $wan_if -p tcp -m multiport --dports ${(j:,:)web_ports} -j DNAT_WEB\n' +
      'iptables -t nat -A PREROUTING -i $wan_if -p tcp -m multiport --dports ${(j:,:)mail_ports} -j DNAT_MAIL\n' +
      'iptables -t nat -A POSTROUTING -o $wan_if -j SNAT_LAN\n\n' +
      'ip6tables -A INPUT -j BLOCK6\n' +
      'ip6tables -A INPUT -p ipv6-icmp -j ICMP6_IN\n' +
      'ip6tables -A INPUT -p tcp -m multiport --dports ${(j:,:)web_ports} -j WEB6_IN\n' +
      'ip6tables -A INPUT -p tcp --dport 22 -j SSH6_IN\n' +
      'ip6tables -A FORWARD -i $lan_if -o $wan_if -j FWD6_LAN\n',
  ],
  [
    '20-icmp',
    'ICMP and ICMPv6',
    'for type in echo-request destination-unreachable time-exceeded parameter-problem; do\n' +
      '  iptables -A ICMP_IN -p icmp --icmp-type $type -m limit --limit 20/second --limit-burst 40 -j ACCEPT\n' +
      'done\n' +
      'iptables -A ICMP_IN -p icmp -j DROP\n\n' +
      'for type in echo-request destination-unreachable packet-too-big time-exceeded parameter-problem \\\n' +
      '    neighbour-solicitation neighbour-advertisement router-advertisement; do\n' +
      '  ip6tables -A ICMP6_IN -p ipv6-icmp --icmpv6-type $type -j ACCEPT\n' +
      'done\n' +
      'ip6tables -A ICMP6_IN -p ipv6-icmp -j DROP\n',
  ],
  [
    '30-web',
    'web clients',
    'for src in $web_clients4; do\n' +
      '  for port in $web_ports; do\n' +
      '    allow_in iptables WEB_IN tcp $port $src\n' +
      '  done\n' +
      'done\n',
  ],
  [
    '35-mail',
    'mail relay peers, published mail server',
    'for src in $mail_peers4; do\n' +
      '  for port in $mail_ports; do\n' +
      '    allow_in iptables MAIL_IN tcp $port $src\n' +
      '  done\n' +
      'done\n' +
      'for port in $mail_ports; do\n' +
      '  iptables -t nat -A DNAT_MAIL -p tcp --dport $port -j DNAT --to-destination ${mail_backend4}:${port}\n' +
      'done\n' +
      'iptables -A FWD_DMZ -d $mail_backend4 -p tcp -m multiport --dports ${(j:,:)mail_ports} -m conntrack --ctstate NEW -j ACCEPT\n',
  ],
  [
    '40-dns',
    'resolver clients',
    'for src in $dns_clients4; do\n' +
      '  for proto in $dns_protos; do\n' +
      '    allow_in iptables DNS_IN $proto 53 $src\n' +
      '  done\n' +
      'done\n',
  ],
  [
    '45-db',
    'database clients',
    'for src in $db_clients4; do\n' +
      '  for port in $db_ports; do\n' +
      '    allow_in iptables DB_IN tcp $port $src\n' +
      '  done\n' +
      'done\n',
  ],
  [
    '50-mon',
    'monitoring scrapers',
    'for src in $mon_hosts4; do\n' +
      '  for port in $mon_ports; do\n' +
      '    allow_in iptables MON_IN tcp $port $src\n' +
      '  done\n' +
      'done\n',
  ],
  ['55-ssh', 'administration networks', 'for net in $admin_nets4; do\n  allow_in iptables SSH_IN tcp 22 $net\ndone\n'],
  [
    '60-dmz',
    'published web backends: DNAT and forwarding',
    'for i in {1..$#pub_addrs4}; do\n' +
      '  for port in $web_ports; do\n' +
      '    iptables -t nat -A DNAT_WEB -d $pub_addrs4[i] -p tcp --dport $port \\\n' +
      '      -m comment --comment "publish ${backends4[i]}:${port}" -j DNAT --to-destination ${backends4[i]}:${port}\n' +
      '    iptables -A FWD_DMZ -d $backends4[i] -p tcp --dport $port -m conntrack --ctstate NEW -j ACCEPT\n' +
      '  done\n' +
      'done\n',
  ],
  [
    '65-lan',
    'LAN networks: forwarding and source NAT',
    'for net in $lan_nets4; do\n' +
      '  for port in $web_ports; do\n' +
      '    iptables -A FWD_LAN -s $net -p tcp --dport $port -m conntrack --ctstate NEW -j ACCEPT\n' +
      '  done\n' +
      '  iptables -t nat -A SNAT_LAN -s $net -o $wan_if -j SNAT --to-source $snat_addr4\n' +
      'done\n',
  ],
  [
    '70-blocklist',
    'blocked networks',
    'for net in $blocklist4; do\n' + '  iptables -A BLOCKLIST -s $net -m comment --comment "blocklist $net" -j DROP\n' + 'done\n',
  ],
  [
    '80-ipv6',
    'IPv6 services, forwarding and blocklist',
    'for src in $web_clients6; do\n' +
      '  for port in $web_ports; do\n' +
      '    allow_in ip6tables WEB6_IN tcp $port $src\n' +
      '  done\n' +
      'done\n' +
      'for net in $admin_nets6; do\n' +
      '  allow_in ip6tables SSH6_IN tcp 22 $net\n' +
      'done\n' +
      'for net in $lan_nets6; do\n' +
      '  for port in $web_ports; do\n' +
      '    ip6tables -A FWD6_LAN -s $net -d $dmz_net6 -p tcp --dport $port -m conntrack --ctstate NEW -j ACCEPT\n' +
      '  done\n' +
      'done\n' +
      'for net in $blocklist6; do\n' +
      '  ip6tables -A BLOCK6 -s $net -m comment --comment "blocklist $net" -j DROP\n' +
      'done\n',
  ],
  [
    '90-final',
    'log and drop the rest',
    'iptables -A LOG_DROP -m limit --limit 5/min --limit-burst 10 -j LOG --log-prefix "nfgit drop: " --log-level 4\n' +
      'iptables -A LOG_DROP -j DROP\n' +
      'ip6tables -A LOG6_DROP -m limit --limit 5/min --limit-burst 10 -j LOG --log-prefix "nfgit drop6: " --log-level 4\n' +
      'ip6tables -A LOG6_DROP -j DROP\n' +
      'iptables -A INPUT -j LOG_DROP\n' +
      'iptables -A FORWARD -j LOG_DROP\n' +
      'ip6tables -A INPUT -j LOG6_DROP\n' +
      'ip6tables -A FORWARD -j LOG6_DROP\n',
  ],
];

/**
 * How the rule files call iptables and ip6tables. "mixed" (the default, and what every row but the
 * calls rows measures): literal calls, except the helper (`$cmd -A …`) and 10-base's
 * `for ipt in iptables ip6tables` loop, so about 60% of the calls go through a variable. "literal":
 * every call written `iptables …` / `ip6tables …` (the helper branches on its argument, 10-base is
 * unrolled). "variables": every call through a variable the way admins write them: `$IPT -A …`,
 * `$IP6T -A …`, `$cmd -t nat -A …` (set once in 00-vars), the helper's `$cmd` and 10-base's `$ipt`.
 * All three make the same rules in the same order.
 */
export type Calls = 'mixed' | 'literal' | 'variables';

/** What generateRules can vary beside n: the calls, and edits for the incremental apply rows. */
export interface GenerateOptions {
  calls?: Calls;
  /** Edits the address arrays in place (test/bench/changes.ts); the counts are the caller's to adjust. */
  editArrays?: (a: Arrays) => void;
  /** Rewrites one file's body (after the calls variant). */
  editBody?: (name: string, body: string) => string;
}

const LITERAL_HELPER =
  '# allow_in CMD CHAIN PROTO PORT SOURCE\n' +
  '#   accept new connections to PROTO/PORT from SOURCE in CHAIN; CMD is iptables or ip6tables\n' +
  'allow_in() {\n' +
  '  local cmd=$1 chain=$2 proto=$3 port=$4 src=$5\n' +
  '  if [[ $cmd == ip6tables ]]; then\n' +
  '    ip6tables -A $chain -p $proto -s $src --dport $port -m conntrack --ctstate NEW \\\n' +
  '      -m comment --comment "$chain $proto/$port" -j ACCEPT\n' +
  '  else\n' +
  '    iptables -A $chain -p $proto -s $src --dport $port -m conntrack --ctstate NEW \\\n' +
  '      -m comment --comment "$chain $proto/$port" -j ACCEPT\n' +
  '  fi\n' +
  '}\n';

/** A body of FIXED_FILES written with CALLS (the bodies themselves are the mixed variant). */
function withCalls(name: string, body: string, calls: Calls): string {
  if (calls === 'mixed') return body;
  if (calls === 'literal') {
    if (name === '05-helpers') return LITERAL_HELPER;
    if (name !== '10-base') return body;
    // Unroll `for ipt in iptables ip6tables; do $ipt …; done` into the same calls, IPv4 first.
    const loop = /^for ipt in iptables ip6tables; do\n((?: {2}.*\n)+)done\n/m.exec(body);
    if (loop === null) throw new Error('generator: 10-base lost its `for ipt` loop');
    const inner = (loop[1] ?? '').replace(/^ {2}/gm, '');
    return body.replace(loop[0], inner.replace(/\$ipt /g, 'iptables ') + inner.replace(/\$ipt /g, 'ip6tables '));
  }
  // Only calls in command position (a line's first word) change: `allow_in iptables …` passes a name.
  return body
    .replace(/^(\s*)iptables -t nat /gm, '$1$cmd -t nat ')
    .replace(/^(\s*)iptables /gm, '$1$IPT ')
    .replace(/^(\s*)ip6tables /gm, '$1$IP6T ');
}

/** Rule files holding exactly n rule-adding calls (n >= MIN_RULES), 80% of them IPv4. */
export function generateRules(n: number, opts: GenerateOptions = {}): Generated {
  if (!Number.isInteger(n) || n < MIN_RULES) throw new Error(`generateRules: need an integer >= ${MIN_RULES}, got ${n}`);
  const p = plan(n);
  const calls = opts.calls ?? 'mixed';
  const header = (name: string, what: string): string =>
    `# ${name}: ${what}\n# (generated by nfgit's test/bench/bench.ts for a ${n}-rule benchmark)\n\n`;
  const a = arrays(p);
  opts.editArrays?.(a);
  const files: Array<[string, string]> = [['00-vars', header('00-vars', 'interfaces, ports and address lists') + varsFile(a, calls)]];
  for (const [name, what, body] of FIXED_FILES) {
    const written = withCalls(name, body, calls);
    files.push([name, header(name, what) + (opts.editBody?.(name, written) ?? written)]);
  }
  return { files, v4: p.v4, v6: p.v6 };
}

/** Writes a generated rule directory. */
export function writeRules(dir: string, g: Generated): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of g.files) writeFileSync(join(dir, name), text);
}

/** --emit: writes the rule directory of each size to DIR/N and says what it holds. */
export function emitRules(emit: string, sizes: number[]): void {
  for (const n of sizes) {
    const g = generateRules(n);
    const dir = join(emit, String(n));
    writeRules(dir, g);
    process.stdout.write(`${dir}: ${g.v4 + g.v6} rules (${g.v4} IPv4, ${g.v6} IPv6)\n`);
  }
}
