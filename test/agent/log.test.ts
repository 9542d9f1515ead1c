import test from 'ava';
import { closeSync, fstatSync, openSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { defaultFormat, isJournalStream, streamLogger } from '../../src/agent/log.js';
import { withTempDir } from '../git/signing/tools.js';

function capture(): { stream: Writable; text: () => string } {
  let out = '';
  const stream = new Writable({ write: (chunk: Buffer, _enc, cb) => ((out += chunk.toString()), cb()) });
  return { stream, text: () => out };
}

const NOW = () => new Date('2026-11-29T10:00:00Z');

test('JSON lines carry time, level, event, message and the fields', (t) => {
  const c = capture();
  streamLogger(c.stream, 'json', NOW).log('info', 'applied', 'applied abc', { commit: 'abc', errors: [] });
  t.deepEqual(JSON.parse(c.text()), {
    time: '2026-11-29T10:00:00.000Z',
    level: 'info',
    event: 'applied',
    message: 'applied abc',
    commit: 'abc',
    errors: [],
  });
});

test('text: fields after the message, details (multi-line errors) indented on their own lines', (t) => {
  const c = capture();
  const errors = ['rules/05-helpers:28: iptables: unknown option "--dporrt"\n  called from rules/30-web:6'];
  streamLogger(c.stream, 'text', NOW).log('error', 'refused', 'refused 0ae1', { commit: '0ae1', previous: null, errors, details: errors });
  t.is(
    c.text(),
    '2026-11-29T10:00:00.000Z error refused 0ae1  (commit=0ae1)\n    rules/05-helpers:28: iptables: unknown option "--dporrt"\n      called from rules/30-web:6\n',
  );
});

test('journal: readable text, a <N> syslog priority on every line (error 3, warn 4, info 6, debug 7), no time (journald adds it)', (t) => {
  const c = capture();
  const log = streamLogger(c.stream, 'journal', NOW);
  const errors = ['rules/05-helpers:28: iptables: unknown option "--dporrt"\n  called from rules/30-web:6'];
  log.log('error', 'refused', 'refused 0ae1', { commit: '0ae1', previous: null, errors, details: errors });
  log.log('warn', 'drift', 'the live ruleset differs');
  log.log('info', 'tagged', 'status tag nfgit/fw1/0ae1 pushed', { tag: 'nfgit/fw1/0ae1' });
  log.log('debug', 'current', 'main is at 0ae1, already applied');
  t.is(
    c.text(),
    [
      '<3>refused 0ae1  (event=refused commit=0ae1)',
      '<3>    rules/05-helpers:28: iptables: unknown option "--dporrt"',
      '<3>      called from rules/30-web:6',
      '<4>the live ruleset differs  (event=drift)',
      '<6>status tag nfgit/fw1/0ae1 pushed  (event=tagged tag=nfgit/fw1/0ae1)',
      '<7>main is at 0ae1, already applied  (event=current)',
      '',
    ].join('\n'),
  );
});

test('a level leaves out the entries below it, in every format', (t) => {
  for (const format of ['json', 'text', 'journal'] as const) {
    const c = capture();
    const log = streamLogger(c.stream, format, NOW, 'warn');
    log.log('debug', 'current', 'idle');
    log.log('info', 'tagged', 'tagged');
    log.log('warn', 'drift', 'drift');
    log.log('error', 'refused', 'refused');
    t.deepEqual(
      c
        .text()
        .trim()
        .split('\n')
        .map((l) => /drift|refused/.exec(l)?.[0]),
      ['drift', 'refused'],
      format,
    );
  }
});

test("journald's stream is recognized by JOURNAL_STREAM naming the device and inode of the descriptor, not by the variable alone", async (t) => {
  await withTempDir('journal-stream', async (dir) => {
    const fd = openSync(path.join(dir, 'out'), 'w');
    try {
      const st = fstatSync(fd, { bigint: true });
      const env = { JOURNAL_STREAM: `${st.dev}:${st.ino}` };
      t.true(isJournalStream(fd, env));
      t.is(defaultFormat(Object.assign(capture().stream, { fd }), env), 'journal');
      // Inherited by a process whose output goes elsewhere: not journald's.
      t.false(isJournalStream(fd, { JOURNAL_STREAM: `${st.dev}:${st.ino + 1n}` }));
      t.false(isJournalStream(fd, { JOURNAL_STREAM: 'garbage' }));
      t.false(isJournalStream(fd, {}));
      t.is(defaultFormat(Object.assign(capture().stream, { fd }), {}), 'json');
      t.is(defaultFormat(Object.assign(capture().stream, { fd, isTTY: true }), {}), 'text');
    } finally {
      closeSync(fd);
    }
  });
});
