import test from 'ava';
import path from 'node:path';
import { MAX_VARIABLE_COMMANDS, variableCommands, variableToolKind } from '../../src/compiler/variable-commands.js';
import { runRuleFiles, type RunMode } from '../../src/compiler/run-rules.js';
import type { RawRecord } from '../../src/compiler/record-stream.js';
import { compile } from '../helpers/compile.js';
import { withRulesDir } from '../helpers/rules-dir.js';

test('variables called as commands with options are found where a command starts', (t) => {
  const text = [
    'IPT=iptables',
    '$IPT -A INPUT -j ACCEPT',
    '  ${IP6T} -P INPUT DROP',
    'for ipt in iptables ip6tables; do $ipt -F; done',
    'if true; then $cmd -t nat -A X; fi',
    'true && $a -x || $b -y; ( $c -z ) | { $d -w; }',
    '! $e -q',
    'case $x in (a) $k -A X ;; esac',
    'echo $notme -n',
    '$f',
    '$g arg',
    '"$h" -A quoted',
    '$1 -A positional',
  ].join('\n');
  t.deepEqual(variableCommands([text]), ['IP6T', 'IPT', 'a', 'b', 'c', 'cmd', 'd', 'e', 'ipt', 'k']);
  const many = Array.from({ length: MAX_VARIABLE_COMMANDS + 10 }, (_, i) => `$v${i} -A`).join('\n');
  t.is(variableCommands([many]).length, MAX_VARIABLE_COMMANDS);
});

test("a variable's value is a tool by its name, its backend or its path; anything else is not", (t) => {
  t.is(variableToolKind('iptables'), 'A4');
  t.is(variableToolKind('/usr/sbin/ip6tables-nft'), 'A6');
  t.is(variableToolKind('/sbin/iptables-legacy'), 'A4');
  t.is(variableToolKind('ipset'), 'AS');
  for (const v of ['', 'sudo', 'iptables -w', 'iptables-save', '/opt/iptables', 'my_function']) t.is(variableToolKind(v), undefined, v);
});

/** The records of one run of a rules directory in a mode. */
async function records(dir: string, files: string[], mode: RunMode): Promise<RawRecord[]> {
  const seen: RawRecord[] = [];
  const exit = await runRuleFiles(
    {
      files: files.map((f) => path.join(dir, f)),
      env: {},
      timeoutMs: 60_000,
      maxOutputBytes: 65536,
      maxRecordBytes: 1 << 20,
      rulesDir: dir,
      mode,
    },
    (rec) => {
      seen.push(rec);
    },
  );
  if (exit.code !== 0) throw new Error(`the run failed: ${exit.output}`);
  return seen;
}

test('fast mode records a call through a variable with the alias named after it: the value, the arguments and the call chain', (t) =>
  withRulesDir(
    {
      '05-h': 'add() {\n  $cmd -A INPUT "$@"\n}\n',
      '10-a': 'IPT=/sbin/iptables cmd=ip6tables\n${IPT} -A INPUT -m comment --comment "a  b" -j ACCEPT\nadd -j DROP\n',
    },
    async (dir) => {
      const recs = (await records(dir, ['05-h', '10-a'], 'fast')).filter((r) => r.kind === 'V');
      t.deepEqual(
        recs.map((r) => [r.args, r.trace.map((e) => e.replace(/^.*\//, ''))]),
        [
          [['/sbin/iptables', '-A', 'INPUT', '-m', 'comment', '--comment', 'a  b', '-j', 'ACCEPT'], ['10-a:2']],
          [
            ['ip6tables', '-A', 'INPUT', '-j', 'DROP'],
            ['05-h:2', '10-a:3'],
          ],
        ],
      );
    },
  ));

// A variable found by the scan may hold anything at run time: a function of the rule files, sudo,
// nothing. The fast run then gives way to exact mode, which runs the call as written.
test('a variable called with options that is not a tool at run time runs as written', (t) =>
  withRulesDir(
    {
      '10-a': [
        'allow() { iptables -A INPUT -p tcp --dport $2 -j ACCEPT }',
        'f=allow; $f -x 22',
        'SUDO=sudo; $SUDO -n iptables -A INPUT -i lo -j ACCEPT',
        'for t in echo iptables; do $t -A INPUT -p tcp --dport 80 -j ACCEPT; done',
        '',
      ].join('\n'),
    },
    async (dir) => {
      const r = await compile({ rulesDir: dir });
      t.regex(r.output, /^-A INPUT -p tcp --dport 80 -j ACCEPT$/m);
      t.deepEqual(
        r.ipv4.text.split('\n').filter((l) => l.startsWith('-A')),
        ['-A INPUT -p tcp --dport 22 -j ACCEPT', '-A INPUT -i lo -j ACCEPT', '-A INPUT -p tcp --dport 80 -j ACCEPT'],
      );
    },
  ));
