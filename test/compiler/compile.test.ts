import test from 'ava';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { leftovers } from '../helpers/processes.js';
import { compile } from '../helpers/compile.js';
import { firstError } from '../helpers/first-error.js';
import { withRulesDir } from '../helpers/rules-dir.js';

test('files run in bytewise order in one shell; odd names, dot files and directories are skipped', (t) =>
  withRulesDir(
    {
      '00-vars': 'PORTS=(22 80)\nallow() { iptables -A INPUT -p tcp --dport $1 -j ACCEPT }\n',
      '10-a': 'for p in $PORTS; do allow $p; done\n',
      'B-upper': 'iptables -A INPUT -m comment --comment B -j ACCEPT\n',
      'a-lower': 'iptables -A INPUT -m comment --comment a -j ACCEPT\n',
      '10-web~': 'iptables -A NOPE\n',
      '.hidden': 'iptables -A NOPE\n',
      'x.swp': 'iptables -A INPUT -m comment --comment swp-is-a-valid-name -j ACCEPT\n',
    },
    async (dir) => {
      await mkdir(path.join(dir, '20-subdir'));
      await symlink('/etc/passwd', path.join(dir, '30-link'));
      const r = await compile({ rulesDir: dir });
      t.deepEqual(
        r.files.map((f) => path.basename(f)),
        ['00-vars', '10-a', 'B-upper', 'a-lower', 'x.swp'],
      );
      t.deepEqual(
        r.ipv4.text.split('\n').filter((l) => l.startsWith('-A')),
        [
          '-A INPUT -p tcp --dport 22 -j ACCEPT',
          '-A INPUT -p tcp --dport 80 -j ACCEPT',
          '-A INPUT -m comment --comment B -j ACCEPT',
          '-A INPUT -m comment --comment a -j ACCEPT',
          '-A INPUT -m comment --comment swp-is-a-valid-name -j ACCEPT',
        ],
      );
    },
  ));

test('the environment is clean: NFGIT_HOST, vars, LC_ALL=C, fixed PATH, nothing else', (t) =>
  withRulesDir(
    { '10-env': 'iptables -A INPUT -m comment --comment "$NFGIT_HOST $ROLE $LC_ALL ${NFGIT_TEST_SECRET:-unset}" -j ACCEPT\n' },
    async (dir) => {
      process.env['NFGIT_TEST_SECRET'] = 'leaked';
      try {
        const r = await compile({ rulesDir: dir, host: 'fw1', vars: { ROLE: 'edge' } });
        t.true(r.ipv4.text.includes('-A INPUT -m comment --comment "fw1 edge C unset" -j ACCEPT'));
      } finally {
        delete process.env['NFGIT_TEST_SECRET'];
      }
    },
  ));

test('rule files run in an empty network namespace', (t) =>
  withRulesDir({ '10-ns': 'n=$(ip -o link | wc -l)\niptables -A INPUT -m comment --comment "links $n" -j ACCEPT\n' }, async (dir) => {
    const r = await compile({ rulesDir: dir });
    t.true(r.ipv4.text.includes('--comment "links 1"'), r.ipv4.text);
  }));

test('main records host commands without running them', (t) =>
  withRulesDir({ '10-host': 'main touch /tmp/nfgit-main-must-not-run\nmain sysctl -w net.ipv4.ip_forward=1\n' }, async (dir) => {
    const r = await compile({ rulesDir: dir });
    t.deepEqual(
      r.hostCommands.map((c) => c.argv),
      [
        ['touch', '/tmp/nfgit-main-must-not-run'],
        ['sysctl', '-w', 'net.ipv4.ip_forward=1'],
      ],
    );
    t.is(r.hostCommands[1]?.trace[0]?.line, 2);
    await t.throwsAsync(readFile('/tmp/nfgit-main-must-not-run'));
  }));

test('a bypass through the real binary cannot touch anything and names the file and line', (t) =>
  withRulesDir({ '10-x': 'iptables -A INPUT -j ACCEPT\ncommand /usr/sbin/iptables -P INPUT DROP\n' }, async (dir) => {
    const msg = await firstError(compile({ rulesDir: dir }));
    t.regex(msg, /10-x:2: runs iptables directly \("iptables -P INPUT DROP"\)/);
  }));

test('a bypass hidden behind || true is still refused', (t) =>
  withRulesDir({ '10-x': 'command ip6tables -F || true\n' }, async (dir) => {
    const msg = await firstError(compile({ rulesDir: dir }));
    t.regex(msg, /10-x: runs iptables directly/);
  }));

test('the time limit stops the rule files and everything they started', (t) =>
  withRulesDir({ '10-slow': 'sleep 3031 &\nsleep 3032\n' }, async (dir) => {
    const msg = await firstError(compile({ rulesDir: dir, timeoutMs: 1000 }));
    t.regex(msg, /10-slow: the rule files were still running after 1 s \(the last file started was .*10-slow\) and were stopped/);
    t.deepEqual(await leftovers('sleep 303[12]'), []);
  }));

test('runaway recording is capped', (t) =>
  withRulesDir({ '10-loop': 'while true; do iptables -A INPUT -j ACCEPT; done\n' }, async (dir) => {
    const msg = await firstError(compile({ rulesDir: dir, maxRecordBytes: 1 << 20 }));
    t.regex(msg, /more than 1 MiB/);
  }));

test('output of the rule files is captured up to the cap', (t) =>
  withRulesDir({ '10-chatty': 'for i in {1..20000}; do echo "line $i"; done\niptables -A INPUT -j ACCEPT\n' }, async (dir) => {
    const r = await compile({ rulesDir: dir, maxOutputBytes: 1000 });
    t.true(r.output.length <= 1000);
    t.is(r.ipv4.ruleCount, 1);
  }));

test('-C answers from the recorded rules, so check-or-append is idempotent', (t) =>
  withRulesDir(
    {
      '10-c':
        'for i in 1 2 3; do iptables -C INPUT -p tcp --dport 22 -j ACCEPT 2>/dev/null || iptables -A INPUT -p tcp --dport 22 -j ACCEPT; done\n',
    },
    async (dir) => {
      const r = await compile({ rulesDir: dir });
      t.is(r.ipv4.ruleCount, 1);
    },
  ));

test('a failing state command can be tolerated with || true, as with the real tool', (t) =>
  withRulesDir(
    { '10-x': 'iptables -F CUSTOM 2>/dev/null || true\niptables -X CUSTOM 2>/dev/null || true\niptables -N CUSTOM\n' },
    async (dir) => {
      const r = await compile({ rulesDir: dir });
      t.is(r.ipv4.chainCount, 1);
    },
  ));

test('-D matches the kernel canonical form', (t) =>
  withRulesDir(
    { '10-d': 'iptables -A INPUT -p tcp --dport 80 -j ACCEPT\niptables -D INPUT -p tcp -m tcp --dport 80 -j ACCEPT\n' },
    async (dir) => {
      const r = await compile({ rulesDir: dir });
      t.is(r.ipv4.ruleCount, 0);
    },
  ));

test('an argument with a newline is refused at its line', (t) =>
  withRulesDir({ '10-nl': 'iptables -A INPUT -j ACCEPT\niptables -A INPUT -m comment --comment "a\nb" -j ACCEPT\n' }, async (dir) => {
    const msg = await firstError(compile({ rulesDir: dir }));
    t.regex(msg, /10-nl:2: iptables: argument "a\\nb" contains a newline/);
  }));

test("exit (status 0) as a file's last command ends that file, and the files after it run", (t) =>
  withRulesDir(
    {
      '10-a': 'iptables -A INPUT -i lo -j ACCEPT\nexit 0\n',
      '20-b': 'iptables -A INPUT -j DROP\nexit # end\n\n# a comment\n',
      '30-c': 'true\nexit\n',
    },
    async (dir) => {
      const r = await compile({ rulesDir: dir });
      t.deepEqual(ruleLines(r.ipv4.text), ['-A INPUT -i lo -j ACCEPT', '-A INPUT -j DROP']);
    },
  ));

test("exit before a file's last command, in a function, or with a failure status is refused at its line", async (t) => {
  const mid = await withRulesDir({ '10-a': 'iptables -A INPUT -i lo -j ACCEPT\nexit 0\niptables -A INPUT -j DROP\n' }, (dir) =>
    firstError(compile({ rulesDir: dir })),
  );
  t.regex(mid, /10-a:2: "exit" before the last line of the rule file/);
  const fn = await withRulesDir({ '10-a': 'done_here() { exit 0 }\ndone_here\niptables -A INPUT -j DROP\n' }, (dir) =>
    firstError(compile({ rulesDir: dir })),
  );
  t.regex(fn, /10-a:1: "exit" in function done_here/);
  const failed = await withRulesDir({ '10-a': 'iptables -A INPUT -j DROP\nexit 3\n' }, (dir) => firstError(compile({ rulesDir: dir })));
  t.regex(failed, /10-a:2: a command failed with exit status 3/);
});

test('an empty rules directory is an error', (t) =>
  withRulesDir({ '.only-hidden': '' }, async (dir) => {
    const msg = await firstError(compile({ rulesDir: dir }));
    t.regex(msg, /no rule files in/);
  }));

test('a missing rules directory is an error', async (t) => {
  const msg = await firstError(compile({ rulesDir: '/nonexistent/rules' }));
  t.regex(msg, /cannot read the rules directory \/nonexistent\/rules/);
});

test('unused tables are rendered empty so that restore flushes them', (t) =>
  withRulesDir({ '10-a': 'iptables -A INPUT -j ACCEPT\n' }, async (dir) => {
    const r = await compile({ rulesDir: dir });
    for (const table of ['filter', 'nat', 'mangle', 'raw', 'security']) {
      t.true(r.ipv4.text.includes(`*${table}\n`));
      t.true(r.ipv6.text.includes(`*${table}\n`));
    }
    t.deepEqual(r.ipv4.usedTables, ['filter']);
  }));

test('a rule file may not redefine iptables', (t) =>
  withRulesDir({ '10-wrap': '# wrapper\niptables() { echo "$@" }\n' }, async (dir) => {
    const msg = await firstError(compile({ rulesDir: dir }));
    t.regex(msg, /10-wrap:2: rule files must not define a function named "iptables"/);
  }));

// Issue 10, section 1: a rule file runs to its end or the compile fails (the error cases 88-99 hold
// the ways a sourced file can stop early); these are files that do run to their end.
const ruleLines = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('-A'));

test('a file whose last command is a false && list ran to its end, as the shell running it would', (t) =>
  withRulesDir(
    {
      '10-a': 'iptables -A INPUT -i lo -j ACCEPT\n[ -n "" ] && iptables -A INPUT -j DROP\n',
      '20-b': 'iptables -A INPUT -p tcp --dport 80 -j ACCEPT\n',
    },
    async (dir) => {
      const r = await compile({ rulesDir: dir });
      t.deepEqual(ruleLines(r.ipv4.text), ['-A INPUT -i lo -j ACCEPT', '-A INPUT -p tcp --dport 80 -j ACCEPT']);
    },
  ));

test('a sourced library may return early at its top level (a load guard); files without a final newline, empty files and non-UTF-8 bytes run as written', (t) =>
  withRulesDir(
    {
      '00-empty': '',
      '05-guard': '[ -n "$LIB_LOADED" ] && return\nLIB_LOADED=1\nallow() { iptables -A INPUT -p tcp --dport $1 -j ACCEPT }\n',
      '10-a': '. $NFGIT_RULES_DIR/05-guard\nallow 22\n# no newline after this comment',
      '20-b': 'allow 80',
    },
    async (dir) => {
      // A Latin-1 comment: the copy the sandbox sources must keep the bytes, not decode them.
      await writeFile(path.join(dir, '30-latin1'), Buffer.concat([Buffer.from('# caf'), Buffer.from([0xe9]), Buffer.from('\nallow 443')]));
      const r = await compile({ rulesDir: dir });
      t.deepEqual(ruleLines(r.ipv4.text), [
        '-A INPUT -p tcp --dport 22 -j ACCEPT',
        '-A INPUT -p tcp --dport 80 -j ACCEPT',
        '-A INPUT -p tcp --dport 443 -j ACCEPT',
      ]);
      t.deepEqual(
        [...r.ipv4.sourceMap.values()]
          .map((trace) => trace[0]?.line)
          .filter((l) => l !== undefined)
          .slice(-3),
        [3, 3, 3],
      );
    },
  ));

test("a rule file that stops early is refused by check, with the FILE:LINE of the stop and zsh's message", (t) =>
  withRulesDir(
    {
      '10-base':
        'iptables -P INPUT DROP\nname=SSH_PORT\nif [ "${!name}" != 0 ]; then iptables -A INPUT -p tcp --dport 22 -j ACCEPT; fi\niptables -A INPUT -i lo -j ACCEPT\n',
      '20-web': 'iptables -A INPUT -p tcp --dport 80 -j ACCEPT\n',
    },
    async (dir) => {
      const msg = await firstError(compile({ rulesDir: dir }));
      t.regex(msg, /10-base:3: zsh: bad substitution; the rule file stopped here, so its later lines did not run/);
    },
  ));

test('options a rule file sets (emulate sh, ksh_arrays, sh_word_split) do not break the recording of later calls', (t) =>
  withRulesDir(
    {
      '10-a': 'iptables -A INPUT -i lo -j ACCEPT\nemulate sh\nsetopt ksh_arrays sh_word_split\n',
      '20-b':
        'f() { iptables -A INPUT -p tcp --dport "$1" -j ACCEPT; }\nf 80\nipt=iptables\n$ipt -A INPUT -j DROP\niptables -C INPUT -j DROP\n',
    },
    async (dir) => {
      const r = await compile({ rulesDir: dir });
      t.deepEqual(ruleLines(r.ipv4.text), ['-A INPUT -i lo -j ACCEPT', '-A INPUT -p tcp --dport 80 -j ACCEPT', '-A INPUT -j DROP']);
    },
  ));

test('exec in a rule file is refused: the files after it did not run', (t) =>
  withRulesDir({ '10-a': 'iptables -A INPUT -i lo -j ACCEPT\nexec true\n', '20-b': 'iptables -A INPUT -j DROP\n' }, async (dir) => {
    const msg = await firstError(compile({ rulesDir: dir }));
    t.regex(msg, /10-a: the run of the rule files ended in this file without an error \(an "exec"/);
  }));

test('files named in .nfgitignore stay beside the rule files, readable, but are not run', (t) =>
  withRulesDir(
    {
      '.nfgitignore': '# lists read by 20-block\n*.list\nREADME\n',
      'blocked.list': '192.0.2.1\n198.51.100.0/24\n',
      README: 'these are not shell commands\n',
      '20-block': 'for net in $(<$NFGIT_RULES_DIR/blocked.list); do iptables -A INPUT -s $net -j DROP; done\n',
    },
    async (dir) => {
      const r = await compile({ rulesDir: dir });
      t.deepEqual(
        r.files.map((f) => path.basename(f)),
        ['20-block'],
      );
      t.deepEqual(ruleLines(r.ipv4.text), ['-A INPUT -s 192.0.2.1 -j DROP', '-A INPUT -s 198.51.100.0/24 -j DROP']);
    },
  ));

test('--arg: every rule file gets the positional arguments, as an init script called "firewall.sh start"', (t) =>
  withRulesDir(
    {
      '10-init':
        'case "$1" in\n  (start) iptables -A INPUT -m comment --comment "started $# $2" -j ACCEPT ;;\n  (*) print -r -- "usage: $0 start" >&2; exit 1 ;;\nesac\n',
      '20-b': 'iptables -A INPUT -m comment --comment "also $1" -j ACCEPT\n',
    },
    async (dir) => {
      const r = await compile({ rulesDir: dir, args: ['start', 'two words'] });
      t.deepEqual(ruleLines(r.ipv4.text), [
        '-A INPUT -m comment --comment "started 2 two words" -j ACCEPT',
        '-A INPUT -m comment --comment "also start" -j ACCEPT',
      ]);
    },
  ));

test("set -x in a rule file: a failure quotes the rule file's command, never nfgit's own functions", (t) =>
  withRulesDir({ '10-x': 'set -x\nIPT=$(which iptables)\n$IPT -A INPUT -i lo -j ACCEPT\ngrep -q nothing /dev/null\n' }, async (dir) => {
    const msg = await firstError(compile({ rulesDir: dir }));
    t.regex(msg, /10-x:4: a command failed with exit status 1 \(it said: \+.*10-x:4> grep -q nothing \/dev\/null\)/);
    t.notRegex(msg, /nfgit-[0-9a-f]{24}|TRAPZERR|print -u3|\/run\/nfgit/);
  }));

// Issue 15: calls through a variable are recorded by the fast mode's functions as one joined word; the
// arguments must come out exactly as the shell passed them, and the call chain must name every frame.
test('calls through a variable keep odd arguments as given and their FILE:LINE call chain', (t) =>
  withRulesDir(
    {
      '05-helpers': 'add() {\n  local cmd=$1; shift\n  $cmd -A INPUT "$@"\n}\n',
      '10-a': [
        'IPT=iptables',
        `$IPT -A INPUT -m comment --comment 'tab\tand "quotes" \\0 \\\\ $HOME * ?' -j ACCEPT`,
        'for ipt in iptables ip6tables; do $ipt -A INPUT -m comment --comment "  both  é " -j ACCEPT; done',
        '$IPT 2>/dev/null || true',
        'setopt sh_word_split glob_subst ksh_arrays',
        'c="a  b*"; add iptables -m comment --comment "$c" -j ACCEPT',
        '',
      ].join('\n'),
    },
    async (dir) => {
      const r = await compile({ rulesDir: dir });
      t.deepEqual(ruleLines(r.ipv4.text), [
        '-A INPUT -m comment --comment "tab\tand \\"quotes\\" \\\\0 \\\\\\\\ $HOME * ?" -j ACCEPT',
        '-A INPUT -m comment --comment "  both  é " -j ACCEPT',
        '-A INPUT -m comment --comment "a  b*" -j ACCEPT',
      ]);
      t.deepEqual(ruleLines(r.ipv6.text), ['-A INPUT -m comment --comment "  both  é " -j ACCEPT']);
    },
  ));

test('an error in a call through a variable names the helper line and every call site', (t) =>
  withRulesDir(
    {
      '05-helpers': 'add() {\n  local cmd=$1; shift\n  $cmd -A INPUT "$@"\n}\nvia() { add "$@" }\n',
      '10-a': 'iptables -A INPUT -i lo -j ACCEPT\nfor ipt in iptables ip6tables; do\n  via $ipt -p tcp --dport 22 -j NOPE\ndone\n',
    },
    async (dir) => {
      const msg = await firstError(compile({ rulesDir: dir }));
      t.regex(msg, /05-helpers:3: iptables: .*NOPE[^\n]*\n {2}called from [^\n]*05-helpers:5\n {2}called from [^\n]*10-a:3(\n|$)/);
    },
  ));

// Issue 15: the fast mode's aliases make a call's FILE:LINE from $LINENO, $funcsourcetrace and
// $funcstack (prompt expansion cost a third of a call's record); it must be the exact mode's, which
// comes from $funcfiletrace of a function call, wherever the call is. Each case fails on its NOPE
// call; the same files with a first file that asks -C (an answer: the compiler runs exact) must fail
// with the same message. A trap fired inside a function was FILE:2 (%I: the line within the function)
// in fast mode, and FILE:4 (where it fired) in exact mode.
test('a fast run and an exact run name the same FILE:LINE in functions, evals, anonymous functions and traps', async (t) => {
  const cases: Record<string, string> = {
    top: 'iptables -A INPUT -i lo -j ACCEPT\n\niptables -A INPUT -j NOPE\n',
    helper: 'add() {\n  :\n  iptables -A INPUT "$@"\n}\nadd -i lo -j ACCEPT\nadd -j NOPE\n',
    eval: 'iptables -A INPUT -i lo -j ACCEPT\neval "\n  iptables -A INPUT -i lo2 -j ACCEPT\n  iptables -A INPUT -j NOPE\n"\n',
    evalInFunction: 'f() {\n  :\n  eval "iptables -A INPUT -i lo -j ACCEPT; eval \'\n\n iptables -A INPUT -j NOPE\'"\n}\nf\n',
    anonymous: 'iptables -A INPUT -i lo -j ACCEPT\n() {\n  iptables -A INPUT -j "$1"\n} NOPE\n',
    oneLine: 'g() { iptables -A INPUT -j NOPE }; g\n',
    trapInFunction: 'iptables -A INPUT -i lo -j ACCEPT\nf() {\n  trap "iptables -A INPUT -j NOPE" USR1\n  kill -USR1 $$\n  :\n}\nf\n',
    sourced: 'iptables -A INPUT -i lo -j ACCEPT\n. $NFGIT_RULES_DIR/lib.sh\nh\n',
  };
  const lib = 'h() {\n  iptables -A INPUT -j NOPE\n}\n';
  for (const [name, text] of Object.entries(cases)) {
    const fast = await withRulesDir({ '10-a': text, '.nfgitignore': 'lib.sh\n', 'lib.sh': lib }, (dir) =>
      firstError(compile({ rulesDir: dir })),
    );
    const exact = await withRulesDir(
      { '05-ask': 'iptables -C INPUT -j ACCEPT || true\n', '10-a': text, '.nfgitignore': 'lib.sh\n', 'lib.sh': lib },
      (dir) => firstError(compile({ rulesDir: dir })),
    );
    t.regex(fast, /NOPE/, name);
    t.is(fast.replace(/nfgit-rules-\w+/g, 'DIR'), exact.replace(/nfgit-rules-\w+/g, 'DIR'), name);
  }
});
