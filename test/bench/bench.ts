// `npm run bench`: measures `nfgit compile`, `nfgit check` and `nfgit apply` at 1k, 10k and 50k
// rules against baselines measured in the same run, and prints seconds and ratios as a markdown
// table (also written to .bench/results.md). Targets are reported, never asserted: timed assertions
// do not belong in tests.
//
//   npm run bench                                   sizes 1000,10000,50000, 3 runs each
//   npm run bench -- --sizes 1000 --runs 1          quick pass
//   npm run bench -- --sequential-all               also run sequential iptables beyond 1k (slow)
//   node dist/test/bench/bench.js --emit DIR        only write the generated rule directories
//   npm run bench -- --agent-only                   only the agent section (test/bench/agent-bench.ts)
//
// Every baseline that touches netfilter runs in its own fresh `unshare --net` namespace; nfgit apply
// runs into a fresh named namespace (`ip netns add nfgit-t-bench-…`), created and deleted around
// each run, never into the machine's own.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { benchAgent, type AgentBenchResult } from './agent-bench.js';

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  sizes: number[];
  runs: number;
  sequentialAll: boolean;
  timeoutSeconds: number;
  emit: string | undefined;
  /** Run the compile/check/apply sections (false with --agent-only). */
  rules: boolean;
  /** Run the agent section (false with --no-agent). */
  agent: boolean;
}

const USAGE = `usage: npm run bench -- [--sizes 1000,10000,50000] [--runs 3] [--sequential-all]
                              [--timeout SECONDS] [--emit DIR] [--agent-only | --no-agent]
  --sizes N,N,...     rule counts to measure (default 1000,10000,50000)
  --runs K            runs per measurement; cells are the median (default 3)
  --sequential-all    run the (quadratic) sequential iptables baseline at every size, not only 1000
  --timeout SECONDS   limit for one run of one measurement (default 900; sequential: scaled up)
  --emit DIR          write the generated rule directories to DIR/N and exit
  --agent-only        only the agent section: idle poll, idle daemon memory, push to applied
                      (--runs pushes per ruleset size)
  --no-agent          skip the agent section`;

function parseOptions(argv: string[]): Options {
  const o: Options = { sizes: [1000, 10000, 50000], runs: 3, sequentialAll: false, timeoutSeconds: 900, emit: undefined, rules: true, agent: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') fail(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    const positiveInt = (v: string): number => {
      if (!/^\d+$/.test(v) || Number(v) <= 0) fail(`${flag}: not a positive integer: ${v}`);
      return Number(v);
    };
    switch (flag) {
      case '--sizes':
        o.sizes = value().split(',').map((s) => positiveInt(s.trim()));
        break;
      case '--runs':
        o.runs = positiveInt(value());
        break;
      case '--sequential-all':
        o.sequentialAll = true;
        break;
      case '--timeout':
        o.timeoutSeconds = positiveInt(value());
        break;
      case '--emit':
        o.emit = resolve(value());
        break;
      case '--agent-only':
        o.rules = false;
        break;
      case '--no-agent':
        o.agent = false;
        break;
      case '-h':
      case '--help':
        process.stdout.write(USAGE + '\n');
        process.exit(0);
        break;
      default:
        fail(`unknown argument: ${a}\n${USAGE}`);
    }
  }
  if (!o.rules && !o.agent) fail('--agent-only and --no-agent together leave nothing to measure');
  for (const n of o.sizes) if (n < MIN_RULES) fail(`--sizes: the generator needs at least ${MIN_RULES} rules (got ${n})`);
  return o;
}

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Rule directory generator
//
// Realistic shape: 00-vars (zsh arrays of addresses), 05-helpers (a helper function), then files
// whose loops call iptables/ip6tables -A (and a few -I) across the filter and nat tables, with
// 20 user chains made with -N, ports, addresses, comments, conntrack, multiport, limit, LOG, DNAT,
// SNAT. About 80% of the rules are IPv4. Exactly N rule-adding calls (-A/-I) in total; -N and -P
// calls and `main` host commands are not counted.

const MIN_RULES = 200;

interface Generated {
  files: Array<[name: string, text: string]>;
  v4: number;
  v6: number;
}

function ip4(base: string, offset: number): string {
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

function zshArray(name: string, items: string[]): string {
  const lines: string[] = [];
  for (let i = 0; i < items.length; i += 8) lines.push('  ' + items.slice(i, i + 8).join(' '));
  return `${name}=(\n${lines.join('\n')}\n)\n`;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

export function generateRules(n: number): Generated {
  if (!Number.isInteger(n) || n < MIN_RULES) throw new Error(`generateRules: need an integer >= ${MIN_RULES}, got ${n}`);
  const n4 = Math.round(n * 0.8);
  const n6 = n - n4;
  const webPorts = ['80', '443', '8080', '8443'];
  const mailPorts = ['25', '465', '587'];

  // Fixed rule-adding calls, counted by hand next to the text that makes them (10-base, 15-chains,
  // 20-icmp, 35-mail, 90-final); the total is checked against a zsh run of the files anyway.
  const fixed4 = 5 /* 10-base */ + 14 /* 15-chains */ + 5 /* 20-icmp */ + 4 /* 35-mail */ + 4; /* 90-final */
  const fixed6 = 5 /* 10-base */ + 5 /* 15-chains */ + 9 /* 20-icmp */ + 4; /* 90-final */
  const bulk4 = n4 - fixed4;
  const bulk6 = n6 - fixed6;
  // Loops: outer array length = floor(weight * bulk / calls per element); the blocklists take the rest.
  const outer = (bulk: number, weight: number, per: number): number => Math.max(1, Math.floor((bulk * weight) / per));
  const web4 = outer(bulk4, 0.3, webPorts.length);
  const ssh4 = outer(bulk4, 0.04, 1);
  const mail4 = outer(bulk4, 0.09, mailPorts.length);
  const dns4 = outer(bulk4, 0.08, 2);
  const db4 = outer(bulk4, 0.07, 2);
  const mon4 = outer(bulk4, 0.04, 2);
  const dmz4 = outer(bulk4, 0.12, 2 * webPorts.length);
  const lan4 = outer(bulk4, 0.08, webPorts.length + 1);
  const block4 =
    bulk4 - (web4 * 4 + ssh4 + mail4 * mailPorts.length + dns4 * 2 + db4 * 2 + mon4 * 2 + dmz4 * 8 + lan4 * (webPorts.length + 1));
  const web6 = outer(bulk6, 0.45, webPorts.length);
  const ssh6 = outer(bulk6, 0.06, 1);
  const lan6 = outer(bulk6, 0.2, webPorts.length);
  const block6 = bulk6 - (web6 * webPorts.length + ssh6 + lan6 * webPorts.length);
  if (block4 < 1 || block6 < 1) throw new Error(`generateRules: ${n} rules is too few for the fixed part`);

  const header = (name: string, what: string): string =>
    `# ${name}: ${what}\n# (generated by nfgit's test/bench/bench.ts for a ${n}-rule benchmark)\n\n`;

  const files: Array<[string, string]> = [];
  files.push([
    '00-vars',
    header('00-vars', 'interfaces, ports and address lists') +
      'wan_if=eth0\nlan_if=eth1\ndmz_if=eth2\n' +
      `web_ports=(${webPorts.join(' ')})\nmail_ports=(${mailPorts.join(' ')})\n` +
      'db_ports=(5432 3306)\nmon_ports=(9100 9090)\ndns_protos=(udp tcp)\n' +
      'mon_net4=10.250.0.0/16\nsnat_addr4=198.51.100.1\nmail_backend4=10.128.255.25\n' +
      'dmz_net6=2001:db8:ffff::/64\n\n' +
      zshArray('admin_nets4', range(ssh4).map((i) => `${ip4('10.200.0.0', i * 256)}/24`)) +
      zshArray('web_clients4', range(web4).map((i) => ip4('172.16.0.1', i))) +
      zshArray('mail_peers4', range(mail4).map((i) => ip4('198.18.0.1', i))) +
      zshArray('dns_clients4', range(dns4).map((i) => ip4('10.64.0.1', i))) +
      zshArray('db_clients4', range(db4).map((i) => ip4('10.96.0.1', i))) +
      zshArray('mon_hosts4', range(mon4).map((i) => ip4('10.250.0.1', i))) +
      zshArray('pub_addrs4', range(dmz4).map((i) => ip4('100.100.0.1', i))) +
      zshArray('backends4', range(dmz4).map((i) => ip4('10.128.0.1', i))) +
      zshArray('lan_nets4', range(lan4).map((i) => `${ip4('10.0.0.0', i * 256)}/24`)) +
      zshArray('blocklist4', range(block4).map((i) => `${ip4('100.64.0.0', i * 16)}/28`)) +
      zshArray('web_clients6', range(web6).map((i) => ip6host('2001:db8:10', i))) +
      zshArray('admin_nets6', range(ssh6).map((i) => ip6net('2001:db8', 0x200, i))) +
      zshArray('lan_nets6', range(lan6).map((i) => ip6net('2001:db8', 0x300, i))) +
      zshArray('blocklist6', range(block6).map((i) => ip6net('2001:db8', 0x8000, i))),
  ]);
  files.push([
    '05-helpers',
    header('05-helpers', 'helper functions') +
      '# allow_in CMD CHAIN PROTO PORT SOURCE\n' +
      '#   accept new connections to PROTO/PORT from SOURCE in CHAIN; CMD is iptables or ip6tables\n' +
      'allow_in() {\n' +
      '  local cmd=$1 chain=$2 proto=$3 port=$4 src=$5\n' +
      '  $cmd -A $chain -p $proto -s $src --dport $port -m conntrack --ctstate NEW \\\n' +
      '    -m comment --comment "$chain $proto/$port" -j ACCEPT\n' +
      '}\n',
  ]);
  files.push([
    '10-base',
    header('10-base', 'policies and stateful basics, both families') +
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
  ]);
  files.push([
    '15-chains',
    header('15-chains', 'user chains and the jumps into them') +
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
  ]);
  files.push([
    '20-icmp',
    header('20-icmp', 'ICMP and ICMPv6') +
      'for type in echo-request destination-unreachable time-exceeded parameter-problem; do\n' +
      '  iptables -A ICMP_IN -p icmp --icmp-type $type -m limit --limit 20/second --limit-burst 40 -j ACCEPT\n' +
      'done\n' +
      'iptables -A ICMP_IN -p icmp -j DROP\n\n' +
      'for type in echo-request destination-unreachable packet-too-big time-exceeded parameter-problem \\\n' +
      '    neighbour-solicitation neighbour-advertisement router-advertisement; do\n' +
      '  ip6tables -A ICMP6_IN -p ipv6-icmp --icmpv6-type $type -j ACCEPT\n' +
      'done\n' +
      'ip6tables -A ICMP6_IN -p ipv6-icmp -j DROP\n',
  ]);
  files.push([
    '30-web',
    header('30-web', 'web clients') +
      'for src in $web_clients4; do\n' +
      '  for port in $web_ports; do\n' +
      '    allow_in iptables WEB_IN tcp $port $src\n' +
      '  done\n' +
      'done\n',
  ]);
  files.push([
    '35-mail',
    header('35-mail', 'mail relay peers, published mail server') +
      'for src in $mail_peers4; do\n' +
      '  for port in $mail_ports; do\n' +
      '    allow_in iptables MAIL_IN tcp $port $src\n' +
      '  done\n' +
      'done\n' +
      'for port in $mail_ports; do\n' +
      '  iptables -t nat -A DNAT_MAIL -p tcp --dport $port -j DNAT --to-destination ${mail_backend4}:${port}\n' +
      'done\n' +
      'iptables -A FWD_DMZ -d $mail_backend4 -p tcp -m multiport --dports ${(j:,:)mail_ports} -m conntrack --ctstate NEW -j ACCEPT\n',
  ]);
  files.push([
    '40-dns',
    header('40-dns', 'resolver clients') +
      'for src in $dns_clients4; do\n' +
      '  for proto in $dns_protos; do\n' +
      '    allow_in iptables DNS_IN $proto 53 $src\n' +
      '  done\n' +
      'done\n',
  ]);
  files.push([
    '45-db',
    header('45-db', 'database clients') +
      'for src in $db_clients4; do\n' +
      '  for port in $db_ports; do\n' +
      '    allow_in iptables DB_IN tcp $port $src\n' +
      '  done\n' +
      'done\n',
  ]);
  files.push([
    '50-mon',
    header('50-mon', 'monitoring scrapers') +
      'for src in $mon_hosts4; do\n' +
      '  for port in $mon_ports; do\n' +
      '    allow_in iptables MON_IN tcp $port $src\n' +
      '  done\n' +
      'done\n',
  ]);
  files.push([
    '55-ssh',
    header('55-ssh', 'administration networks') + 'for net in $admin_nets4; do\n  allow_in iptables SSH_IN tcp 22 $net\ndone\n',
  ]);
  files.push([
    '60-dmz',
    header('60-dmz', 'published web backends: DNAT and forwarding') +
      'for i in {1..$#pub_addrs4}; do\n' +
      '  for port in $web_ports; do\n' +
      '    iptables -t nat -A DNAT_WEB -d $pub_addrs4[i] -p tcp --dport $port \\\n' +
      '      -m comment --comment "publish ${backends4[i]}:${port}" -j DNAT --to-destination ${backends4[i]}:${port}\n' +
      '    iptables -A FWD_DMZ -d $backends4[i] -p tcp --dport $port -m conntrack --ctstate NEW -j ACCEPT\n' +
      '  done\n' +
      'done\n',
  ]);
  files.push([
    '65-lan',
    header('65-lan', 'LAN networks: forwarding and source NAT') +
      'for net in $lan_nets4; do\n' +
      '  for port in $web_ports; do\n' +
      '    iptables -A FWD_LAN -s $net -p tcp --dport $port -m conntrack --ctstate NEW -j ACCEPT\n' +
      '  done\n' +
      '  iptables -t nat -A SNAT_LAN -s $net -o $wan_if -j SNAT --to-source $snat_addr4\n' +
      'done\n',
  ]);
  files.push([
    '70-blocklist',
    header('70-blocklist', 'blocked networks') +
      'for net in $blocklist4; do\n' +
      '  iptables -A BLOCKLIST -s $net -m comment --comment "blocklist $net" -j DROP\n' +
      'done\n',
  ]);
  files.push([
    '80-ipv6',
    header('80-ipv6', 'IPv6 services, forwarding and blocklist') +
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
  ]);
  files.push([
    '90-final',
    header('90-final', 'log and drop the rest') +
      'iptables -A LOG_DROP -m limit --limit 5/min --limit-burst 10 -j LOG --log-prefix "nfgit drop: " --log-level 4\n' +
      'iptables -A LOG_DROP -j DROP\n' +
      'ip6tables -A LOG6_DROP -m limit --limit 5/min --limit-burst 10 -j LOG --log-prefix "nfgit drop6: " --log-level 4\n' +
      'ip6tables -A LOG6_DROP -j DROP\n' +
      'iptables -A INPUT -j LOG_DROP\n' +
      'iptables -A FORWARD -j LOG_DROP\n' +
      'ip6tables -A INPUT -j LOG6_DROP\n' +
      'ip6tables -A FORWARD -j LOG6_DROP\n',
  ]);
  const v4 = fixed4 + bulk4;
  const v6 = fixed6 + bulk6;
  return { files, v4, v6 };
}

function writeRules(dir: string, g: Generated): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of g.files) writeFileSync(join(dir, name), text);
}

// ---------------------------------------------------------------------------------------------
// Processes, temp dirs and cleanup

const active = new Set<ChildProcess>();
const tempDirs = new Set<string>();
const namespaces = new Set<string>();

/** Creates a fresh named network namespace for one run of nfgit apply. */
function addNetns(): string {
  const name = `nfgit-t-bench-${randomBytes(4).toString('hex')}`;
  const r = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip netns add ${name} failed: ${(r.stderr ?? '').trim() || `exit ${r.status}`}`);
  namespaces.add(name);
  return name;
}

/**
 * Deletes a namespace made by addNetns. Its tables are emptied first, like the loaders' namespaces,
 * so the kernel's asynchronous teardown of 50k rules does not run into the next measurement.
 */
function delNetns(name: string): void {
  const empty = "printf '*filter\\nCOMMIT\\n*nat\\nCOMMIT\\n' | iptables-restore; printf '*filter\\nCOMMIT\\n*nat\\nCOMMIT\\n' | ip6tables-restore";
  spawnSync('ip', ['netns', 'exec', name, 'sh', '-c', empty], { stdio: 'ignore' });
  spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  namespaces.delete(name);
}

function cleanup(): void {
  for (const child of active) {
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  active.clear();
  for (const name of [...namespaces]) delNetns(name);
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    process.stderr.write(`\nbench: ${sig}, cleaning up\n`);
    cleanup();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

function makeTempRoot(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nfgit-bench-'));
  tempDirs.add(dir);
  return dir;
}

interface RunResult {
  /** seconds from spawn to the marker line (when asked for) or to the process exit */
  seconds: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  markerSeen: boolean;
}

const OUTPUT_LIMIT = 256 * 1024;

function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutSeconds: number; marker?: string },
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    let stdout = '';
    let stderr = '';
    let tMarker: number | undefined;
    let tExit: number | undefined;
    let timedOut = false;
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    active.add(child);
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }, opts.timeoutSeconds * 1000);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (opts.marker !== undefined && tMarker === undefined && (stdout.slice(-opts.marker.length) + chunk).includes(opts.marker)) {
        tMarker = performance.now();
      }
      if (stdout.length < OUTPUT_LIMIT) stdout += chunk;
    });
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < OUTPUT_LIMIT) stderr += chunk;
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      active.delete(child);
      reject(err);
    });
    child.on('exit', () => {
      tExit = performance.now();
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      active.delete(child);
      const end = tMarker ?? tExit ?? performance.now();
      resolvePromise({
        seconds: (end - t0) / 1000,
        code,
        signal,
        stdout,
        stderr,
        timedOut,
        markerSeen: tMarker !== undefined,
      });
    });
  });
}

/** Fraction of all CPUs busy over a short window, from /proc/stat. */
async function busyFraction(ms: number): Promise<number> {
  const sample = (): { idle: number; total: number } => {
    const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { idle: (f[3] ?? 0) + (f[4] ?? 0), total };
  };
  const a = sample();
  await new Promise((r) => setTimeout(r, ms));
  const b = sample();
  const dt = b.total - a.total;
  return dt > 0 ? 1 - (b.idle - a.idle) / dt : 0;
}

const SETTLE_BUSY = 0.15;
const SETTLE_MAX_SECONDS = 60;
const busyRuns: string[] = [];

/**
 * Waits (up to a minute) until the machine is quiet before a timed run: the kernel tears network
 * namespaces down asynchronously, and other work on a 2-core machine skews wall-clock times.
 * Returns how busy the machine was when the run started.
 */
async function settle(): Promise<number> {
  const deadline = performance.now() + SETTLE_MAX_SECONDS * 1000;
  let busy = await busyFraction(250);
  while (busy > SETTLE_BUSY && performance.now() < deadline) busy = await busyFraction(500);
  return busy;
}

// ---------------------------------------------------------------------------------------------
// iptables-save comparison

/** Rule count (-A lines) of iptables-save output. */
function countRules(save: string): number {
  let n = 0;
  for (const line of save.split('\n')) if (line.startsWith('-A ')) n++;
  return n;
}

/**
 * iptables-save output in a canonical form: per table, chain declarations sorted (without
 * counters), then each chain's rules in order, chains sorted by name. Chain order in the save
 * output depends on creation order, which differs between loaders and means nothing.
 */
function normalizeSave(save: string): string {
  const tables = new Map<string, { decls: string[]; rules: Map<string, string[]> }>();
  let cur: { decls: string[]; rules: Map<string, string[]> } | undefined;
  for (const raw of save.split('\n')) {
    const line = raw.trimEnd();
    if (line === '' || line.startsWith('#') || line === 'COMMIT') continue;
    if (line.startsWith('*')) {
      cur = { decls: [], rules: new Map() };
      tables.set(line.slice(1), cur);
    } else if (cur === undefined) {
      continue;
    } else if (line.startsWith(':')) {
      cur.decls.push(line.replace(/ \[\d+:\d+\]$/, ''));
    } else if (line.startsWith('-A ')) {
      const chain = line.split(' ')[1] ?? '';
      const list = cur.rules.get(chain) ?? [];
      list.push(line);
      cur.rules.set(chain, list);
    } else {
      cur.decls.push(line);
    }
  }
  const out: string[] = [];
  for (const name of [...tables.keys()].sort()) {
    const t = tables.get(name);
    if (t === undefined) continue;
    // An empty table (no rules, only ACCEPT policies on built-in chains) is the same as no table.
    const trivial = t.rules.size === 0 && t.decls.every((d) => / ACCEPT$/.test(d));
    if (trivial) continue;
    out.push(`*${name}`, ...t.decls.sort());
    for (const chain of [...t.rules.keys()].sort()) out.push(...(t.rules.get(chain) ?? []));
  }
  return out.join('\n') + '\n';
}

function firstDifference(a: string, b: string): string {
  const la = a.split('\n');
  const lb = b.split('\n');
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    if (la[i] !== lb[i]) return `line ${i + 1}:\n      expected: ${la[i] ?? '(end)'}\n      got:      ${lb[i] ?? '(end)'}`;
  }
  return '(identical)';
}

// ---------------------------------------------------------------------------------------------
// Measurements

type Key = 'floor' | 'seed' | 'sequential' | 'restore' | 'compile' | 'check' | 'apply';

const LABELS: Record<Key, string> = {
  floor: 'zsh no-op floor (zsh -f, no-op functions)',
  seed: "seed interception script (build + load)",
  sequential: 'sequential iptables (one call a rule)',
  restore: 'bare iptables-restore (rules.v4 + rules.v6)',
  compile: 'nfgit compile',
  check: 'nfgit check',
  apply: 'nfgit apply (compile + stage + snapshot + both restores)',
};
const ORDER: Key[] = ['floor', 'seed', 'sequential', 'restore', 'compile', 'check', 'apply'];

interface Cell {
  samples: number[];
  /** text shown instead of a number: "n/a", "error", "skipped (est. ~62 s)" */
  text?: string;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
};

const cellValue = (c: Cell | undefined): number | undefined =>
  c !== undefined && c.text === undefined && c.samples.length > 0 ? median(c.samples) : undefined;

/**
 * Sequential iptables time estimate for n rules, from the NOTES measurements (nft backend, one rule
 * a call into an empty namespace: 2000 rules 5.1 s, 4000 rules 13.9 s; fitted as a*n + b*n^2) and
 * scaled by this run's own 1000-rule measurement when there is one.
 */
function estimateSequential(n: number, measured1k: number | undefined): number {
  const b = (13.9 - 2 * 5.1) / 8e6;
  const a = (5.1 - b * 4e6) / 2000;
  const f = (x: number): number => a * x + b * x * x;
  return measured1k !== undefined ? (measured1k * f(n)) / f(1000) : f(n);
}

function fmtSeconds(s: number): string {
  if (s >= 100) return s.toFixed(0);
  if (s >= 10) return s.toFixed(1);
  return s.toFixed(3);
}

function firstLines(text: string, n: number): string {
  const lines = text.trimEnd().split('\n');
  return lines.slice(0, n).join('\n') + (lines.length > n ? `\n… (${lines.length - n} more lines)` : '');
}

function toolVersion(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return (r.stdout || r.stderr || '').trim().split('\n')[0] ?? '?';
}

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && existsSync(join(dir, 'test', 'bench', 'seed.zsh'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root (package.json + test/bench/seed.zsh)');
    dir = up;
  }
}

/**
 * Startup time of the bundled nfgit (what the Debian package ships, and what git hooks start on every
 * push): the median of 10 runs of `nfgit check --help`, beside the median of `node -e 0`.
 */
function bundledStartup(root: string, tmp: string): string {
  const bundle = join(tmp, 'nfgit.mjs');
  const built = spawnSync('node', [join(root, 'packaging', 'bundle.mjs'), bundle], { cwd: root, encoding: 'utf8' });
  if (built.status !== 0) return `bundled nfgit check --help: n/a (bundling failed: ${firstLines(built.stderr, 1)})`;
  const median = (args: string[]): number => {
    const samples: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      const r = spawnSync('node', args, { cwd: tmp, stdio: 'ignore' });
      if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}`);
      samples.push((performance.now() - t0) / 1000);
    }
    samples.sort((a, b) => a - b);
    return ((samples[4] ?? 0) + (samples[5] ?? 0)) / 2;
  };
  return `bundled nfgit check --help: ${median([bundle, 'check', '--help']).toFixed(2)} s (node -e 0: ${median(['-e', '0']).toFixed(2)} s)`;
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));

  if (opts.emit !== undefined) {
    for (const n of opts.sizes) {
      const g = generateRules(n);
      const dir = join(opts.emit, String(n));
      writeRules(dir, g);
      process.stdout.write(`${dir}: ${g.v4 + g.v6} rules (${g.v4} IPv4, ${g.v6} IPv6)\n`);
    }
    return;
  }

  const root = findRepoRoot();
  const benchDir = join(root, 'test', 'bench');
  const cli = join(root, 'dist', 'src', 'cli', 'main.js');
  const tmp = makeTempRoot();
  const childTmp = join(tmp, 'tmp');
  mkdirSync(childTmp);
  // Children's mktemp (the seed script's, nfgit's) lands under our temp root, removed on every path.
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: childTmp, LC_ALL: 'C' };
  const log = (s: string): void => {
    process.stderr.write(s + '\n');
  };

  const results = new Map<number, Map<Key, Cell>>();
  const problems: string[] = [];
  const notes: string[] = [];
  const problem = (s: string): void => {
    problems.push(s);
    log(`  PROBLEM: ${s.split('\n')[0] ?? ''}`);
  };

  const startedAt = new Date();
  log(
    `bench: ${opts.rules ? `sizes ${opts.sizes.join(', ')}` : 'agent only'}${opts.rules && opts.agent ? ' and the agent' : ''}; ${opts.runs} run(s) each; temp ${tmp}`,
  );

  for (const n of opts.rules ? opts.sizes : []) {
    const cells = new Map<Key, Cell>();
    results.set(n, cells);
    const sizeDir = join(tmp, String(n));
    const rules = join(sizeDir, 'rules');
    const g = generateRules(n);
    writeRules(rules, g);
    log(`\n== ${n} rules (${g.v4} IPv4, ${g.v6} IPv6) in ${rules}`);

    // Check the generator: a zsh run of the files counting rule-adding calls (touches nothing).
    const counted = await run('zsh', ['-f', join(benchDir, 'count.zsh'), rules], { cwd: root, env, timeoutSeconds: opts.timeoutSeconds });
    const [c4, c6] = counted.stdout.trim().split(' ').map(Number);
    if (counted.code !== 0 || c4 !== g.v4 || c6 !== g.v6) {
      throw new Error(`generator: expected ${g.v4}+${g.v6} rule-adding calls, zsh counted "${counted.stdout.trim()}" (exit ${counted.code}): ${counted.stderr}`);
    }

    const saves = new Map<string, string>(); // normalized iptables-save of what each loader loaded

    /**
     * One measurement, K runs. `nsLoad`: run in a fresh namespace, time to the load, then verify it.
     * `netns`: the command loads a named namespace (made by build, deleted after the run); time to
     * the command's exit, then verify what the namespace holds.
     */
    const measure = async (
      key: Key,
      build: (k: number) => { cmd: string; args: string[]; nsLoad: boolean; timeoutSeconds?: number; netns?: string; after?: () => void },
      afterRun?: (r: RunResult, k: number) => boolean,
    ): Promise<Cell> => {
      const cell: Cell = { samples: [] };
      cells.set(key, cell);
      for (let k = 0; k < opts.runs; k++) {
        let spec: ReturnType<typeof build>;
        try {
          spec = build(k);
        } catch (err) {
          cell.text = 'error';
          problem(`${n} rules, ${LABELS[key]}: ${(err as Error).message}`);
          return cell;
        }
        try {
          const save4 = join(sizeDir, `${key}-${k}.save4`);
          const save6 = join(sizeDir, `${key}-${k}.save6`);
          let cmd = spec.cmd;
          let args = spec.args;
          if (spec.nsLoad) {
            // Time stops at the marker, printed as soon as the loader returns; the save for the
            // verification happens after, in the same namespace.
            // Emptying the tables before leaving keeps the kernel's asynchronous teardown of a
            // namespace holding 50k rules from running into the next measurement.
            const script =
              '"$@"; rc=$?; echo "@@loaded $rc"; iptables-save > "$0.save4"; ip6tables-save > "$0.save6"; ' +
              "printf '*filter\\nCOMMIT\\n*nat\\nCOMMIT\\n' | iptables-restore; printf '*filter\\nCOMMIT\\n*nat\\nCOMMIT\\n' | ip6tables-restore; exit 0";
            cmd = 'unshare';
            args = ['--net', '--', 'sh', '-c', script, join(sizeDir, `${key}-${k}`), spec.cmd, ...spec.args];
          }
          const busy = await settle();
          if (busy > SETTLE_BUSY) busyRuns.push(`${n} rules, ${LABELS[key]}, run ${k + 1}: ${(busy * 100).toFixed(0)}% CPU busy`);
          const r = await run(cmd, args, {
            cwd: root,
            env,
            timeoutSeconds: spec.timeoutSeconds ?? opts.timeoutSeconds,
            ...(spec.nsLoad ? { marker: '@@loaded' } : {}),
          });
          const marked = /@@loaded (\d+)/.exec(r.stdout)?.[1];
          const loadRc = spec.nsLoad ? (marked === undefined ? null : Number(marked)) : r.code;
          if (r.timedOut || loadRc !== 0 || (spec.nsLoad && r.code !== 0)) {
            cell.text = r.timedOut ? `timeout (>${spec.timeoutSeconds ?? opts.timeoutSeconds} s)` : 'error';
            problem(
              `${n} rules, ${LABELS[key]}: ${r.timedOut ? 'timed out' : loadRc !== null ? `exit ${loadRc}` : `no load marker (exit ${r.code ?? r.signal})`}\n` +
                `    command: ${[cmd, ...args].join(' ')}\n` +
                `    stderr:\n${firstLines(r.stderr, 20).replace(/^/gm, '      ')}`,
            );
            return cell;
          }
          if (afterRun !== undefined && !afterRun(r, k)) {
            cell.text = 'error';
            return cell;
          }
          cell.samples.push(r.seconds);
          let loadedSaves: [string, string] | undefined;
          if (spec.nsLoad) {
            loadedSaves = [readFileSync(save4, 'utf8'), readFileSync(save6, 'utf8')];
            rmSync(save4, { force: true });
            rmSync(save6, { force: true });
          } else if (spec.netns !== undefined) {
            const save = (tool: string): string => {
              const s = spawnSync('ip', ['netns', 'exec', spec.netns ?? '', tool], { encoding: 'utf8', maxBuffer: 1 << 30 });
              if (s.status !== 0) problem(`${n} rules, ${LABELS[key]}: ${tool} in ${spec.netns} failed: ${(s.stderr ?? '').trim()}`);
              return s.stdout ?? '';
            };
            loadedSaves = [save('iptables-save'), save('ip6tables-save')];
          }
          if (loadedSaves !== undefined && k === 0) {
            const [s4, s6] = loadedSaves;
            const loaded = countRules(s4) + countRules(s6);
            if (loaded !== n) problem(`${n} rules, ${LABELS[key]}: loaded ${loaded} rules, expected ${n}`);
            saves.set(key, normalizeSave(s4) + normalizeSave(s6));
            if (key === 'seed') {
              writeFileSync(join(sizeDir, 'seed.v4'), s4);
              writeFileSync(join(sizeDir, 'seed.v6'), s6);
            }
          }
          log(`  ${LABELS[key]}: run ${k + 1}/${opts.runs}: ${r.seconds.toFixed(3)} s`);
        } finally {
          if (spec.netns !== undefined) delNetns(spec.netns);
          spec.after?.();
        }
      }
      return cell;
    };

    // 1. zsh no-op floor. In `unshare --net` like the loaders (and like nfgit, whose compiler runs the
    //    rule files in an empty namespace); unshare itself costs about a millisecond.
    await measure('floor', () => ({ cmd: 'unshare', args: ['--net', '--', 'zsh', '-f', join(benchDir, 'floor.zsh'), rules], nsLoad: false }));

    // 2. The seed article's interception script: builds and loads.
    await measure('seed', () => ({ cmd: 'zsh', args: ['-f', join(benchDir, 'seed.zsh'), rules], nsLoad: true }));

    // 3. Sequential iptables: quadratic, so only at 1000 rules unless --sequential-all.
    const seq1k = cellValue(results.get(1000)?.get('sequential'));
    if (n === 1000 || opts.sequentialAll) {
      const est = estimateSequential(n, seq1k);
      await measure('sequential', () => ({
        cmd: 'zsh',
        args: ['-f', join(benchDir, 'sequential.zsh'), rules],
        nsLoad: true,
        timeoutSeconds: Math.max(opts.timeoutSeconds, Math.ceil(est * 4)),
      }));
    } else {
      const est = estimateSequential(n, seq1k);
      const estText = `skipped (est. ~${est >= 10 ? est.toFixed(0) : est.toFixed(1)} s)`;
      cells.set('sequential', { samples: [], text: estText });
      log(`  ${LABELS.sequential}: ${estText}; --sequential-all runs it`);
    }

    // 4. nfgit compile.
    const cliThere = existsSync(cli);
    let compiledOut: string | undefined;
    if (!cliThere) {
      cells.set('compile', { samples: [], text: 'n/a' });
      cells.set('check', { samples: [], text: 'n/a' });
      log(`  nfgit: ${cli} does not exist (not built yet): compile, check and apply are n/a`);
    } else {
      const outs: string[] = [];
      const compile = await measure(
        'compile',
        (k) => {
          const out = join(sizeDir, `out-${k}`);
          mkdirSync(out, { recursive: true });
          outs[k] = out;
          return { cmd: process.execPath, args: [cli, 'compile', '--rules', rules, '--out', out], nsLoad: false };
        },
        (r, k) => {
          const out = outs[k] ?? '';
          const missing = ['rules.v4', 'rules.v6', 'plan.json'].filter((f) => !existsSync(join(out, f)));
          if (missing.length > 0) {
            problem(`${n} rules, nfgit compile exited 0 but did not write ${missing.join(', ')} in --out\n    stderr:\n${firstLines(r.stderr, 20).replace(/^/gm, '      ')}`);
            return false;
          }
          if (k === 0) {
            const v4 = readFileSync(join(out, 'rules.v4'), 'utf8');
            const v6 = readFileSync(join(out, 'rules.v6'), 'utf8');
            const c = countRules(v4) + countRules(v6);
            if (c !== n) problem(`${n} rules, nfgit compile: rules.v4 + rules.v6 hold ${c} -A lines, expected ${n}`);
          }
          compiledOut = out;
          return true;
        },
      );
      if (compile.text !== undefined) compiledOut = undefined;
    }

    // 5. Bare iptables-restore of the compiled ruleset (or, without nfgit, of the seed's ruleset).
    let v4File: string | undefined;
    let v6File: string | undefined;
    if (compiledOut !== undefined) {
      v4File = join(compiledOut, 'rules.v4');
      v6File = join(compiledOut, 'rules.v6');
    } else if (existsSync(join(sizeDir, 'seed.v4'))) {
      v4File = join(sizeDir, 'seed.v4');
      v6File = join(sizeDir, 'seed.v6');
      notes.push(`${n} rules: bare iptables-restore loaded the seed script's ruleset (iptables-save of it), nfgit's output being unavailable.`);
    }
    if (v4File !== undefined && v6File !== undefined) {
      const script = 'iptables-restore < "$1" && ip6tables-restore < "$2"';
      await measure('restore', () => ({ cmd: 'sh', args: ['-c', script, 'sh', v4File ?? '', v6File ?? ''], nsLoad: true }));
    } else {
      cells.set('restore', { samples: [], text: 'n/a' });
    }

    // 6. nfgit check.
    if (cliThere) {
      await measure('check', () => ({ cmd: process.execPath, args: [cli, 'check', '--rules', rules], nsLoad: false }));
    }

    // 7. nfgit apply: compile, stage, lock, snapshot, journal, restore IPv4 and IPv6, record, host
    //    commands; into a fresh named namespace with a fresh state directory for every run.
    if (cliThere) {
      await measure('apply', (k) => {
        const state = join(sizeDir, `state-${k}`);
        const netns = addNetns();
        return {
          cmd: process.execPath,
          args: [cli, 'apply', '--rules', rules, '--netns', netns, '--state-dir', state],
          nsLoad: false,
          netns,
          after: () => rmSync(state, { recursive: true, force: true }),
        };
      });
    } else {
      cells.set('apply', { samples: [], text: 'n/a' });
    }

    // Fidelity cross-checks (not timed): what each loader put in the kernel must agree.
    const ref = saves.get('sequential') !== undefined ? 'sequential' : 'seed';
    const refSave = saves.get(ref);
    for (const key of ['seed', 'restore', 'apply'] as const) {
      const s = saves.get(key);
      if (key === ref || s === undefined || refSave === undefined) continue;
      if (s !== refSave) {
        const dump = join(root, '.bench', `${n}`);
        mkdirSync(dump, { recursive: true });
        writeFileSync(join(dump, `${ref}.normalized`), refSave);
        writeFileSync(join(dump, `${key}.normalized`), s);
        problem(
          `${n} rules: the ruleset loaded by "${LABELS[key]}"${key === 'restore' && compiledOut !== undefined ? ' (nfgit compile output)' : ''} ` +
            `differs from the one loaded by "${LABELS[ref]}" (normalized iptables-save in ${dump}), first difference at ${firstDifference(refSave, s)}`,
        );
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Agent (test/bench/agent-bench.ts)

  let agent: AgentBenchResult | undefined;
  if (opts.agent && !existsSync(cli)) {
    notes.push(`nfgit CLI not built (${cli} missing): the agent section is skipped.`);
  } else if (opts.agent) {
    const agentDir = join(tmp, 'agent');
    mkdirSync(agentDir);
    agent = await benchAgent({
      root,
      cli,
      dir: agentDir,
      env,
      runs: opts.runs,
      children: active,
      addNetns,
      delNetns,
      settle: async (what) => {
        const busy = await settle();
        if (busy > SETTLE_BUSY) busyRuns.push(`agent, ${what}: ${(busy * 100).toFixed(0)}% CPU busy`);
        return busy;
      },
      run,
      rules: (n) => generateRules(n).files,
      log,
      problem,
    });
  }

  // -------------------------------------------------------------------------------------------
  // Table

  const sizes = opts.sizes;
  const num = (n: number, k: Key): number | undefined => cellValue(results.get(n)?.get(k));
  const cellText = (n: number, k: Key): string => {
    const c = results.get(n)?.get(k);
    if (c === undefined) return 'n/a';
    if (c.text !== undefined) return c.text;
    const v = cellValue(c);
    return v === undefined ? 'n/a' : fmtSeconds(v);
  };
  const ratio = (n: number, a: Key, b: Key): string => {
    const x = num(n, a);
    const y = num(n, b);
    return x !== undefined && y !== undefined && y > 0 ? `${(x / y).toFixed(2)}x` : 'n/a';
  };
  const head = `| seconds (median of ${opts.runs}) | ${sizes.map((n) => `${n} rules`).join(' | ')} |`;
  const sep = `|---|${sizes.map(() => '---:').join('|')}|`;
  const rows = ORDER.map((k) => `| ${LABELS[k]} | ${sizes.map((n) => cellText(n, k)).join(' | ')} |`);
  const ratioRows = [
    `| **compile / zsh no-op floor** | ${sizes.map((n) => ratio(n, 'compile', 'floor')).join(' | ')} |`,
    `| **check / seed script** | ${sizes.map((n) => ratio(n, 'check', 'seed')).join(' | ')} |`,
    `| **check / bare restore** | ${sizes.map((n) => ratio(n, 'check', 'restore')).join(' | ')} |`,
    `| **apply / seed script** | ${sizes.map((n) => ratio(n, 'apply', 'seed')).join(' | ')} |`,
  ];
  const table = [head, sep, ...rows, ...ratioRows].join('\n');

  const target = (label: string, n: number, a: Key, b: Key, limit: number, strict: boolean): string => {
    const x = num(n, a);
    const y = num(n, b);
    if (!sizes.includes(n)) return `- ${label}: not measured (size ${n} not in --sizes)`;
    if (x === undefined || y === undefined) return `- ${label}: not measured (${x === undefined ? LABELS[a] : LABELS[b]} unavailable)`;
    const r = x / y;
    const met = strict ? r < limit : r <= limit;
    return `- ${label}: ${met ? 'MET' : 'NOT MET'} (${fmtSeconds(x)} s vs ${fmtSeconds(y)} s = ${r.toFixed(2)}x)`;
  };
  const targets = [
    target('compile within 1.25x of the zsh no-op floor at 50000 rules', 50000, 'compile', 'floor', 1.25, false),
    target('check of 10000 rules faster than the seed script building and loading them', 10000, 'check', 'seed', 1, true),
    target("at 50k rules, nfgit's full check+apply within 1.0x of the seed script's time", 50000, 'apply', 'seed', 1, false),
  ];

  const samples: string[] = [];
  for (const n of sizes) {
    for (const k of ORDER) {
      const c = results.get(n)?.get(k);
      if (c !== undefined && c.samples.length > 0) samples.push(`- ${n} rules, ${LABELS[k]}: ${c.samples.map((s) => s.toFixed(3)).join(', ')}`);
    }
  }

  const env_ = [
    `- date: ${startedAt.toISOString()}`,
    `- host: ${cpus().length} CPU(s) (${cpus()[0]?.model ?? '?'}), Linux ${release()}`,
    `- ${toolVersion('iptables', ['-V'])}; ${toolVersion('zsh', ['--version'])}; node ${process.version}`,
    ...(opts.rules
      ? [
          `- runs per cell: ${opts.runs}; every loader in a fresh \`unshare --net\` namespace (nfgit apply: a fresh \`ip netns add\` one); times are wall clock ` +
            `from spawn to the end of the load (loaders) or to process exit (floor, nfgit)`,
        ]
      : []),
  ];
  const defaultNotes = [
    'zsh no-op floor: the rule files sourced in one `zsh -f` (emulate -R zsh, errexit) with iptables, ip6tables and main as no-op functions, in `unshare --net`.',
    'seed interception script: test/bench/seed.zsh, the seed article\'s first method restored (see its header for the changes), run in a fresh namespace: builds the restore input and loads it.',
    'sequential iptables: the rule files run with the real binaries, one process a rule, in a fresh namespace.',
    'bare iptables-restore: `iptables-restore < rules.v4 && ip6tables-restore < rules.v6` into a fresh namespace.',
    'nfgit compile / check: `node dist/src/cli/main.js compile --rules DIR --out DIR` / `... check --rules DIR`, whole process.',
    'nfgit apply: `node dist/src/cli/main.js apply --rules DIR --netns NS --state-dir DIR`, whole process (compile, stage in a scratch namespace, lock, snapshot both families, journal, restore IPv4 then IPv6, record the last good ruleset, host commands), into a fresh `ip netns add` namespace with a fresh state directory each run; making and deleting the namespace are not timed. Its baseline, "seed script applies", is the seed interception script row: it builds and loads the same ruleset without staging, snapshot or rollback.',
  ];
  if (busyRuns.length > 0) {
    notes.push(
      `${busyRuns.length} run(s) started while other processes kept the machine more than ${SETTLE_BUSY * 100}% busy ` +
        `after waiting ${SETTLE_MAX_SECONDS} s for it to settle; their times are noisy: ${busyRuns.join('; ')}.`,
    );
  }
  if (opts.rules && !existsSync(cli)) notes.push(`nfgit CLI not built (${cli} missing): nfgit compile, check and apply are n/a.`);

  // The agent's rows: an indented block on stdout, a two-column table in results.md.
  const agentWidth = Math.max(0, ...(agent?.rows ?? []).map(([label]) => label.length));
  const agentBlock = agent === undefined ? '' : [agent.title, ...agent.rows.map(([label, value]) => `  ${label.padEnd(agentWidth)}  ${value}`)].join('\n');
  const agentTable =
    agent === undefined ? '' : [`| ${agent.title} | |`, '|---|---:|', ...agent.rows.map(([label, value]) => `| ${label} | ${value} |`)].join('\n');

  const startup = bundledStartup(root, tmp);
  const md = [
    '# nfgit benchmark',
    '',
    ...env_,
    '',
    ...(opts.rules ? [table, '', startup, '', '## Targets (reported, not asserted)', '', ...targets, ''] : [startup, '']),
    ...(agent !== undefined ? ['## Agent', '', agentTable, ''] : []),
    '## What the rows are',
    '',
    ...(opts.rules ? defaultNotes : []).map((s) => `- ${s}`),
    ...(agent?.notes ?? []).map((s) => `- ${s}`),
    ...notes.map((s) => `- ${s}`),
    '',
    '## Problems',
    '',
    ...(problems.length > 0 ? problems.map((s) => `- ${s}`) : ['- none']),
    '',
    '## All samples',
    '',
    ...samples.map((s) => `${s} s`),
    ...(agent?.samples ?? []).map((s) => `- ${s}`),
    '',
  ].join('\n');

  if (opts.rules) process.stdout.write('\n' + table + '\n\nTargets (reported, not asserted):\n' + targets.join('\n') + '\n');
  process.stdout.write('\n' + startup + '\n');
  if (agent !== undefined) process.stdout.write('\n' + agentBlock + '\n');
  if (notes.length > 0) process.stdout.write('\nNotes:\n' + notes.map((s) => `- ${s}`).join('\n') + '\n');
  if (problems.length > 0) process.stdout.write('\nProblems:\n' + problems.map((s) => `- ${s}`).join('\n') + '\n');
  const outDir = join(root, '.bench');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'results.md'), md);
  process.stdout.write(`\n(written to ${join(outDir, 'results.md')})\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  cleanup();
  process.exit(1);
});
