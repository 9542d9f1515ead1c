/**
 * The incremental path (apply-path.ts, netfilter/increment.ts), proven against the whole ruleset: the
 * same change applied as a difference and applied whole to a fresh namespace must leave the same
 * ruleset (the oracle: iptables-save of both). Unchanged rules keep their counters; drift, --full and a
 * first apply reload the whole ruleset and say why; a change the kernel refuses in context is refused
 * at staging with its FILE:LINE, and the namespace keeps its ruleset.
 */
import test, { type ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { normalizeSave } from '../helpers/netns.js';
import { mulberry32 } from '../oracle/generate.js';
import { withRulesDir } from '../helpers/rules-dir.js';
import { inNs, nfgit, saveNs, withNetns, withTempDir } from './helpers/netns-apply.js';

interface Outcome {
  readonly exitCode: number | undefined;
  readonly path?: { kind: 'incremental' | 'full'; reason?: string; changes?: number };
  /** Its error output and, with --json, what it printed (errors included). */
  readonly stderr: string;
}

/** `nfgit apply --json` (with `extra` flags) of rules (one file) into a namespace with a state directory. */
async function applyJson(rules: string, ns: string, state: string, extra: string[] = []): Promise<Outcome> {
  return withRulesDir({ '10-rules': rules }, async (dir) => {
    const r = await nfgit(['apply', '--rules', dir, '--netns', ns, '--state-dir', state, '--json', ...extra]);
    const out = String(r.stdout).trim();
    const json = out === '' ? {} : (JSON.parse(out) as { path?: Outcome['path'] });
    return { exitCode: r.exitCode, stderr: `${String(r.stderr)}${out}`, ...(json.path === undefined ? {} : { path: json.path }) };
  });
}

/** A ruleset as data: user chains with their rules, INPUT's rules (jumps among them), policies, nat rules. */
interface Model {
  chains: Map<string, string[]>;
  input: string[];
  policy: string;
  nat: string[];
  v6: string[];
}

function rule(r: () => number): string {
  const port = 1 + Math.floor(r() * 60000);
  const kinds = [
    `-p tcp --dport ${port} -j ACCEPT`,
    `-p udp --dport ${port} -j DROP`,
    `-s 10.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}.0/24 -j ACCEPT`,
    `-p tcp -m multiport --dports ${port},${port + 1} -m comment --comment "svc ${port}" -j ACCEPT`,
    `-m conntrack --ctstate NEW -p tcp --dport ${port} -j LOG --log-prefix "in ${port}: "`,
  ];
  return kinds[Math.floor(r() * kinds.length)] as string;
}

function baseModel(r: () => number): Model {
  const chains = new Map<string, string[]>();
  const n = 2 + Math.floor(r() * 3);
  for (let i = 0; i < n; i++)
    chains.set(
      `C${i}`,
      Array.from({ length: 3 + Math.floor(r() * 8) }, () => rule(r)),
    );
  const input = ['-i lo -j ACCEPT', ...[...chains.keys()].map((c) => `-p tcp -j ${c}`), rule(r)];
  const nat = Array.from({ length: 2 }, (_, i) => `-p tcp --dport ${8000 + i} -j REDIRECT --to-ports ${80 + i}`);
  const v6 = Array.from({ length: 4 }, () => rule(r).replace(/-s 10\.\d+\.\d+\.0\/24/, '-s 2001:db8::/64'));
  return { chains, input, policy: 'ACCEPT', nat, v6 };
}

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

/** One random edit of the model: a rule added, removed, replaced or moved; a chain added or removed; a policy. */
function mutate(m: Model, r: () => number): void {
  const names = [...m.chains.keys()];
  const chain = m.chains.get(pick(r, names)) as string[];
  const at = Math.floor(r() * (chain.length + 1));
  switch (Math.floor(r() * 8)) {
    case 0:
      chain.splice(at, 0, rule(r));
      break;
    case 1:
      if (chain.length > 1) chain.splice(at % chain.length, 1);
      break;
    case 2:
      chain[at % chain.length] = rule(r);
      break;
    case 3: {
      const [moved] = chain.splice(at % chain.length, 1);
      chain.splice(Math.floor(r() * (chain.length + 1)), 0, moved as string);
      break;
    }
    case 4: {
      const name = `N${Math.floor(r() * 1000)}`;
      if (m.chains.has(name)) break;
      m.chains.set(name, [rule(r), rule(r)]);
      m.input.splice(1, 0, `-p udp -j ${name}`);
      break;
    }
    case 5: {
      if (names.length < 2) break;
      const gone = names[names.length - 1] as string;
      m.chains.delete(gone);
      m.input = m.input.filter((x) => !x.endsWith(` -j ${gone}`));
      break;
    }
    case 6:
      m.policy = m.policy === 'ACCEPT' ? 'DROP' : 'ACCEPT';
      m.nat[0] = `-p tcp --dport ${9000 + Math.floor(r() * 100)} -j REDIRECT --to-ports 80`;
      break;
    default:
      m.v6.splice(Math.floor(r() * m.v6.length), 1, rule(r).replace(/-s 10\.\d+\.\d+\.0\/24/, '-s 2001:db8::/64'));
  }
}

function clone(m: Model): Model {
  return {
    chains: new Map([...m.chains].map(([k, v]) => [k, [...v]])),
    input: [...m.input],
    policy: m.policy,
    nat: [...m.nat],
    v6: [...m.v6],
  };
}

/** The rule file of a model, as an admin writes it. */
function script(m: Model): string {
  const lines = [`iptables -P FORWARD ${m.policy}`];
  for (const c of m.chains.keys()) lines.push(`iptables -N ${c}`);
  for (const [c, rules] of m.chains) for (const x of rules) lines.push(`iptables -A ${c} ${x}`);
  for (const x of m.input) lines.push(`iptables -A INPUT ${x}`);
  for (const x of m.nat) lines.push(`iptables -t nat -A PREROUTING ${x}`);
  for (const x of m.v6) lines.push(`ip6tables -A INPUT ${x}`);
  return lines.join('\n') + '\n';
}

/** Applies `before`, then `after` as a difference; and `after` whole into a fresh namespace: both saves must agree. */
async function sameAsWhole(t: ExecutionContext, before: string, after: string, label: string): Promise<void> {
  await withNetns((ns) =>
    withTempDir('nfgit-state-', async (state) => {
      const first = await applyJson(before, ns, state);
      t.is(first.exitCode, 0, first.stderr);
      t.is(first.path?.kind, 'full', `${label}: the first apply loads the whole ruleset`);
      const second = await applyJson(after, ns, state);
      t.is(second.exitCode, 0, second.stderr);
      t.is(second.path?.kind, 'incremental', `${label}: ${JSON.stringify(second.path)}`);
      const incremental = await saveNs(ns);
      // What was recorded is what runs: applying the same rules again changes nothing, and is no drift.
      const again = await applyJson(after, ns, state);
      t.deepEqual(again.path, { kind: 'incremental', changes: 0 }, `${label}: the recorded canonical form is the live one`);
      const whole = await withNetns((fresh) =>
        withTempDir('nfgit-state-', async (other) => {
          const r = await applyJson(after, fresh, other, ['--full']);
          t.is(r.exitCode, 0, r.stderr);
          return saveNs(fresh);
        }),
      );
      t.is(normalizeSave(incremental.ipv4), normalizeSave(whole.ipv4), `${label}: IPv4 as the whole ruleset leaves it`);
      t.is(normalizeSave(incremental.ipv6), normalizeSave(whole.ipv6), `${label}: IPv6 as the whole ruleset leaves it`);
    }),
  );
}

test('oracle: random changes (rules added, removed, replaced, moved; chains added and removed; policies) applied as a difference leave what the whole ruleset leaves', async (t) => {
  for (let seed = 1; seed <= 10; seed++) {
    const r = mulberry32(seed);
    const base = baseModel(r);
    const next = clone(base);
    const edits = 1 + Math.floor(r() * 4);
    for (let i = 0; i < edits; i++) mutate(next, r);
    await sameAsWhole(t, script(base), script(next), `seed ${seed}`);
  }
});

test('hand-written changes: a rule inserted at the top, the last rule removed, a chain renamed with its jump, a rule whose quoting changes', async (t) => {
  const base = `iptables -N WEB
iptables -A WEB -p tcp --dport 80 -j ACCEPT
iptables -A WEB -p tcp --dport 443 -m comment --comment "tls 'x'" -j ACCEPT
iptables -A INPUT -i lo -j ACCEPT
iptables -A INPUT -j WEB
iptables -A INPUT -j DROP
`;
  await sameAsWhole(t, base, `iptables -A INPUT -s 192.0.2.1 -j ACCEPT\n${base}`, 'insert at the top');
  await sameAsWhole(t, base, base.replace('iptables -A INPUT -j DROP\n', ''), 'last rule removed');
  await sameAsWhole(t, base, base.replaceAll('WEB', 'HTTP'), 'chain renamed');
  await sameAsWhole(t, base, base.replace(`"tls 'x'"`, `"tls \\"y\\" z"`), 'quoting');
  // Runs of rules changed in place (an address changed in a list makes one a port): -R a pair, then -D or -I.
  const ports = (addresses: string[]): string =>
    addresses.map((a) => `for p in 80 443 8080; do iptables -A WEB -s ${a} -p tcp --dport $p -j ACCEPT; done\n`).join('');
  const lists = `iptables -N WEB\n${ports(['192.0.2.1', '192.0.2.2', '192.0.2.3'])}iptables -A INPUT -j WEB\n`;
  await sameAsWhole(t, lists, lists.replace('192.0.2.2', '198.51.100.2'), 'three rules changed in place');
  await sameAsWhole(
    t,
    lists,
    lists.replace(' 443 8080; do iptables -A WEB -s 192.0.2.2', ' 8080; do iptables -A WEB -s 198.51.100.2'),
    'three removed, two added',
  );
  await sameAsWhole(
    t,
    lists,
    lists.replace('80 443 8080; do iptables -A WEB -s 192.0.2.3', '80 443 8080 8443 9443; do iptables -A WEB -s 198.51.100.3'),
    'three removed, five added at the end',
  );
});

test('counters: a rule the change leaves alone keeps its packet and byte counters; --full resets them', async (t) => {
  const base = `iptables -A INPUT -i lo -j ACCEPT\niptables -A INPUT -p tcp --dport 22 -j ACCEPT\n`;
  await withNetns((ns) =>
    withTempDir('nfgit-state-', async (state) => {
      t.is((await applyJson(base, ns, state)).exitCode, 0);
      await inNs(ns, ['iptables', '-R', 'INPUT', '1', '-c', '7', '700', '-i', 'lo', '-j', 'ACCEPT']);
      const changed = await applyJson(`${base}iptables -A INPUT -p tcp --dport 443 -j ACCEPT\n`, ns, state);
      t.deepEqual(changed.path, { kind: 'incremental', changes: 1 });
      const saved = String((await inNs(ns, ['iptables-save', '-c'])).stdout);
      t.regex(saved, /^\[7:700\] -A INPUT -i lo -j ACCEPT$/m, saved);
      const full = await applyJson(base, ns, state, ['--full']);
      t.deepEqual(full.path, { kind: 'full', reason: '--full' });
      t.regex(String((await inNs(ns, ['iptables-save', '-c'])).stdout), /^\[0:0\] -A INPUT -i lo -j ACCEPT$/m);
    }),
  );
});

test('drift: a hand-made change makes the next apply reload the whole ruleset (and say so), which repairs it', async (t) => {
  const base = `iptables -A INPUT -i lo -j ACCEPT\niptables -A INPUT -p tcp --dport 22 -j ACCEPT\n`;
  await withNetns((ns) =>
    withTempDir('nfgit-state-', async (state) => {
      const first = await applyJson(base, ns, state);
      t.regex(first.path?.reason ?? '', /no earlier apply/);
      await inNs(ns, ['iptables', '-I', 'INPUT', '-s', '203.0.113.9', '-j', 'ACCEPT']);
      const r = await applyJson(`${base}iptables -A INPUT -p tcp --dport 443 -j ACCEPT\n`, ns, state);
      t.is(r.path?.kind, 'full');
      t.regex(r.path?.reason ?? '', /drift/);
      t.notRegex((await saveNs(ns)).ipv4, /203\.0\.113\.9/);
      t.is((await applyJson(base, ns, state)).path?.kind, 'incremental');
    }),
  );
});

test('a new jump that makes an unchanged rule run in a hook it cannot run in is refused at staging with FILE:LINE, as check refuses it; nothing changes', async (t) => {
  const base = `iptables -t nat -N X
iptables -t nat -A X -p tcp -j REDIRECT --to-ports 80
iptables -t nat -A PREROUTING -j X
iptables -A INPUT -i lo -j ACCEPT
`;
  const bad = `${base}iptables -t nat -A POSTROUTING -j X\n`;
  await withNetns((ns) =>
    withTempDir('nfgit-state-', async (state) => {
      t.is((await applyJson(base, ns, state)).exitCode, 0);
      const before = await saveNs(ns);
      const r = await applyJson(bad, ns, state);
      t.is(r.exitCode, 1, r.stderr);
      const check = await withRulesDir({ '10-rules': bad }, (dir) => nfgit(['check', '--rules', dir]));
      const where = /10-rules:(\d+)/.exec(String(check.stderr));
      t.truthy(where, String(check.stderr));
      t.true(r.stderr.includes(where?.[0] as string), `apply names ${where?.[0]} as check does:\n${r.stderr}`);
      t.deepEqual(await saveNs(ns), before);
      // The state directory still records the base ruleset.
      t.regex(readFileSync(path.join(state, 'rules.v4'), 'utf8'), /REDIRECT/);
    }),
  );
});
