import test from 'ava';
import {
  asNfgitErrors,
  classify,
  InternalError,
  NfgitError,
  RECOVERY,
  RemoteError,
  RollbackError,
  RuleError,
  SandboxError,
  ScriptError,
  TimeoutError,
  UsageError,
  type ErrorCode,
} from '../../src/errors/errors.js';
import { ProbeError } from '../../src/apply/probation.js';

// Issue 12: one class per code, each with its recovery in one table.
const CLASSES = [RuleError, ScriptError, TimeoutError, UsageError, SandboxError, RemoteError, RollbackError, InternalError];

test('every code has a class with that static code, and a recovery', (t) => {
  const codes = Object.keys(RECOVERY) as ErrorCode[];
  const made = [...CLASSES.map((C) => new C('x')), new ProbeError('probe failed', 'rolled back')];
  t.deepEqual(made.map((e) => e.code).sort(), [...codes].sort());
  for (const C of CLASSES) {
    const e = new C('something');
    t.is(e.code, C.code);
    t.true(e instanceof NfgitError);
    t.is(e.name, C.code);
    t.is(e.errorClass, RECOVERY[C.code].errorClass);
  }
});

test('classify: a bug wins, then anything a retry can fix, then usage alone, else the input is wrong', (t) => {
  const cases: Array<[NfgitError[], string, number]> = [
    [[new RuleError('r')], 'stalled', 1],
    [[new UsageError('u')], 'stalled', 2],
    [[new UsageError('u'), new RuleError('r')], 'stalled', 1],
    [[new RemoteError('down')], 'transient', 3],
    [[new RollbackError('could not put back')], 'transient', 3],
    [[new RuleError('r'), new SandboxError('no ipset')], 'transient', 3],
    [[new SandboxError('s'), new InternalError('bug')], 'internal', 70],
    [[new ProbeError('probe failed', 'rolled back')], 'stalled', 1],
    [[new TimeoutError('slow')], 'stalled', 1],
  ];
  for (const [errors, errorClass, exitCode] of cases)
    t.deepEqual(classify(errors), { errorClass, exitCode }, errors.map((e) => e.code).join(','));
});

test('anything thrown becomes an InternalError, nfgit errors stay as they are', (t) => {
  const [e] = asNfgitErrors(new TypeError('oops'));
  t.true(e instanceof InternalError);
  t.regex(e?.message ?? '', /internal error: oops/);
  const r = new RuleError('bad');
  t.is(asNfgitErrors(r)[0], r);
});
