import test from 'ava';
import { readdirSync, existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compile } from '../helpers/compile.js';
import { loadAndSave, normalizeSave, realRun } from '../helpers/netns.js';
import { limiter } from '../helpers/limit.js';
import { ROOT } from '../helpers/paths.js';

// BRIEF invariant 1: for rule files the real tools accept, loading nfgit's output gives the same
// iptables-save and ip6tables-save as running them one command at a time in a fresh namespace.

const limit = limiter(2);
const casesDir = path.join(ROOT, 'test/oracle/cases');
const cases = existsSync(casesDir) ? readdirSync(casesDir).sort() : [];

async function assertSameAsReal(t: import('ava').ExecutionContext, dir: string): Promise<void> {
  const [real, ours] = await Promise.all([
    realRun(dir),
    compile({ rulesDir: dir, host: 'testhost' }).then((r) => loadAndSave(r.ipv4.text, r.ipv6.text)),
  ]);
  t.is(normalizeSave(ours.ipv4), normalizeSave(real.ipv4), 'IPv4 differs from the real run');
  t.is(normalizeSave(ours.ipv6), normalizeSave(real.ipv6), 'IPv6 differs from the real run');
}

test('the corpus has at least 60 cases', (t) => {
  t.true(cases.length >= 60, `only ${cases.length} cases`);
});

for (const name of cases) {
  test(`oracle: ${name}`, (t) => limit(() => assertSameAsReal(t, path.join(casesDir, name))));
}

const GENERATED = Number(process.env['NFGIT_ORACLE_SEEDS'] ?? 40);
const generator = path.join(ROOT, 'dist/test/oracle/generate.js');
if (existsSync(generator)) {
  for (let seed = 1; seed <= GENERATED; seed++) {
    test(`oracle: generated seed ${seed}`, (t) =>
      limit(async () => {
        const { generateCase } = (await import(generator)) as { generateCase: (seed: number) => Record<string, string> };
        const dir = await mkdtemp(path.join(tmpdir(), `nfgit-gen-${seed}-`));
        try {
          for (const [name, text] of Object.entries(generateCase(seed))) await writeFile(path.join(dir, name), text);
          await assertSameAsReal(t, dir);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }));
  }
  // The same generated scripts as bash rule files (issue 10 §3): the first file names bash, so the
  // directory runs in bash, compared with real bash running the same files.
  const BASH_SEEDS = Number(process.env['NFGIT_ORACLE_BASH_SEEDS'] ?? 12);
  for (let seed = 101; seed <= 100 + BASH_SEEDS; seed++) {
    test(`oracle: generated seed ${seed} in bash`, (t) =>
      limit(async () => {
        const { generateCase } = (await import(generator)) as { generateCase: (seed: number) => Record<string, string> };
        const dir = await mkdtemp(path.join(tmpdir(), `nfgit-gen-bash-${seed}-`));
        try {
          for (const [i, [name, text]] of Object.entries(generateCase(seed)).entries())
            await writeFile(path.join(dir, name), i === 0 ? `#!/bin/bash\n${text}` : text);
          await assertSameAsReal(t, dir);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }));
  }
}
