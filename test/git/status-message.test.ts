import test from 'ava';
import { formatStatusMessage, parseStatusMessage, statusTagName, type StatusRecord } from '../../src/git/status-message.js';
import { mustRun, withTempDir } from './signing/tools.js';

const C1 = '1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b';
const C0 = '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c';

const applied: StatusRecord = {
  result: 'applied',
  host: 'fw1',
  commit: C1,
  previous: C0,
  rules: { ipv4: { rules: 12, digest: 'sha256:' + 'a'.repeat(64) }, ipv6: { rules: 8, digest: 'sha256:' + 'b'.repeat(64) } },
  errors: [],
  agent: 'nfgit 0.1.0',
  time: new Date('2025-03-01T12:34:56.000Z'),
};

const refused: StatusRecord = {
  result: 'refused',
  host: 'edge-2.example',
  commit: C1,
  previous: null,
  rules: {},
  errors: [
    'rules/30-web:14: unknown option "--dporrt"',
    'rules/00-helpers:2: invalid port\n  called from rules/30-web:3\n\n.hidden\n   \n  indented',
  ],
  agent: 'nfgit 0.1.0',
  time: new Date('2025-03-01T12:35:00.250Z'),
};

test('tag names: nfgit/HOST/ and 12 digits of the commit; bad host names are refused', (t) => {
  t.is(statusTagName('fw1', C1), 'nfgit/fw1/1a2b3c4d5e6f');
  for (const bad of ['', '.x', '-x', 'a..b', 'a/b', 'a b', 'x.lock', 'x.', 'a:b']) {
    t.throws(() => statusTagName(bad, C1), { message: /cannot name a status tag/ }, bad);
  }
  t.throws(() => statusTagName('fw1', 'abc'), { message: /not a full commit id/ });
});

test('the message: summary line, blank line, trailers', (t) => {
  t.is(
    formatStatusMessage(applied),
    [
      'fw1: applied 1a2b3c4d5e6f',
      '',
      'Result: applied',
      'Host: fw1',
      `Commit: ${C1}`,
      `Previous: ${C0}`,
      `Rules-IPv4: 12 sha256:${'a'.repeat(64)}`,
      `Rules-IPv6: 8 sha256:${'b'.repeat(64)}`,
      'Agent: nfgit 0.1.0',
      'Time: 2025-03-01T12:34:56.000Z',
    ].join('\n'),
  );
  t.is(
    formatStatusMessage(refused),
    [
      'edge-2.example: refused 1a2b3c4d5e6f: rules/30-web:14: unknown option "--dporrt"',
      '',
      'Result: refused',
      'Host: edge-2.example',
      `Commit: ${C1}`,
      'Previous: none',
      'Error: rules/30-web:14: unknown option "--dporrt"',
      'Error: rules/00-helpers:2: invalid port',
      '   called from rules/30-web:3',
      ' .',
      ' ..hidden',
      ' .   ',
      '   indented',
      'Agent: nfgit 0.1.0',
      'Time: 2025-03-01T12:35:00.250Z',
    ].join('\n'),
  );
});

const roundTrip = test.macro((t, r: StatusRecord) => {
  t.deepEqual(parseStatusMessage(formatStatusMessage(r)), r);
  t.deepEqual(parseStatusMessage(formatStatusMessage(r) + '\n'), r, 'a final newline is fine');
});
test('round trip: applied', roundTrip, applied);
test('round trip: refused with multi-line errors', roundTrip, refused);
test('round trip: rolled-back with one family', roundTrip, {
  ...applied,
  result: 'rolled-back',
  rules: { ipv4: { rules: 0, digest: 'sha256:0' } },
  errors: ['ip6tables-restore: line 3 failed'],
});
test('round trip: applied with change counts', roundTrip, {
  ...applied,
  changes: { ipv4: { added: 3, removed: 1 }, ipv6: { added: 0, removed: 0 } },
});
test('round trip: untrusted, error starting with a dot', roundTrip, { ...refused, result: 'untrusted', errors: ['.', '...'] });

const bad = test.macro((t, message: string, error: RegExp) => {
  const r = parseStatusMessage(message);
  t.true('error' in r, JSON.stringify(r));
  if ('error' in r) t.regex(r.error, error);
});
test('parse error: no trailers', bad, 'just a message', /no trailer block/);
test('parse error: missing Host', bad, formatStatusMessage(applied).replace(/^Host: .*\n/m, ''), /the Host trailer is missing/);
test(
  'parse error: unknown result',
  bad,
  formatStatusMessage(applied).replace('Result: applied', 'Result: maybe'),
  /unknown Result "maybe"/,
);
test(
  'parse error: short commit',
  bad,
  formatStatusMessage(applied).replace(`Commit: ${C1}`, 'Commit: 1a2b'),
  /Commit "1a2b" is not a full commit id/,
);
test('parse error: bad time', bad, formatStatusMessage(applied).replace(/^Time: .*$/m, 'Time: yesterday'), /Time "yesterday"/);
test('parse error: duplicate', bad, formatStatusMessage(applied) + '\nHost: fw2', /Host trailer appears twice/);
test(
  'parse error: bad family',
  bad,
  formatStatusMessage(applied).replace(/^Rules-IPv4: .*$/m, 'Rules-IPv4: many'),
  /Rules-IPv4 must be "COUNT DIGEST"/,
);

test('stock git interpret-trailers --parse reads the trailers, multi-line errors unfolded', async (t) => {
  await withTempDir('trailers', async (dir) => {
    const out = await mustRun('git', ['interpret-trailers', '--parse'], { cwd: dir, input: formatStatusMessage(refused) + '\n' });
    t.is(
      out,
      [
        'Result: refused',
        'Host: edge-2.example',
        `Commit: ${C1}`,
        'Previous: none',
        'Error: rules/30-web:14: unknown option "--dporrt"',
        'Error: rules/00-helpers:2: invalid port called from rules/30-web:3 . ..hidden .    indented',
        'Agent: nfgit 0.1.0',
        'Time: 2025-03-01T12:35:00.250Z',
        '',
      ].join('\n'),
    );
    const plain = await mustRun('git', ['interpret-trailers', '--parse'], { cwd: dir, input: formatStatusMessage(applied) + '\n' });
    t.is(plain.split('\n').filter((l) => l !== '').length, 8);
  });
});

// Heartbeats and pauses (issue 13): new trailers that an older message simply lacks.
const heartbeat: StatusRecord = { ...applied, previous: null, heartbeat: true, time: new Date('2025-03-01T13:34:56.000Z') };
const pausedBeat: StatusRecord = {
  ...heartbeat,
  paused: { by: 'alice', until: new Date('2025-03-01T15:00:00.000Z'), reason: 'blocking 203.0.113.7\nsee ticket 42' },
};

test('a heartbeat and a paused heartbeat: their trailers, the summary says so, and they read back unchanged', (t) => {
  const text = formatStatusMessage(pausedBeat);
  t.regex(text, /^fw1: applied 1a2b3c4d5e6f \(paused\)\n/);
  t.regex(
    text,
    /\nHeartbeat: yes\nPaused-By: alice\nPaused-Until: 2025-03-01T15:00:00.000Z\nPaused-Reason: blocking 203.0.113.7\n see ticket 42\nAgent: /,
  );
  t.deepEqual(parseStatusMessage(text), pausedBeat);
  t.regex(formatStatusMessage(heartbeat), /^fw1: applied 1a2b3c4d5e6f \(heartbeat\)\n/);
  t.deepEqual(parseStatusMessage(formatStatusMessage(heartbeat)), heartbeat);
  const forever = { ...pausedBeat, paused: { by: 'bob', until: null, reason: null } };
  t.regex(formatStatusMessage(forever), /\nPaused-Until: resume\nAgent: /);
  t.deepEqual(parseStatusMessage(formatStatusMessage(forever)), forever);
});

test('a message of an nfgit before heartbeats still parses, as a decision that is not paused', (t) => {
  const old = formatStatusMessage(applied);
  t.false(old.includes('Heartbeat'));
  const back = parseStatusMessage(old);
  t.false('error' in back);
  t.false('heartbeat' in back);
  t.false('paused' in back);
});

test('bad heartbeat or pause trailers are refused', (t) => {
  const text = formatStatusMessage(pausedBeat);
  t.deepEqual(parseStatusMessage(text.replace('Heartbeat: yes', 'Heartbeat: no')), { error: 'Heartbeat must be "yes", not "no"' });
  t.deepEqual(parseStatusMessage(text.replace(/Paused-Until: \S+/, 'Paused-Until: tomorrow')), {
    error: 'Paused-Until must be an ISO 8601 time or "resume", not "tomorrow"',
  });
});

test('Apply-Path: how an applied commit was loaded reads back as written; tags without it read as before', (t) => {
  for (const applyPath of ['incremental 3', 'full: the live ruleset differs from the last apply (drift)']) {
    const message = formatStatusMessage({ ...applied, applyPath });
    t.true(message.includes(`\nApply-Path: ${applyPath}\n`), message);
    t.deepEqual(parseStatusMessage(message), { ...applied, applyPath });
  }
  t.false('applyPath' in parseStatusMessage(formatStatusMessage(applied)));
});
