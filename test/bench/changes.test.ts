// The bench's rule directories: every calls variant and every change makes the rules it says (counted
// by a real zsh run of count.zsh), calls are written the way the variant says, and a change edits
// only what it names. The bench itself checks that the compiled rulesets agree.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHANGES, changedRules } from './changes.js';
import { generateRules, MIN_RULES, writeRules, type Generated } from './generate.js';
import { splitRule } from './incremental.js';

const COUNT = fileURLToPath(new URL('../../../test/bench/count.zsh', import.meta.url));

/** "V4 V6" as count.zsh counts the rule-adding calls of a generated directory. */
function counted(g: Generated): string {
  const dir = mkdtempSync(join(tmpdir(), 'nfgit-bench-test-'));
  try {
    writeRules(dir, g);
    const r = spawnSync('zsh', ['-f', COUNT, dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`count.zsh: ${r.stderr}`);
    return r.stdout.trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const text = (g: Generated): string => g.files.map(([, t]) => t).join('\n');

for (const calls of ['mixed', 'literal', 'variables'] as const) {
  test(`calls ${calls}: ${MIN_RULES * 5} rules, 80% IPv4`, (t) => {
    const g = generateRules(MIN_RULES * 5, { calls });
    t.is(counted(g), `${g.v4} ${g.v6}`);
    t.is(g.v4 + g.v6, MIN_RULES * 5);
  });
}

test('literal calls name the command in every call; calls through variables never do', (t) => {
  t.notRegex(text(generateRules(1000, { calls: 'literal' })), /^\s*\$\w+ -/m);
  t.notRegex(text(generateRules(1000, { calls: 'variables' })), /^\s*ip6?tables /m);
  t.regex(text(generateRules(1000, { calls: 'variables' })), /^\s*\$cmd -t nat -A /m);
});

for (const change of CHANGES) {
  test(`change ${change}: the rule count it says, only the files it needs`, (t) => {
    const base = generateRules(1000);
    const c = changedRules(1000, change);
    t.is(counted(c.generated), `${c.generated.v4} ${c.generated.v6}`);
    t.is(c.generated.v4 + c.generated.v6, 1000 + (change === 'add' ? 1 : change === 'delete' ? -1 : 0));
    const edited = c.generated.files
      .filter(([name, body], i) => base.files[i]?.[0] !== name || base.files[i]?.[1] !== body)
      .map(([name]) => name);
    t.deepEqual(edited, change === 'replace' ? ['55-ssh'] : ['00-vars']);
  });
}

test('the 1% change edits about 1% of the rules over several chains', (t) => {
  const c = changedRules(50000, 'percent');
  t.true(c.changed >= 450 && c.changed <= 550, `${c.changed} rules`);
  t.regex(c.what, /over 12 address lists/);
});

const splits: Array<[string, string[]]> = [
  ['-A INPUT -i lo -j ACCEPT', ['-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT']],
  [
    '-A B -s 1.2.3.0/28 -m comment --comment "blocklist 1.2.3.0/28" -j DROP',
    ['-A', 'B', '-s', '1.2.3.0/28', '-m', 'comment', '--comment', 'blocklist 1.2.3.0/28', '-j', 'DROP'],
  ],
  ['-A B -m comment --comment "x\\"y" -j DROP', ['-A', 'B', '-m', 'comment', '--comment', 'x"y', '-j', 'DROP']],
  ['-A B -m comment --comment "" -j DROP', ['-A', 'B', '-m', 'comment', '--comment', '', '-j', 'DROP']],
];
for (const [line, words] of splits) test(`splitRule: ${line}`, (t) => t.deepEqual(splitRule(line), words));
