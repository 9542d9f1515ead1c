import test from 'ava';
import { execa } from 'execa';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { withNamedNetns, inNetns, savesOf } from '../helpers/named-netns.js';
import { CLI, ROOT } from '../helpers/paths.js';
import { withRulesDir } from '../helpers/rules-dir.js';
import { listen } from './helpers/veth-pair.js';

// Issue 3, "Traffic": the ruleset nfgit applies is the one packets meet. A server namespace (the apply
// target) and a client namespace joined by a veth pair; TCP connections from the client tell which
// ports the server's INPUT chain lets through, for IPv4 and IPv6.

const SRV4 = '10.250.0.1';
const CLI4 = '10.250.0.2';
const SRV6 = 'fd00:250::1';
const CLI6 = 'fd00:250::2';
const PORT_A = 7001;
const PORT_B = 7002;

/** Joins two namespaces with a veth pair made inside them (the host's namespace never sees it). */
async function link(srv: string, cli: string): Promise<void> {
  const ip = (...args: string[]) => execa('ip', args);
  await ip('-n', srv, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1', 'netns', cli);
  for (const [ns, dev, a4, a6] of [
    [srv, 'v0', SRV4, SRV6],
    [cli, 'v1', CLI4, CLI6],
  ] as const) {
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
    await ip('-n', ns, 'addr', 'add', `${a4}/24`, 'dev', dev);
    // nodad: the address is usable at once instead of after duplicate address detection.
    await ip('-n', ns, 'addr', 'add', `${a6}/64`, 'dev', dev, 'nodad');
    await ip('-n', ns, 'link', 'set', dev, 'up');
  }
}

// Connects to every [host, port] at once with a short timeout; prints "open", "timeout" or the error code of each.
const CLIENT = `
const net = require('net');
const targets = JSON.parse(process.argv[1]);
Promise.all(targets.map(([host, port]) => new Promise((resolve) => {
  const s = net.connect({ host, port });
  const timer = setTimeout(() => done('timeout'), 1500);
  function done(r) { clearTimeout(timer); s.destroy(); resolve(r); }
  s.on('connect', () => done('open'));
  s.on('error', (e) => done(e.code));
}))).then((r) => console.log(JSON.stringify(r)));`;

/** What a connection from the client namespace to each server port does, keyed "host port". */
async function probe(cli: string): Promise<Record<string, string>> {
  const targets = [SRV4, SRV6].flatMap((host) => [PORT_A, PORT_B].map((port) => [host, port] as const));
  const out = await inNetns(cli, [process.execPath, '-e', CLIENT, JSON.stringify(targets)]);
  const results = JSON.parse(out) as string[];
  return Object.fromEntries(targets.map(([host, port], i) => [`${host} ${port}`, results[i] ?? '?']));
}

const expectAll = (a: string, b: string): Record<string, string> => ({
  [`${SRV4} ${PORT_A}`]: a,
  [`${SRV4} ${PORT_B}`]: b,
  [`${SRV6} ${PORT_A}`]: a,
  [`${SRV6} ${PORT_B}`]: b,
});

const BASE = `for ipt in iptables ip6tables; do
  $ipt -P INPUT DROP
  $ipt -A INPUT -i lo -j ACCEPT
  $ipt -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
done
# IPv6 needs neighbour discovery through a DROP policy
for type in neighbour-solicitation neighbour-advertisement; do
  ip6tables -A INPUT -p ipv6-icmp --icmpv6-type $type -j ACCEPT
done
open_port() {
  for ipt in iptables ip6tables; do
    $ipt -A INPUT -p tcp --dport $1 -j ACCEPT
  done
}
`;

test('after apply an allowed port connects and a blocked one does not, for IPv4 and IPv6; a refused apply changes nothing', (t) =>
  withNamedNetns(2, async ([srv = '', cli = '']) => {
    const state = await mkdtemp(path.join(tmpdir(), 'nfgit-state-'));
    let server: ChildProcess | undefined;
    try {
      await link(srv, cli);
      server = await listen(srv, PORT_A, PORT_B);
      t.deepEqual(await probe(cli), expectAll('open', 'open'), 'without rules both ports connect');

      await withRulesDir({ '10-base': BASE, '20-open': `open_port ${PORT_A}\n` }, async (dir) => {
        const r = await execa('node', [CLI, 'apply', '--rules', dir, '--netns', srv, '--state-dir', state], { reject: false, cwd: ROOT });
        t.is(r.exitCode, 0, r.stderr);
      });
      t.deepEqual(await probe(cli), expectAll('open', 'timeout'), 'after apply: port A connects, port B is dropped');
      const applied = await savesOf(srv);
      const lastGood = await readFile(path.join(state, 'last-good.json'), 'utf8');

      // The bad rules would open port B in both families, but ip6tables refuses a misspelt option
      // (a kernel-side error: staging catches it), so nothing is applied.
      const bad = {
        '10-base': BASE,
        '20-open': `open_port ${PORT_A}\nopen_port ${PORT_B}\nip6tables -A INPUT -p tcp --dporrt 7003 -j ACCEPT\n`,
      };
      await withRulesDir(bad, async (dir) => {
        const r = await execa('node', [CLI, 'apply', '--rules', dir, '--netns', srv, '--state-dir', state], { reject: false, cwd: ROOT });
        t.is(r.exitCode, 1);
        t.is(r.stderr, `${dir}/20-open:3: ip6tables: unknown option "--dporrt"`);
      });
      t.deepEqual(await savesOf(srv), applied, 'the refused apply left both families as they were');
      t.deepEqual(
        await probe(cli),
        expectAll('open', 'timeout'),
        'after the refused apply: port A still connects, port B is still dropped',
      );
      t.is(await readFile(path.join(state, 'last-good.json'), 'utf8'), lastGood, 'the last good ruleset is still the applied one');
    } finally {
      server?.kill('SIGKILL');
      await rm(state, { recursive: true, force: true });
    }
  }));
