/**
 * The generation of a namespace's ruleset (netfilter/generation.ts), read from the real kernel in
 * scratch namespaces: one more at every commit (an iptables call, each table block of a restore), none
 * for a save; a namespace made again under the same name has another cookie; the legacy backend has
 * no generation.
 */
import test from 'ava';
import { execa } from 'execa';
import {
  afterOwnCommits,
  commitsOf,
  readGeneration,
  sameGeneration,
  startGenerationReader,
  type Generation,
} from '../../src/netfilter/generation.js';
import { withNamedNetns } from '../helpers/named-netns.js';

const NFT = { kind: 'nf_tables', nft: undefined } as const;
const inNs = (ns: string, argv: string[], input?: string) =>
  execa('ip', ['netns', 'exec', ns, ...argv], input === undefined ? {} : { input });

async function gen(ns: string): Promise<Generation> {
  const g = await readGeneration({ netns: ns }, NFT);
  if (g === undefined) throw new Error(`no generation in ${ns}`);
  return g;
}

test('one more at every commit: an iptables call, each table block of a restore; a save commits nothing', (t) =>
  withNamedNetns(1, async ([ns]) => {
    const a = await gen(ns as string);
    t.regex(a.boot, /^[0-9a-f-]{36}$/);
    t.regex(a.netns, /^\d+$/);
    await inNs(ns as string, ['iptables', '-A', 'INPUT', '-j', 'ACCEPT']);
    const b = await gen(ns as string);
    t.is(b.gen, a.gen + 1);
    t.deepEqual({ ...b, gen: 0 }, { ...a, gen: 0 }, 'the same boot and namespace');
    const text = '*filter\n-A INPUT -j DROP\nCOMMIT\n*nat\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n';
    t.is(commitsOf(text), 2);
    await inNs(ns as string, ['iptables-restore', '--noflush'], text);
    const c = await gen(ns as string);
    t.deepEqual(afterOwnCommits(b, c, commitsOf(text)), c, 'the restore made every commit since');
    await inNs(ns as string, ['iptables-save', '-c']);
    await inNs(ns as string, ['ip6tables-save', '-c']);
    t.true(sameGeneration(c, await gen(ns as string)), 'a save changes nothing');
    // Another program's commit between the two readings: the restores did not make every commit.
    await inNs(ns as string, ['ip6tables-restore', '--noflush'], '*filter\n-A INPUT -j DROP\nCOMMIT\n');
    await inNs(ns as string, ['ip6tables', '-A', 'INPUT', '-j', 'ACCEPT']);
    t.is(afterOwnCommits(c, await gen(ns as string), 1), undefined);
  }));

test('a namespace made again under the same name has another cookie, even at the same generation', (t) =>
  withNamedNetns(1, async ([ns]) => {
    const name = ns as string;
    await inNs(name, ['iptables', '-A', 'INPUT', '-j', 'ACCEPT']);
    const a = await gen(name);
    await execa('ip', ['netns', 'del', name]);
    await execa('ip', ['netns', 'add', name]);
    await inNs(name, ['iptables', '-A', 'INPUT', '-j', 'DROP']);
    const b = await gen(name);
    t.is(b.gen, a.gen, 'the same number of commits');
    t.not(b.netns, a.netns);
    t.false(sameGeneration(a, b));
    t.is(afterOwnCommits(a, b, 0), undefined);
  }));

test('the legacy backend commits nothing to nf_tables: no generation', async (t) => {
  t.is(await readGeneration({ netns: undefined }, { kind: 'legacy', nft: undefined }), undefined);
  t.false(sameGeneration(undefined, undefined));
});

test('a reader started ahead reads what readGeneration reads, a commit later one more; closed, it ends and reads nothing', (t) =>
  withNamedNetns(1, async ([ns]) => {
    const target = { netns: ns as string };
    const reader = startGenerationReader(target);
    try {
      const a = await reader.read(NFT);
      t.deepEqual(a, await gen(ns as string));
      await inNs(ns as string, ['iptables', '-A', 'INPUT', '-j', 'ACCEPT']);
      const [b, c] = await Promise.all([reader.read(NFT), reader.read(NFT)]);
      t.is(b?.gen, (a?.gen ?? NaN) + 1);
      t.deepEqual(c, b, 'two readings asked at once, each answered');
      t.is(await reader.read({ kind: 'legacy', nft: undefined }), undefined, 'the legacy backend has none');
      t.not((await execa('ip', ['netns', 'pids', ns as string])).stdout.trim(), '', 'the reader runs in the namespace');
    } finally {
      reader.close();
    }
    t.is(await reader.read(NFT), undefined);
    // Its process ends: nothing is left in the namespace (polled: the reader gives no handle on it).
    let left = 'not read yet';
    for (let i = 0; i < 200 && left !== ''; i++) {
      left = (await execa('ip', ['netns', 'pids', ns as string])).stdout.trim();
      if (left !== '') await new Promise((resolve) => setTimeout(resolve, 50));
    }
    t.is(left, '', 'no process of the reader left');
  }));
