import test from 'ava';
import { localStatus, renderLocalStatus, type LocalFacts } from '../../src/agent/local-status.js';
import { EMPTY_PASS_RECORD } from '../../src/agent/pass-record.js';
import { newPause } from '../../src/agent/pause.js';

// status --local from what the state directory says: the stable JSON and the text for people.

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const NOW = new Date('2026-11-30T12:00:00.000Z');

const FACTS: LocalFacts = {
  stateDir: '/var/lib/nfgit',
  host: 'fw1',
  pin: null,
  agent: {
    nfgitAgent: 1,
    applied: { commit: A, at: '2026-11-30T10:00:00.000Z' },
    decided: {
      commit: B,
      result: 'refused',
      at: '2026-11-30T11:00:00.000Z',
      errors: ['rules/30-web:14: unknown option\n  more'],
      tag: 't',
    },
  },
  record: {
    ...EMPTY_PASS_RECORD,
    lastPass: { at: '2026-11-30T11:59:30.000Z', durationMs: 420, result: 'failed', summary: 'failed' },
    lastError: { at: '2026-11-30T11:59:30.000Z', message: 'cannot reach https://git.example.net: ECONNREFUSED; nfgit will retry' },
    failures: 2,
    nextPass: { at: '2026-11-30T12:01:30.000Z', backoff: true },
    headSeen: { commit: B, at: '2026-11-30T11:50:00.000Z' },
    drift: { state: 'repaired', at: '2026-11-30T11:40:00.000Z' },
    running: { commit: A, committedAt: '2026-11-30T09:00:00.000Z' },
    pin: null,
    reported: { at: '2026-11-30T11:00:00.000Z', commit: A, paused: false },
    counters: { driftRepairs: 1, passes: 9, failedPasses: 2 },
  },
  pause: newPause('alice', new Date('2026-11-30T11:30:00.000Z'), 3_600_000, 'blocking 203.0.113.7'),
  now: NOW,
};

test('the JSON: every fact, null where not known', (t) => {
  const st = localStatus(FACTS);
  t.deepEqual(st.running, { commit: A, since: '2026-11-30T10:00:00.000Z', committedAt: '2026-11-30T09:00:00.000Z' });
  t.deepEqual(st.branchHead, { commit: B, seenAt: '2026-11-30T11:50:00.000Z', running: false });
  t.is(st.lastDecision?.result, 'refused');
  t.is(st.failures, 2);
  t.deepEqual(st.nextPass, { at: '2026-11-30T12:01:30.000Z', backoff: true });
  t.deepEqual(st.paused, {
    by: 'alice',
    at: '2026-11-30T11:30:00.000Z',
    until: '2026-11-30T12:30:00.000Z',
    reason: 'blocking 203.0.113.7',
  });
  t.is(st.pin, null);
  t.deepEqual(Object.keys(st), [
    'stateDir',
    'host',
    'running',
    'lastDecision',
    'branchHead',
    'lastPass',
    'lastError',
    'nextPass',
    'failures',
    'drift',
    'paused',
    'pin',
    'lastReport',
    'held',
    'counters',
  ]);
  // A pause that ran out (not yet removed by a pass) is not shown as one.
  t.is(localStatus({ ...FACTS, now: new Date('2026-11-30T13:00:00.000Z') }).paused, null);
  // A fresh state directory: nothing known.
  const fresh = localStatus({
    ...FACTS,
    agent: { nfgitAgent: 1, applied: null, decided: null },
    record: EMPTY_PASS_RECORD,
    pause: undefined,
  });
  t.is(fresh.running, null);
  t.is(fresh.lastPass, null);
  t.is(fresh.paused, null);
});

test('the text for people', (t) => {
  t.is(
    renderLocalStatus(localStatus({ ...FACTS, pin: 'bbbbbbb', record: { ...FACTS.record, pin: { commit: A, ahead: B } } }), NOW),
    [
      'host           fw1',
      'state dir      /var/lib/nfgit',
      'running        aaaaaaaaaaaa since 2026-11-30T10:00:00.000Z (2 h ago), committed 2026-11-30T09:00:00.000Z',
      'last decision  refused bbbbbbbbbbbb at 2026-11-30T11:00:00.000Z: rules/30-web:14: unknown option',
      'branch head    bbbbbbbbbbbb seen 2026-11-30T11:50:00.000Z (10 min ago) (not running)',
      'last pass      2026-11-30T11:59:30.000Z (30 s ago): failed, 0.42 s',
      'last error     2026-11-30T11:59:30.000Z: cannot reach https://git.example.net: ECONNREFUSED; nfgit will retry',
      'next pass      2026-11-30T12:01:30.000Z (in 90 s) (backing off after failures)',
      'failures       2 in a row',
      'drift          repaired (checked 2026-11-30T11:40:00.000Z)',
      'paused         yes, by alice since 2026-11-30T11:30:00.000Z, until 2026-11-30T12:30:00.000Z (in 30 min): blocking 203.0.113.7',
      'pin            aaaaaaaaaaaa; the branch head bbbbbbbbbbbb is beyond it',
      'last report    status tag at 2026-11-30T11:00:00.000Z (60 min ago)',
      '',
    ].join('\n'),
  );
});

test('a host held by the staged rollout says what it holds, since when and why', (t) => {
  const held = {
    commit: B,
    why: 'waiting for canary fw2 (runs aaaaaaaaaaaa)',
    key: 'waiting: fw2',
    since: '2026-11-30T11:50:00.000Z',
    reported: true,
  };
  const st = localStatus({ ...FACTS, record: { ...FACTS.record, held } });
  t.deepEqual(st.held, { commit: B, why: 'waiting for canary fw2 (runs aaaaaaaaaaaa)', since: '2026-11-30T11:50:00.000Z' });
  t.regex(
    renderLocalStatus(st, NOW),
    /^rollout {8}holding bbbbbbbbbbbb since 2026-11-30T11:50:00.000Z \(10 min ago\): waiting for canary fw2 \(runs aaaaaaaaaaaa\)$/m,
  );
  t.is(localStatus(FACTS).held, null);
});
