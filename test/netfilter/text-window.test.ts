import test from 'ava';
import { differingLines } from '../../src/netfilter/text-window.js';
import { diffSaves } from '../../src/netfilter/compare-saves.js';
import { parseSave, type SavedTable } from '../../src/netfilter/save-text.js';
import { mulberry32 } from '../oracle/generate.js';

test('differingLines cuts off the whole lines both texts start and end with', (t) => {
  t.deepEqual(differingLines('a\nb\nc\n', 'a\nb\nc\n'), { a: '', b: '' });
  t.deepEqual(differingLines('a\nb\nc\n', 'a\nx\nc\n'), { a: 'b\n', b: 'x\n' });
  // A difference inside a line: the whole line is in both middles.
  t.deepEqual(differingLines('a\nfoo1\nc\n', 'a\nfoo2\nc\n'), { a: 'foo1\n', b: 'foo2\n' });
  // Shared ends of lines that differ are not cut (the middles stay whole lines).
  t.deepEqual(differingLines('a\nX-tail\n', 'a\nY-tail\n'), { a: 'X-tail\n', b: 'Y-tail\n' });
  t.deepEqual(differingLines('a\nb\n', 'a\nb\nb\n'), { a: '', b: 'b\n' });
  t.deepEqual(differingLines('', 'x\n'), { a: '', b: 'x\n' });
  t.deepEqual(differingLines('x\ny\n', ''), { a: 'x\ny\n', b: '' });
});

test('differingLines on generated texts: prefix + middle + suffix, whole lines, at every chunk size', (t) => {
  const next = mulberry32(7);
  const words = ['-A INPUT -j ACCEPT', '-A web -p tcp --dport 80 -j ACCEPT', ':INPUT DROP [0:0]', 'COMMIT', '*filter', ''];
  const line = (): string => `${words[Math.floor(next() * words.length)] ?? ''}${next() < 0.3 ? ` ${Math.floor(next() * 5)}` : ''}`;
  for (let round = 0; round < 300; round++) {
    // Long enough in some rounds for the 4096-character comparisons.
    const n = Math.floor(next() * (round % 3 === 0 ? 2000 : 20));
    const base = Array.from({ length: n }, line);
    const other = [...base];
    for (let k = Math.floor(next() * 4); k > 0; k--) {
      const at = Math.floor(next() * (other.length + 1));
      if (next() < 0.5) other.splice(at, 1);
      else other.splice(at, 0, line());
    }
    const a = base.map((l) => `${l}\n`).join('');
    const b = other.map((l) => `${l}\n`).join('');
    const mid = differingLines(a, b);
    // a = P + mid.a + S and b = P + mid.b + S, with P and S whole lines.
    let found = false;
    for (let p = 0; p <= Math.min(a.length, b.length) && !found; p = a.indexOf('\n', p) + 1 || Infinity) {
      if (a.slice(0, p) !== b.slice(0, p)) break;
      const s = a.slice(p + mid.a.length);
      if (a.slice(p, p + mid.a.length) === mid.a && b.slice(p, p + mid.b.length) === mid.b && b.slice(p + mid.b.length) === s) found = true;
    }
    t.true(found, `round ${round}`);
    // Nothing shared is left at the ends of both middles (a whole line, at either end).
    const first = (s: string): string => s.slice(0, s.indexOf('\n') + 1);
    const last = (s: string): string => s.slice(s.lastIndexOf('\n', s.length - 2) + 1);
    if (mid.a !== '' && mid.b !== '') {
      t.not(first(mid.a), first(mid.b), `round ${round}: a shared first line left`);
      t.not(last(mid.a), last(mid.b), `round ${round}: a shared last line left`);
    }
  }
});

/** diffSaves as it was before it cut shared lines off: every rule of both saves parsed and counted. */
function diffSavesWhole(before: string, after: string): ReturnType<typeof diffSaves> {
  const a = parseSave(before);
  const b = parseSave(after);
  const out = {
    chainsAdded: [] as string[],
    chainsRemoved: [] as string[],
    rulesAdded: 0,
    rulesRemoved: 0,
    policiesChanged: [] as string[],
  };
  const decl = (t: SavedTable | undefined): Map<string, string> =>
    new Map((t?.chains ?? []).map((c) => c.slice(1).split(' ') as [string, string]));
  const minus = (x: readonly string[], y: readonly string[]): number => {
    const count = new Map<string, number>();
    for (const v of y) count.set(v, (count.get(v) ?? 0) + 1);
    let n = 0;
    for (const v of x) {
      const c = count.get(v) ?? 0;
      if (c > 0) count.set(v, c - 1);
      else n++;
    }
    return n;
  };
  for (const name of new Set([...a.keys(), ...b.keys()])) {
    const da = decl(a.get(name));
    const db = decl(b.get(name));
    for (const [c, p] of db) {
      if (!da.has(c)) {
        if (p === '-') out.chainsAdded.push(`${name}/${c}`);
      } else if (da.get(c) !== p) out.policiesChanged.push(`${name}/${c}`);
    }
    for (const [c, p] of da) if (!db.has(c) && p === '-') out.chainsRemoved.push(`${name}/${c}`);
    out.rulesAdded += minus(b.get(name)?.rules ?? [], a.get(name)?.rules ?? []);
    out.rulesRemoved += minus(a.get(name)?.rules ?? [], b.get(name)?.rules ?? []);
  }
  return out;
}

test('diffSaves counts the same as parsing both saves whole (generated saves with counters, chains, policies)', (t) => {
  const next = mulberry32(11);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
  const save = (chains: string[], rules: string[], policy: string, tables: string[]): string =>
    tables
      .map(
        (tb) =>
          `*${tb}\n:INPUT ${policy} [${Math.floor(next() * 3)}:0]\n:OUTPUT ACCEPT [0:0]\n${chains.map((c) => `:${c} - [0:0]\n`).join('')}${rules.map((r) => `${next() < 0.1 ? '[1:2] ' : ''}${r}\n`).join('')}COMMIT\n`,
      )
      .join('');
  for (let round = 0; round < 300; round++) {
    const chains = ['web', 'ssh', 'db'].filter(() => next() < 0.7);
    const rule = (): string =>
      `-A ${pick(['INPUT', ...chains])} -p tcp --dport ${Math.floor(next() * 6)} -j ${pick(['ACCEPT', 'DROP', ...chains])}`;
    const rules = Array.from({ length: Math.floor(next() * (round % 4 === 0 ? 600 : 12)) }, rule);
    const after = [...rules];
    for (let k = Math.floor(next() * 4); k > 0; k--) {
      const at = Math.floor(next() * (after.length + 1));
      if (next() < 0.5) after.splice(at, 1);
      else after.splice(at, 0, rule());
    }
    const chainsAfter = next() < 0.2 ? [...chains, 'new'] : next() < 0.2 ? chains.slice(1) : chains;
    const tablesA = next() < 0.8 ? ['filter', 'nat'] : ['filter'];
    const tablesB = next() < 0.8 ? ['filter', 'nat'] : ['nat'];
    const before = `# Generated by iptables-save\n${save(chains, rules, 'DROP', tablesA)}# Completed\n`;
    const now = save(chainsAfter, after, next() < 0.2 ? 'ACCEPT' : 'DROP', tablesB);
    t.deepEqual(diffSaves(before, now), diffSavesWhole(before, now), `round ${round}`);
  }
});
