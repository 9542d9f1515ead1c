import test from 'ava';
import {
  decide,
  driftAction,
  resultOf,
  type DecideOptions,
  type LastGoodFacts,
  type PassPlan,
  type PassStep,
} from '../../src/agent/decide.js';
import type { AgentState, Decision } from '../../src/agent/agent-state.js';
import { ProbeError } from '../../src/apply/probation.js';
import { RemoteError, RuleError, SandboxError, TimeoutError, UsageError, type NfgitError } from '../../src/errors/errors.js';

// The agent's decision as a table: what a pass does for each state of the branch, agent.json and
// last-good.json (decide), how each failed step ends a commit (resultOf), and what drift leads to.

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const AT = '2026-01-01T00:00:00.000Z';

const fresh: AgentState = { nfgitAgent: 1, applied: null, decided: null };
const running = (commit: string): AgentState => ({
  nfgitAgent: 1,
  applied: { commit, at: AT },
  decided: { commit, result: 'applied', at: AT, errors: [], tag: 't', published: true },
});
const refusedEarlier = (commit: string, applied: string | null): AgentState => ({
  nfgitAgent: 1,
  applied: applied === null ? null : { commit: applied, at: AT },
  decided: { commit, result: 'refused', at: AT, errors: ['no'], tag: 't', published: true },
});
const fromGit = (commit: string): LastGoodFacts => ({ source: `git:${commit}`, appliedAt: AT });
const byHand: LastGoodFacts = { source: '/etc/nfgit/rules', appliedAt: AT };
const OPTIONS: DecideOptions = { reconcile: true, retry: false, allowRewrite: false, reconcileMode: 'repair', paused: false, pin: null };
const C = 'c'.repeat(40);

const deployNew = (commit: string, guardHistory = true): PassPlan => ({
  kind: 'deploy',
  commit,
  announce: true,
  guardHistory,
  notFromGit: false,
});
const current = (commit: string, reconcile: 'repair' | 'report' | null = 'repair', held = false, republish = false): PassPlan => ({
  kind: 'current',
  commit,
  held,
  republish,
  reconcile,
});

const decides = test.macro({
  exec(t, head: string, agent: AgentState, lastGood: LastGoodFacts | undefined, options: Partial<DecideOptions>, expected: PassPlan) {
    t.deepEqual(decide(head, agent, lastGood, { ...OPTIONS, ...options }), expected);
  },
  title: (name = '') => `decide: ${name}`,
});

test(
  "first commit: deploy it, announced, history guarded (the host's own tags give the floor)",
  decides,
  A,
  fresh,
  undefined,
  {},
  deployNew(A),
);
test('same head as applied: nothing to decide; reconcile', decides, A, running(A), fromGit(A), {}, current(A));
test(
  "same head, reconcile off (the daemon's ticks between reconciles)",
  decides,
  A,
  running(A),
  fromGit(A),
  { reconcile: false },
  current(A, null),
);
test('new signed commit: deploy it', decides, B, running(A), fromGit(A), {}, deployNew(B));
test(
  'refused earlier: held, not decided again; the running commit reconciled',
  decides,
  B,
  refusedEarlier(B, A),
  fromGit(A),
  {},
  current(B, 'repair', true),
);
test(
  'refused earlier, nothing running: held, nothing to reconcile',
  decides,
  B,
  refusedEarlier(B, null),
  undefined,
  {},
  current(B, null, true),
);
test('refused earlier, --retry: decided again', decides, B, refusedEarlier(B, A), fromGit(A), { retry: true }, deployNew(B));
test(
  'a status not published yet: published again',
  decides,
  A,
  { ...running(A), decided: { ...running(A).decided!, published: false } },
  fromGit(A),
  {},
  current(A, 'repair', false, true),
);
test(
  'rewrite without --allow-rewrite: the history guard runs (and refuses a head that does not descend)',
  decides,
  B,
  running(A),
  fromGit(A),
  {},
  deployNew(B, true),
);
test('rewrite with --allow-rewrite: no history guard', decides, B, running(A), fromGit(A), { allowRewrite: true }, deployNew(B, false));
test('drift in repair mode: reconcile repairs', decides, A, running(A), fromGit(A), { reconcileMode: 'repair' }, current(A, 'repair'));
test('drift in report mode: reconcile reports', decides, A, running(A), fromGit(A), { reconcileMode: 'report' }, current(A, 'report'));
test(
  'not-from-git in repair mode: the head is applied again, not announced',
  decides,
  A,
  running(A),
  byHand,
  {},
  { kind: 'deploy', commit: A, announce: false, guardHistory: true, notFromGit: true },
);
test(
  'not-from-git in report mode: left as it is, reported',
  decides,
  A,
  running(A),
  byHand,
  { reconcileMode: 'report' },
  { kind: 'report-not-from-git', commit: A },
);
test('not-from-git but reconcile off: nothing done', decides, A, running(A), byHand, { reconcile: false }, current(A, null));

// Paused by an admin (nfgit pause): nothing applied, nothing repaired, whatever the branch, the drift or the pin.
const paused = (commit: string, pending: boolean, republish = false, ahead?: string): PassPlan => ({
  kind: 'paused',
  commit,
  pending,
  republish,
  ...(ahead === undefined ? {} : { ahead }),
});
test('paused, a new signed commit: not deployed, pending', decides, B, running(A), fromGit(A), { paused: true }, paused(B, true));
test('paused, same head (drift would be repaired): no reconcile', decides, A, running(A), fromGit(A), { paused: true }, paused(A, false));
test(
  'paused, report mode: no reconcile either',
  decides,
  A,
  running(A),
  fromGit(A),
  { paused: true, reconcileMode: 'report' },
  paused(A, false),
);
test('paused, rules applied by hand (not-from-git): left alone', decides, A, running(A), byHand, { paused: true }, paused(A, false));
test('paused, first commit on a fresh host: nothing applied', decides, A, fresh, undefined, { paused: true }, paused(A, true));
test(
  'paused, --retry: still nothing decided',
  decides,
  B,
  refusedEarlier(B, A),
  fromGit(A),
  { paused: true, retry: true },
  paused(B, true),
);
test(
  'paused, a status not published yet: published (publishing is not applying)',
  decides,
  A,
  { ...running(A), decided: { ...running(A).decided!, published: false } },
  fromGit(A),
  { paused: true },
  paused(A, false, true),
);
test('paused and pinned: the pin is what waits', decides, C, running(A), fromGit(A), { paused: true, pin: B }, paused(B, true, false, C));

// Pinned (pin: COMMIT in the config, resolved on the branch): the host goes to the pin and no further.
test(
  'pinned, the pin not running: deploy the pin, not the head; no history guard (the admin chose it); the head is ahead',
  decides,
  C,
  running(A),
  fromGit(A),
  { pin: B },
  { kind: 'deploy', commit: B, announce: true, guardHistory: false, notFromGit: false, ahead: C },
);
test(
  'pinned, the pin running, the head beyond it: current, reconciled, head reported ahead',
  decides,
  C,
  running(B),
  fromGit(B),
  { pin: B },
  {
    ...current(B),
    ahead: C,
  },
);
test('pinned on the head itself: as without a pin, no "ahead"', decides, B, running(B), fromGit(B), { pin: B }, current(B));
test(
  'pinned to an older commit than the running one (rolling back on purpose): deployed',
  decides,
  B,
  running(B),
  fromGit(B),
  { pin: A },
  { kind: 'deploy', commit: A, announce: true, guardHistory: false, notFromGit: false, ahead: B },
);
test(
  'pinned to a commit refused earlier: held, not decided again',
  decides,
  C,
  refusedEarlier(B, A),
  fromGit(A),
  { pin: B },
  { ...current(B, 'repair', true), ahead: C },
);
test(
  'pinned, rules applied by hand in report mode: reported, the head ahead',
  decides,
  C,
  running(B),
  byHand,
  { pin: B, reconcileMode: 'report' },
  { kind: 'report-not-from-git', commit: B, ahead: C },
);

// Staged rollout: with rollout.after, a new commit waits for the gate (rollout.ts): decide asks for
// it (rollout-check), then holds or deploys on its verdict for that commit.
const gated = (verdict: { commit: string; held: string | null } | null): Partial<DecideOptions> => ({ rollout: { verdict } });
const rolloutHeld = (commit: string, held: string, reconcile: 'repair' | 'report' | null = 'repair', republish = false): PassPlan => ({
  kind: 'rollout-held',
  commit,
  held,
  republish,
  reconcile,
});
test('gated, new commit, gate not read yet: read it', decides, B, running(A), fromGit(A), gated(null), {
  kind: 'rollout-check',
  commit: B,
});
test(
  'gated, the verdict is for another commit (the branch moved): read it again',
  decides,
  C,
  running(A),
  fromGit(A),
  gated({ commit: B, held: null }),
  { kind: 'rollout-check', commit: C },
);
test('gated, the gate is open: deploy it', decides, B, running(A), fromGit(A), gated({ commit: B, held: null }), deployNew(B));
test(
  'gated, the gate holds: held with why, drift still checked',
  decides,
  B,
  running(A),
  fromGit(A),
  gated({ commit: B, held: 'waiting for canary fw1 (runs aaaaaaaaaaaa)' }),
  rolloutHeld(B, 'waiting for canary fw1 (runs aaaaaaaaaaaa)'),
);
test(
  'gated, a fresh host held: nothing to reconcile',
  decides,
  B,
  fresh,
  undefined,
  gated({ commit: B, held: 'no host of ring canary has reported' }),
  rolloutHeld(B, 'no host of ring canary has reported', null),
);
test(
  'gated and held, an earlier decision still to publish: republished',
  decides,
  B,
  { ...refusedEarlier(C, A), decided: { commit: C, result: 'refused', at: AT, errors: ['no'], published: false } },
  fromGit(A),
  gated({ commit: B, held: 'why' }),
  rolloutHeld(B, 'why', 'repair', true),
);
test('gated, same head as applied: no gate, reconcile', decides, A, running(A), fromGit(A), gated(null), current(A));
test(
  'gated, a head refused earlier: held as before, no gate',
  decides,
  B,
  refusedEarlier(B, A),
  fromGit(A),
  gated(null),
  current(B, 'repair', true),
);
test(
  'gated, a head refused earlier and --retry: the gate decides',
  decides,
  B,
  refusedEarlier(B, A),
  fromGit(A),
  { retry: true, ...gated(null) },
  { kind: 'rollout-check', commit: B },
);
test('gated and paused: the pause wins, no gate', decides, B, running(A), fromGit(A), { paused: true, ...gated(null) }, paused(B, true));
test(
  "gated and pinned: the pin is the admin's choice for this host, no gate",
  decides,
  C,
  running(A),
  fromGit(A),
  { pin: B, ...gated(null) },
  { kind: 'deploy', commit: B, announce: true, guardHistory: false, notFromGit: false, ahead: C },
);
test('gated, rules applied by hand: put back without the gate (not a new commit)', decides, A, running(A), byHand, gated(null), {
  kind: 'deploy',
  commit: A,
  announce: false,
  guardHistory: true,
  notFromGit: true,
});

const ends = test.macro({
  exec(t, step: PassStep, errors: readonly NfgitError[], expected: Decision | 'retry') {
    t.is(resultOf(step, errors), expected);
  },
  title: (name = '') => `resultOf: ${name}`,
});

const trace = [{ file: 'rules/10-a', line: 1 }];
test('untrusted: the signature step fails', ends, 'verify', [], 'untrusted');
test('rewrite refused by the history guard (or corrupt objects)', ends, 'guard', [], 'refused');
test('rules that do not compile: refused', ends, 'compile', [new RuleError('bad', { trace })], 'refused');
test('a rule file that runs too long: refused', ends, 'compile', [new TimeoutError('slow')], 'refused');
test('a symlink in the rules directory: refused', ends, 'extract', [new RuleError('link', { trace })], 'refused');
test(
  'rules the kernel refuses in staging: refused',
  ends,
  'stage',
  [new RuleError('bad', { trace }), new RuleError('worse', { trace })],
  'refused',
);
test(
  "staging's sandbox failed: retried, nothing recorded",
  ends,
  'stage',
  [new RuleError('bad', { trace }), new SandboxError('no netns')],
  'retry',
);
test(
  'probes failed after the apply: rolled back',
  ends,
  'apply',
  [new ProbeError('probe tcp 10.0.0.1:22 failed', 'probe failed')],
  'rolled-back',
);
test('a restore the kernel refused on the target: rolled back', ends, 'apply', [new RuleError('bad', { trace })], 'rolled-back');
test('the network failed during the apply: retried', ends, 'apply', [new RemoteError('gone')], 'retry');
test('a usage problem in the apply (a missing namespace): retried', ends, 'apply', [new UsageError('no such netns')], 'retry');

test('driftAction: no drift, drift in repair and in report mode', (t) => {
  t.is(driftAction('repair', []), 'none');
  t.is(driftAction('report', []), 'none');
  t.is(driftAction('repair', ['IPv4: a rule is gone']), 'repair');
  t.is(driftAction('report', ['IPv4: a rule is gone']), 'report');
});
