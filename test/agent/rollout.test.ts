import test from 'ava';
import { commitsToRelate, gate, holdKey, type GateInput, type HostReport } from '../../src/agent/rollout.js';
import type { StatusRecord, StatusResult } from '../../src/git/status-message.js';

// The staged rollout gate as a table: what a host of ring 1 (after canary) does with commit C for
// each set of current reports of the canaries.

const C = 'c'.repeat(40);
const OLD = 'a'.repeat(40);
const NEWER = 'd'.repeat(40);
const OTHER = 'e'.repeat(40);
const NOW = new Date('2026-12-01T12:00:00Z');
const MIN = 60_000;

function report(
  host: string,
  result: StatusResult,
  commit: string,
  opts: {
    ageMs?: number;
    ring?: string | null;
    signature?: string;
    previous?: string | null;
    errors?: string[];
    extra?: Partial<StatusRecord>;
  } = {},
): HostReport {
  const ring = opts.ring === undefined ? 'canary' : opts.ring;
  const record: StatusRecord = {
    result,
    host,
    commit,
    previous: opts.previous === undefined ? OLD : opts.previous,
    rules: {},
    errors: opts.errors ?? [],
    agent: 'nfgit test',
    time: new Date(NOW.getTime() - (opts.ageMs ?? 30 * MIN)),
    ...(ring === null ? {} : { ring }),
    ...(result === 'held' ? { held: 'waiting for canary fw0' } : {}),
    ...opts.extra,
  };
  return { host, record, signature: opts.signature ?? 'good' };
}

const input = (reports: HostReport[], over: Partial<GateInput> = {}): GateInput => ({
  commit: C,
  self: 'web1',
  after: { ring: 'canary', healthyForMs: 10 * MIN },
  reports,
  descends: (commit) => commit === NEWER,
  staleAfterMs: 180 * MIN,
  now: NOW,
  ...over,
});

const cases: Array<
  [title: string, reports: HostReport[], expected: { open: boolean; state?: string; why: string }, over?: Partial<GateInput>]
> = [
  [
    'every canary applied C long enough ago: open',
    [report('fw1', 'applied', C), report('fw2', 'applied', C, { extra: { heartbeat: true } })],
    { open: true, why: `canary fw1, fw2 run ${C.slice(0, 12)} for at least 10m` },
  ],
  [
    'one canary still runs the old commit: waiting for it',
    [report('fw1', 'applied', C), report('fw2', 'applied', OLD)],
    { open: false, state: 'waiting', why: `waiting for canary fw2 (runs ${OLD.slice(0, 12)})` },
  ],
  [
    'applied too recently: waiting, with the time left',
    [report('fw1', 'applied', C, { ageMs: 4 * MIN })],
    { open: false, state: 'waiting', why: 'waiting for canary fw1 (healthy in 6m)' },
  ],
  [
    'healthyFor 0: open as soon as the canary reports',
    [report('fw1', 'applied', C, { ageMs: 0 })],
    { open: true, why: `canary fw1 runs ${C.slice(0, 12)}` },
    { after: { ring: 'canary', healthyForMs: 0 } },
  ],
  [
    'a canary rolled C back: stopped, with its first error',
    [report('fw1', 'applied', C), report('fw2', 'rolled-back', C, { errors: ['probe tcp 10.0.0.1:22 failed\n(details)'] })],
    { open: false, state: 'stopped', why: `canary fw2 rolled back ${C.slice(0, 12)}: probe tcp 10.0.0.1:22 failed` },
  ],
  [
    'refused and untrusted stop too, the first named and the others listed',
    [report('fw1', 'refused', C, { errors: ['rules/10:3: bad'] }), report('fw2', 'untrusted', C)],
    { open: false, state: 'stopped', why: `canary fw1 refused ${C.slice(0, 12)}: rules/10:3: bad (and fw2)` },
  ],
  [
    'a stop wins over waiting',
    [report('fw1', 'applied', OLD), report('fw2', 'rolled-back', C)],
    { open: false, state: 'stopped', why: `canary fw2 rolled back ${C.slice(0, 12)}` },
  ],
  [
    'a canary that refused a newer commit but kept C runs C: open',
    [report('fw1', 'refused', NEWER, { previous: C })],
    { open: true, why: `canary fw1 runs ${C.slice(0, 12)} for at least 10m` },
  ],
  [
    'a canary that rolled back an older commit is waited for (the stop lasts until a newer commit)',
    [report('fw1', 'rolled-back', OLD, { previous: OTHER })],
    { open: false, state: 'waiting', why: `waiting for canary fw1 (runs ${OTHER.slice(0, 12)})` },
  ],
  [
    'a canary running a descendant of C lets C through',
    [report('fw1', 'applied', NEWER)],
    { open: true, why: `canary fw1 runs ${C.slice(0, 12)} for at least 10m` },
  ],
  [
    'a canary running a commit that is not a descendant of C (not held locally, or another line) is waited for',
    [report('fw1', 'applied', OTHER)],
    { open: false, state: 'waiting', why: `waiting for canary fw1 (runs ${OTHER.slice(0, 12)})` },
  ],
  [
    'a stale canary blocks, even one that applied C',
    [report('fw1', 'applied', C, { ageMs: 300 * MIN }), report('fw2', 'applied', C)],
    { open: false, state: 'waiting', why: 'waiting for canary fw1 (silent for 5h)' },
  ],
  [
    'a paused canary that has not applied C is waited for',
    [report('fw1', 'applied', OLD, { extra: { heartbeat: true, paused: { by: 'alice', until: null, reason: null } } })],
    { open: false, state: 'waiting', why: 'waiting for canary fw1 (paused by alice)' },
  ],
  [
    'a held host of the ring is waited for',
    [report('fw1', 'held', C)],
    { open: false, state: 'waiting', why: 'waiting for canary fw1 (held: waiting for canary fw0)' },
  ],
  [
    'hosts of other rings, and this host itself, do not count',
    [
      report('fw1', 'applied', C),
      report('web2', 'rolled-back', C, { ring: '1' }),
      report('web1', 'refused', C),
      report('db1', 'applied', OLD, { ring: null }),
    ],
    { open: true, why: `canary fw1 runs ${C.slice(0, 12)} for at least 10m` },
  ],
  [
    'no host of the ring: held (a misspelt ring must not open the gate)',
    [report('web2', 'applied', C, { ring: '1' })],
    { open: false, state: 'no-hosts', why: 'no host of ring canary has reported' },
  ],
  [
    'a report whose signature is not good is not believed: a forged rolled-back cannot stop, a forged applied cannot open',
    [
      report('fw1', 'applied', OLD),
      report('fw2', 'rolled-back', C, { signature: 'untrusted' }),
      report('fw3', 'applied', C, { signature: 'bad' }),
    ],
    { open: false, state: 'waiting', why: `waiting for canary fw1 (runs ${OLD.slice(0, 12)})` },
  ],
  [
    'only unbelievable reports: no host, and the message says which were not believed',
    [
      report('fw1', 'applied', C, { signature: 'wrong-host' }),
      { host: 'fw2', record: { error: 'the Result trailer is missing' }, signature: 'good' },
    ],
    {
      open: false,
      state: 'no-hosts',
      why: 'no host of ring canary has reported; not believed: fw1 (signature wrong-host), fw2 (not a status record: the Result trailer is missing)',
    },
  ],
  [
    'a record signed by its ref host but naming another host is not believed',
    [{ ...report('fw1', 'applied', C), host: 'fw9' }],
    { open: false, state: 'no-hosts', why: 'no host of ring canary has reported; not believed: fw9 (the record is for host fw1)' },
  ],
  [
    'a record from the future (clock skew) is not healthy yet',
    [report('fw1', 'applied', C, { ageMs: -5 * MIN })],
    { open: false, state: 'waiting', why: 'waiting for canary fw1 (healthy in 15m)' },
  ],
];

for (const [title, reports, expected, over] of cases) {
  test(title, (t) => {
    const v = gate(input(reports, over));
    t.is(v.open, expected.open);
    t.is(v.why, expected.why);
    if (!v.open) t.is(v.state, expected.state as typeof v.state);
  });
}

test('the commits to relate are those the believed hosts of the ring run, other than C', (t) => {
  const reports = [
    report('fw1', 'applied', C),
    report('fw2', 'applied', NEWER),
    report('fw3', 'refused', OTHER, { previous: OLD }),
    report('fw4', 'applied', OTHER, { signature: 'bad' }),
    report('web2', 'applied', OTHER, { ring: '1' }),
  ];
  const { descends: _ignored, ...rest } = input(reports);
  t.deepEqual(commitsToRelate(rest).sort(), [NEWER, OLD].sort());
});

test('the key of a hold changes when a host moves on, not when a countdown does', (t) => {
  const key = (reports: HostReport[]): string => {
    const v = gate(input(reports));
    if (v.open) throw new Error('expected a hold');
    return holdKey(v);
  };
  const runsOld = key([report('fw1', 'applied', OLD), report('fw2', 'applied', OLD)]);
  t.is(runsOld, `waiting: fw1 runs ${OLD.slice(0, 12)}, fw2 runs ${OLD.slice(0, 12)}`);
  const fresh = key([report('fw1', 'applied', C, { ageMs: 1 * MIN }), report('fw2', 'applied', OLD)]);
  t.is(fresh, `waiting: fw1 healthy, fw2 runs ${OLD.slice(0, 12)}`);
  t.is(key([report('fw1', 'applied', C, { ageMs: 5 * MIN }), report('fw2', 'applied', OLD)]), fresh);
  t.is(key([report('fw1', 'applied', C, { ageMs: 200 * MIN })]), 'waiting: fw1 silent');
  t.is(key([report('fw1', 'held', C)]), 'waiting: fw1 held: waiting for canary fw0');
  t.is(key([report('fw1', 'rolled-back', C)]), 'stopped: fw1 rolled-back');
  t.is(key([]), 'no-hosts: ');
});
