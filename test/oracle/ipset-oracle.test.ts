import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compile } from '../helpers/compile.js';
import { asNfgitErrors } from '../../src/errors/errors.js';
import { formatLocation } from '../../src/errors/source-location.js';
import { runInScratchNetns } from '../../src/util/sandbox.js';
import { stage } from '../../src/netfilter/stage.js';
import { normalizeSave } from '../helpers/netns.js';
import { limiter } from '../helpers/limit.js';
import { ROOT } from '../helpers/paths.js';

// BRIEF invariant 1 with sets: the real ipset and iptables run one command at a time in a fresh
// namespace, against nfgit's ipsets + rules.v4 + rules.v6 loaded into another fresh namespace.

const limit = limiter(2);
const casesDir = path.join(ROOT, 'test/oracle/ipset-cases');
const cases = existsSync(casesDir) ? readdirSync(casesDir).sort() : [];

const SAVE_ALL = `ipset save && printf '\\n@@v4@@\\n' && iptables-save && printf '\\n@@v6@@\\n' && ip6tables-save`;

interface Saved {
  readonly sets: string;
  readonly ipv4: string;
  readonly ipv6: string;
}

function split(stdout: string): Saved {
  const [sets = '', rest = ''] = stdout.split('\n@@v4@@\n');
  const [ipv4 = '', ipv6 = ''] = rest.split('\n@@v6@@\n');
  return { sets, ipv4, ipv6 };
}

/** `ipset save` without the random initval, sets by name, members sorted. */
export function normalizeSets(text: string): string {
  const sets = new Map<string, { create: string; adds: string[] }>();
  for (const line of text.split('\n')) {
    const m = /^(create|add) (\S+) (.*)$/.exec(line);
    if (m === null) continue;
    if (m[1] === 'create') sets.set(m[2] as string, { create: line.replace(/ initval 0x[0-9a-f]+/, ''), adds: [] });
    else sets.get(m[2] as string)?.adds.push(line);
  }
  return [...sets.keys()]
    .sort()
    .flatMap((k) => {
      const s = sets.get(k) as { create: string; adds: string[] };
      return [s.create, ...s.adds.sort()];
    })
    .join('\n');
}

async function realRun(dir: string): Promise<Saved> {
  const script = `cd "$1" && env -i LC_ALL=C PATH="$PATH" HOME=/nonexistent NFGIT_HOST=testhost NFGIT_RULES_DIR="$1" zsh -fc '
emulate -R zsh; setopt errexit
main() { : }
for f in "$1"/*(N.on); do . $f; done' nfgit-oracle "$1" >&2 && ${SAVE_ALL}`;
  const r = await runInScratchNetns(script, [dir], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`the real run of ${dir} failed (${r.code}): ${r.stderr.slice(-2000)}`);
  return split(r.stdout);
}

async function oursLoaded(dir: string): Promise<Saved> {
  const c = await compile({ rulesDir: dir, host: 'testhost' });
  const tmp = await mkdtemp(path.join(tmpdir(), 'nfgit-ipset-oracle-'));
  try {
    await writeFile(path.join(tmp, 'ipsets'), c.ipsets.text);
    await writeFile(path.join(tmp, 'v4'), c.ipv4.text);
    await writeFile(path.join(tmp, 'v6'), c.ipv6.text);
    const r = await runInScratchNetns(
      `ipset restore -file "$1/ipsets" && iptables-restore "$1/v4" && ip6tables-restore "$1/v6" && ${SAVE_ALL}`,
      [tmp],
      { timeoutMs: 120_000 },
    );
    if (r.code !== 0) throw new Error(`loading nfgit's output failed (${r.code}): ${r.stderr.slice(-2000)}`);
    return split(r.stdout);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

test('the set corpus has cases', (t) => {
  t.true(cases.length >= 6, `only ${cases.length} cases`);
});

for (const name of cases) {
  test(`ipset oracle: ${name}`, (t) =>
    limit(async () => {
      const dir = path.join(casesDir, name);
      const [real, ours] = await Promise.all([realRun(dir), oursLoaded(dir)]);
      t.not(normalizeSets(real.sets), '', 'the case creates no set');
      t.is(normalizeSets(ours.sets), normalizeSets(real.sets), 'sets differ from the real run');
      t.is(normalizeSave(ours.ipv4), normalizeSave(real.ipv4), 'IPv4 differs from the real run');
      t.is(normalizeSave(ours.ipv6), normalizeSave(real.ipv6), 'IPv6 differs from the real run');
    }));
}

// BRIEF invariant 2 with sets: rejections at FILE:LINE, by the compiler or by staging.
const errorsDir = path.join(ROOT, 'test/oracle/ipset-errors');
const errorCases = existsSync(errorsDir) ? readdirSync(errorsDir).sort() : [];

for (const name of errorCases) {
  test(`ipset error: ${name}`, (t) =>
    limit(async () => {
      const dir = path.relative(process.cwd(), path.join(errorsDir, name)) || '.';
      const expect = JSON.parse(readFileSync(path.join(errorsDir, name, '.expect.json'), 'utf8')) as {
        command: 'compile' | 'check';
        at: string;
        message: string;
      };
      let caught: unknown;
      let compiled = false;
      try {
        const r = await compile({ rulesDir: dir, host: 'testhost' });
        compiled = true;
        await stage({ ipv4: r.ipv4, ipv6: r.ipv6 }, { ipsets: r.ipsets });
      } catch (err) {
        caught = err;
      }
      t.truthy(caught, 'the rules were accepted');
      t.is(compiled, expect.command === 'check');
      const [first] = asNfgitErrors(caught);
      if (first === undefined) return;
      t.is(first.trace[0] === undefined ? '' : formatLocation(first.trace[0]), path.join(dir, expect.at), first.format());
      t.is(first.message, expect.message);
    }));
}
