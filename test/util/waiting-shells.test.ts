/**
 * Shells started ahead (util/waiting-shells.ts): one taken becomes the command its line names, with
 * the rest of its input; its words come through whatever they hold; a script on more than one line is
 * not given to one; released ones end without running anything.
 */
import test from 'ava';
import { once } from 'node:events';
import { runSpawned } from '../../src/util/run-process.js';
import { execLine, startWaitingShells, takeWaitingShell } from '../../src/util/waiting-shells.js';

const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

test.serial('a shell taken runs its line with the rest of its input, words as they are', async (t) => {
  const started = startWaitingShells('test-run', 1, ['/bin/sh', '-c'], ENV);
  try {
    const words = ["it's", 'a "word"', '$HOME `x` \\ *', ''];
    const shell = takeWaitingShell('test-run', execLine(['/bin/sh', '-c', 'printf "%s|" "$@"; cat', 'sh', ...words]));
    t.not(shell, undefined);
    if (shell === undefined) return;
    const r = await runSpawned(shell, { input: 'the input\n', timeoutMs: 60_000 });
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout, `${words.join('|')}|the input\n`);
    t.is(takeWaitingShell('test-run', 'true'), undefined, 'none left');
  } finally {
    started.release();
  }
});

test.serial('a script of more than one line is not given to a waiting shell; released shells end', async (t) => {
  const started = startWaitingShells('test-release', 2, ['/bin/sh', '-c'], ENV);
  t.is(takeWaitingShell('test-release', 'echo a\necho b'), undefined);
  const exits = started.shells.map((s) => once(s, 'exit'));
  started.release();
  const codes = await Promise.all(exits);
  t.deepEqual(
    codes.map(([code]) => code as number),
    [0, 0],
  );
  t.is(takeWaitingShell('test-release', 'true'), undefined);
});
