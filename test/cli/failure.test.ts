import test from 'ava';
import { Command } from 'commander';
import { exitForFailure, failsWith } from '../../src/cli/failure.js';
import { NfgitErrors, RemoteError, RuleError, UsageError, type NfgitError } from '../../src/errors/errors.js';

// The one catch of the CLI: the exit code is classify()'s, adjusted by the command's own style.

const printed: NfgitError[][] = [];
const command = (exitCode?: (code: number) => number): Command =>
  failsWith(new Command('x'), () => ({ print: (errors) => printed.push([...errors]), ...(exitCode === undefined ? {} : { exitCode }) }));

test("the exit code is classify()'s: 1 wrong rules, 2 usage, 3 transient, 70 a bug", (t) => {
  t.is(exitForFailure(new RuleError('bad'), command()), 1);
  t.is(exitForFailure(new UsageError('no such file'), command()), 2);
  t.is(exitForFailure(new NfgitErrors([new RuleError('bad'), new RemoteError('gone')]), command()), 3);
  t.is(exitForFailure(new Error('oops'), command()), 70);
});

test("a command's own exit codes (diff: a failure is 2, as diff(1)) and printer", (t) => {
  printed.length = 0;
  const diff = command((code) => (code === 1 ? 2 : code));
  t.is(exitForFailure(new RuleError('bad'), diff), 2);
  t.is(exitForFailure(new RemoteError('gone'), diff), 3);
  t.deepEqual(
    printed.map((errors) => errors.map((e) => e.message)),
    [['bad'], ['gone']],
  );
});
