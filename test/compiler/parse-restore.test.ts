import test from 'ava';
import { parseRestore, restoreWords } from '../../src/compiler/parse-restore.js';

test('words are split as iptables-restore splits them: double quotes group, backslash escapes, single quotes are plain', (t) => {
  t.deepEqual(restoreWords('-A INPUT -m comment --comment "a b" -j ACCEPT'), {
    ok: true,
    words: ['-A', 'INPUT', '-m', 'comment', '--comment', 'a b', '-j', 'ACCEPT'],
  });
  t.deepEqual(restoreWords('--comment "x\\"y" --log-prefix \'z\''), { ok: true, words: ['--comment', 'x"y', '--log-prefix', "'z'"] });
  t.deepEqual(restoreWords('-A  X\t-j  Y'), { ok: true, words: ['-A', 'X', '-j', 'Y'] });
  t.like(restoreWords('--comment "open'), { ok: false });
});

test('blocks: declarations and commands with their lines; comments and blank lines skipped', (t) => {
  const r = parseRestore('# top\n*filter\n:INPUT DROP [0:0]\n:WEB - [0:0]\n\n-A WEB -j ACCEPT\nCOMMIT\n*nat\nCOMMIT\n');
  t.deepEqual(r, {
    ok: true,
    blocks: [
      {
        table: 'filter',
        line: 2,
        chains: [
          { name: 'INPUT', policy: 'DROP', line: 3 },
          { name: 'WEB', policy: '-', line: 4 },
        ],
        commands: [{ argv: ['-A', 'WEB', '-j', 'ACCEPT'], line: 6 }],
      },
      { table: 'nat', line: 8, chains: [], commands: [] },
    ],
  });
});

const refusals: Array<[string, number, RegExp]> = [
  ['-A INPUT -j ACCEPT\n', 1, /no table specified/],
  ['*filter\n-A INPUT -j ACCEPT\n', 3, /COMMIT expected at line 3/], // as iptables-restore counts: the line after the last
  ['*filter\n*nat\nCOMMIT\n', 2, /COMMIT expected at line 2/],
  ['*filter\n:BAD\nCOMMIT\n', 2, /bad chain declaration/],
];
for (const [text, line, message] of refusals) {
  test(`refused at line ${line}: ${JSON.stringify(text)}`, (t) => {
    const r = parseRestore(text);
    t.false(r.ok);
    if (r.ok) return;
    t.is(r.line, line);
    t.regex(r.message, message);
  });
}
