import test from 'ava';
import { ipsetWords, parseIpsetRestore } from '../../src/compiler/parse-ipset-restore.js';

test('words split at blanks, double quotes group a comment with spaces', (t) => {
  t.deepEqual(ipsetWords('add s 10.0.0.1 comment "alice laptop"'), ['add', 's', '10.0.0.1', 'comment', 'alice laptop']);
  t.deepEqual(ipsetWords('  create\ts   hash:ip '), ['create', 's', 'hash:ip']);
  t.is(ipsetWords('add s 1.2.3.4 comment "open'), undefined);
});

test("blank lines, comments and COMMIT are skipped; line numbers are the input's", (t) => {
  const r = parseIpsetRestore('# sets\ncreate s hash:ip\n\nadd s 192.0.2.1\nCOMMIT\n', false, false);
  t.true(r.ok);
  if (!r.ok) return;
  t.deepEqual(
    r.commands.map((c) => [c.line, c.call.op, c.call.args]),
    [
      [2, 'create', ['s', 'hash:ip']],
      [4, 'add', ['s', '192.0.2.1']],
    ],
  );
});

test("the call's -exist and -quiet apply to every line; a line may set its own", (t) => {
  const r = parseIpsetRestore('add s 1.2.3.4\nadd s 5.6.7.8 -exist\n', false, true);
  t.true(r.ok);
  if (!r.ok) return;
  t.deepEqual(
    r.commands.map((c) => [c.call.exist, c.call.quiet]),
    [
      [false, true],
      [true, true],
    ],
  );
  const all = parseIpsetRestore('add s 1.2.3.4\n', true, false);
  t.true(all.ok && all.commands[0]?.call.exist === true);
});

test('commands ipset refuses in restore mode, and unknown ones, name their line', (t) => {
  t.deepEqual(parseIpsetRestore('create s hash:ip\nrestore\n', false, false), {
    ok: false,
    line: 2,
    message: "Command `restore' is invalid in restore mode.",
  });
  const bad = parseIpsetRestore('\nipset create s hash:ip\n', false, false);
  t.false(bad.ok);
  if (!bad.ok) t.is(bad.line, 2);
});
