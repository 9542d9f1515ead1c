import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/paths.js';
import { compile } from '../helpers/compile.js';
import { withRulesDir } from '../helpers/rules-dir.js';
import { limiter } from '../helpers/limit.js';
import { normalizeSave } from '../helpers/netns.js';
import { generateCase } from '../oracle/generate.js';
import { stage } from '../../src/netfilter/stage.js';
import { splitStaging, withText, SPLIT_MIN_RULES } from '../../src/netfilter/stage-split.js';
import { asNfgitErrors } from '../../src/errors/errors.js';
import { formatLocation } from '../../src/errors/source-location.js';
import type { Family } from '../../src/compiler/parse-argv.js';
import type { RenderedRuleset } from '../../src/compiler/render-restore.js';

// Staging a large family in two namespaces (stage-split.ts): the kernel must accept and refuse exactly
// what it does for the whole ruleset, and the two saves must make the whole one's.

const limit = limiter(2);

const ruleLines = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('-A '));
const otherLines = (text: string): string[] => text.split('\n').filter((l) => l !== '' && !l.startsWith('-A ') && l !== '#');

/** Staged whole and split (every family that may be), the canonical forms of both, normalized. */
async function bothWays(rulesets: Partial<Record<Family, RenderedRuleset>>): Promise<{ whole: string[]; split: string[] }> {
  const forms = async (splitMinRules: number): Promise<string[]> => {
    const staged = await stage(rulesets, { canonical: true, splitMinRules });
    return Promise.all((['ipv4', 'ipv6'] as const).map(async (f) => normalizeSave((await staged.canonical[f]) ?? '')));
  };
  return { whole: await forms(Infinity), split: await forms(1) };
}

/** The errors of staging, formatted (message and FILE:LINE), or [] when it passed. */
async function stagingErrors(rulesets: Partial<Record<Family, RenderedRuleset>>, splitMinRules: number): Promise<string[]> {
  try {
    await stage(rulesets, { splitMinRules });
    return [];
  } catch (err) {
    return asNfgitErrors(err).map((e) => `${e.trace.length > 0 ? formatLocation(e.trace[0]!) : '?'}: ${e.message}`);
  }
}

test('a split shares out the rules that are not binding and keeps the binding ones, the declarations and COMMITs in both parts', async (t) => {
  let split = 0;
  for (let seed = 1; seed <= 30; seed++) {
    await withRulesDir(generateCase(seed), async (dir) => {
      const r = await compile({ rulesDir: dir, host: 'testhost' });
      for (const rs of [r.ipv4, r.ipv6]) {
        const s = splitStaging(rs, 1);
        if (s === undefined) continue;
        split++;
        const binding = new Set((rs.binding ?? []).map((b) => rs.text.split('\n')[b.line - 1]));
        const [a, b] = s.inputs.map(ruleLines) as [string[], string[]];
        t.deepEqual(otherLines(s.inputs[0]), otherLines(rs.text), `seed ${seed}: first part's declarations`);
        t.deepEqual(otherLines(s.inputs[1]), otherLines(rs.text), `seed ${seed}: second part's declarations`);
        // Every rule in exactly one part, or in both when binding; each part in the whole's order.
        const all = ruleLines(rs.text);
        t.deepEqual(
          a.filter((l) => !binding.has(l)).concat(b.filter((l) => !binding.has(l))),
          all.filter((l) => !binding.has(l)),
          `seed ${seed}`,
        );
        t.deepEqual(
          a.filter((l) => binding.has(l)),
          all.filter((l) => binding.has(l)),
        );
        t.deepEqual(
          b.filter((l) => binding.has(l)),
          all.filter((l) => binding.has(l)),
        );
      }
    });
  }
  t.true(split >= 20, `only ${split} rulesets split`);
});

test('the jumps and gotos to a chain of the same table are binding, and so are the rules of modules with state by name', async (t) => {
  await withRulesDir(
    {
      rules: [
        'iptables -N A',
        'iptables -N B',
        'iptables -A INPUT -p tcp -j A',
        'iptables -A A -g B',
        'iptables -A B -j ACCEPT',
        'iptables -A INPUT -m recent --name seen --set',
        'iptables -A INPUT -m hashlimit --hashlimit-name h --hashlimit-upto 5/sec -j ACCEPT',
        'iptables -A INPUT -j DROP',
        '',
      ].join('\n'),
    },
    async (dir) => {
      const r = await compile({ rulesDir: dir, host: 'testhost' });
      const lines = r.ipv4.text.split('\n');
      t.deepEqual(
        (r.ipv4.binding ?? []).map((b) => lines[b.line - 1]),
        [
          '-A INPUT -p tcp -j A',
          '-A INPUT -m recent --name seen --set',
          '-A INPUT -m hashlimit --hashlimit-name h --hashlimit-upto 5/sec -j ACCEPT',
          '-A A -g B',
        ],
      );
      for (const b of r.ipv4.binding ?? []) t.is(r.ipv4.text.slice(b.start, b.end), lines[b.line - 1] ?? '');
      // A skeleton's text has no binding lines or layout of its own.
      t.is(withText(r.ipv4, r.ipv4.text), r.ipv4);
      t.is(withText(r.ipv4, '*filter\nCOMMIT\n').binding, undefined);
      t.is(splitStaging(withText(r.ipv4, '*filter\nCOMMIT\n'), 1), undefined);
    },
  );
});

test('random rulesets staged in two parts give the canonical form of the whole', async (t) => {
  const seeds = Array.from({ length: 24 }, (_, i) => 100 + i);
  await Promise.all(
    seeds.map((seed) =>
      limit(() =>
        withRulesDir(generateCase(seed), async (dir) => {
          const r = await compile({ rulesDir: dir, host: 'testhost' });
          const { whole, split } = await bothWays({ ipv4: r.ipv4, ipv6: r.ipv6 });
          t.deepEqual(split, whole, `seed ${seed}`);
        }),
      ),
    ),
  );
});

/** Rule files with `n` filler rules between a first and a last part. */
function withFiller(first: readonly string[], n: number, last: readonly string[]): string {
  const filler = Array.from(
    { length: n },
    (_, i) => `iptables -A INPUT -s 10.${(i >> 8) & 255}.${i & 255}.0/24 -p tcp --dport ${1000 + i} -j ACCEPT`,
  );
  return [...first, ...filler, ...last, ''].join('\n');
}

test('a rule the kernel refuses only in its context (DNAT reached from POSTROUTING) is refused at the same line when split', async (t) => {
  // The jump early in the text (first part), the DNAT rule at the end of a long chain (second part).
  const rules = withFiller(
    ['iptables -t nat -N PUBLISH', 'iptables -t nat -A POSTROUTING -j PUBLISH', 'iptables -t nat -A PUBLISH -p udp --dport 1 -j ACCEPT'],
    40,
    ['iptables -t nat -A PUBLISH -p tcp --dport 80 -j DNAT --to-destination 10.0.0.1'],
  );
  await withRulesDir({ '10-nat': rules.replaceAll('iptables -A INPUT', 'iptables -t nat -A PUBLISH') }, async (dir) => {
    const r = await compile({ rulesDir: dir, host: 'testhost' });
    const s = splitStaging(r.ipv4, 1);
    t.truthy(s, 'the ruleset splits');
    // The DNAT rule is in the second part only, the jump to its chain in both.
    t.true(s?.inputs[1].includes('-j DNAT') === true && s.inputs[0].includes('-j DNAT') === false);
    for (const input of s?.inputs ?? []) t.true(input.includes('-A POSTROUTING -j PUBLISH'));
    const whole = await stagingErrors({ ipv4: r.ipv4 }, Infinity);
    t.true(whole.length > 0, 'the whole ruleset is refused');
    t.deepEqual(await stagingErrors({ ipv4: r.ipv4 }, 1), whole);
  });
});

test('a rateest match needs the RATEEST rule that makes its estimator: both stay in every part', async (t) => {
  const rules = withFiller(['iptables -A INPUT -j RATEEST --rateest-name est1 --rateest-interval 250ms --rateest-ewmalog 500ms'], 40, [
    'iptables -A INPUT -m rateest --rateest est1 --rateest-bps --rateest-gt --rateest-bps1 1mbit -j DROP',
  ]);
  await withRulesDir({ '10-rate': rules }, async (dir) => {
    const r = await compile({ rulesDir: dir, host: 'testhost' });
    const s = splitStaging(r.ipv4, 1);
    t.truthy(s);
    for (const input of s?.inputs ?? []) t.true(input.includes('RATEEST') && input.includes('-m rateest'));
    t.deepEqual(await stagingErrors({ ipv4: r.ipv4 }, 1), []);
    const { whole, split } = await bothWays({ ipv4: r.ipv4 });
    t.deepEqual(split, whole);
  });
});

test('the error corpus is refused alike, split or whole: the same messages at the same lines', async (t) => {
  const dir = path.join(ROOT, 'test/oracle/errors');
  const checked = readdirSync(dir)
    .sort()
    .filter((name) => (JSON.parse(readFileSync(path.join(dir, name, '.expect.json'), 'utf8')) as { command: string }).command === 'check');
  t.true(checked.length >= 5);
  let split = 0;
  await Promise.all(
    checked.map((name) =>
      limit(async () => {
        const r = await compile({ rulesDir: path.relative(process.cwd(), path.join(dir, name)) || '.', host: 'testhost' });
        const rulesets = { ipv4: r.ipv4, ipv6: r.ipv6 };
        if (splitStaging(r.ipv4, 1) !== undefined || splitStaging(r.ipv6, 1) !== undefined) split++;
        const whole = await stagingErrors(rulesets, Infinity);
        t.true(whole.length > 0, name);
        t.deepEqual(await stagingErrors(rulesets, 1), whole, name);
      }),
    ),
  );
  t.true(split >= 3, `only ${split} cases split`);
});

test('saves that do not fit the parts give no merge (the whole ruleset is then saved instead)', async (t) => {
  await withRulesDir({ a: withFiller(['iptables -N C', 'iptables -A INPUT -j C'], 10, ['iptables -A C -j ACCEPT']) }, async (dir) => {
    const r = await compile({ rulesDir: dir, host: 'testhost' });
    const s = splitStaging(r.ipv4, 1);
    if (s === undefined) return t.fail('no split');
    const staged = await Promise.all(
      s.inputs.map(async (input) => {
        const one = await stage({ ipv4: { ...withText(r.ipv4, input) } }, { canonical: true, splitMinRules: Infinity });
        return (await one.canonical.ipv4) ?? '';
      }),
    );
    const [a, b] = staged as [string, string];
    const merged = s.merge([a, b]);
    const whole = await stage({ ipv4: r.ipv4 }, { canonical: true, splitMinRules: Infinity });
    t.is(normalizeSave(merged ?? ''), normalizeSave((await whole.canonical.ipv4) ?? ''));
    // A rule missing from one save, one too many, a chain the input does not have, a table less.
    const dropOne = b.replace(/^-A INPUT -s 10\.0\.9\.0\/24.*\n/m, '');
    t.not(dropOne, b);
    t.is(s.merge([a, dropOne]), undefined);
    t.is(s.merge([a, b.replace('COMMIT', '-A INPUT -j DROP\nCOMMIT')]), undefined);
    t.is(s.merge([a.replace(':INPUT', ':EXTRA - [0:0]\n:INPUT'), b]), undefined);
    const tableLess = b.replace(/\*mangle\n[\s\S]*?COMMIT\n/, '');
    t.not(tableLess, b);
    t.is(s.merge([a, tableLess]), undefined);
  });
});

test(`a family of ${SPLIT_MIN_RULES} rules and more is split by default, and stages to the canonical form of the whole`, async (t) => {
  await withRulesDir(
    { a: withFiller(['iptables -N C', 'iptables -A INPUT -j C'], SPLIT_MIN_RULES + 10, ['iptables -A C -j ACCEPT']) },
    async (dir) => {
      const r = await compile({ rulesDir: dir, host: 'testhost' });
      t.truthy(splitStaging(r.ipv4));
      const { whole, split } = await bothWays({ ipv4: r.ipv4 });
      t.deepEqual(split, whole);
      const byDefault = await stage({ ipv4: r.ipv4 }, { canonical: true });
      t.is(normalizeSave((await byDefault.canonical.ipv4) ?? ''), whole[0] ?? '');
    },
  );
});
