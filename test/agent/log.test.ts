import test from 'ava';
import { Writable } from 'node:stream';
import { streamLogger } from '../../src/agent/log.js';

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
