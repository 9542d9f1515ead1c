import test from 'ava';
import { execa, type ResultPromise } from 'execa';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { withNamedNetns, savesOf, type NamespaceSaves } from '../helpers/named-netns.js';
import { CLI, ROOT } from '../helpers/paths.js';
import { withRulesDir } from '../helpers/rules-dir.js';

// Issue 3, "Concurrency": applies that share a state directory never interleave. The lock is held
// from before the snapshot until after the host commands, so `main` commands that log when they
// start and end show the order in which the applies held it.

const apply = (args: string[]) => execa('node', [CLI, 'apply', ...args], { reject: false, cwd: ROOT });

/** Two rule sets that differ in both families (a mix of the two would show). */
function ruleSet(name: string, port: number, log: string): Record<string, string> {
  return {
    '10-rules': `for ipt in iptables ip6tables; do
  $ipt -N ${name}_IN
  $ipt -A INPUT -p tcp --dport ${port} -j ${name}_IN
  $ipt -A ${name}_IN -m comment --comment "${name}" -j ACCEPT
done
iptables -P FORWARD DROP
ip6tables -A OUTPUT -p udp --dport ${port} -j ACCEPT
main sh -c "echo ${name} begin >> ${log}; sleep 0.5; echo ${name} end >> ${log}"
`,
  };
}

/** What one rule set looks like when applied alone to a fresh namespace (the expected saves). */
async function appliedAlone(dir: string): Promise<NamespaceSaves> {
  return withNamedNetns(1, async ([ns = '']) => {
    const state = await mkdtemp(path.join(tmpdir(), 'nfgit-state-'));
    try {
      const r = await apply(['--rules', dir, '--netns', ns, '--state-dir', state]);
      if (r.exitCode !== 0) throw new Error(`applying ${dir} alone failed: ${r.stderr}`);
      return await savesOf(ns);
    } finally {
      await rm(state, { recursive: true, force: true });
    }
  });
}

/**
 * Leftovers of an apply in a state directory: a journal, their temporary files, or a lock that is
 * still held. A lock file may stay (a flock(2) lock lives in the kernel, not in the file's
 * existence), but nobody may hold it: `flock --nonblock` on it must succeed at once.
 */
async function leftovers(state: string): Promise<string[]> {
  const left = (await readdir(state)).filter((f) => /journal|lock/.test(f) && f !== 'lock');
  if (existsSync(path.join(state, 'lock'))) {
    const r = await execa('flock', ['--nonblock', path.join(state, 'lock'), 'true'], { reject: false });
    if (r.exitCode !== 0) left.push('lock (still held)');
  }
  return left;
}

test.serial('two applies started together both succeed, one after the other, and leave one whole ruleset', async (t) => {
  const work = await mkdtemp(path.join(tmpdir(), 'nfgit-conc-'));
  const log = path.join(work, 'order.log');
  try {
    await withRulesDir(ruleSet('ALPHA', 1111, log), (alpha) =>
      withRulesDir(ruleSet('BETA', 2222, log), async (beta) => {
        const expected = { ALPHA: await appliedAlone(alpha), BETA: await appliedAlone(beta) };
        t.notDeepEqual(expected.ALPHA.ipv4, expected.BETA.ipv4);
        t.notDeepEqual(expected.ALPHA.ipv6, expected.BETA.ipv6);
        await rm(log, { force: true });

        await withNamedNetns(1, async ([ns = '']) => {
          const state = path.join(work, 'state');
          const [a, b] = await Promise.all([
            apply(['--rules', alpha, '--netns', ns, '--state-dir', state, '--json']),
            apply(['--rules', beta, '--netns', ns, '--state-dir', state, '--json']),
          ]);
          t.is(a.exitCode, 0, a.stderr);
          t.is(b.exitCode, 0, b.stderr);

          // One held the lock (through its host command) before the other took it.
          const order = (await readFile(log, 'utf8')).trim().split('\n');
          const first = order[0]?.startsWith('ALPHA') === true ? 'ALPHA' : 'BETA';
          const second = first === 'ALPHA' ? 'BETA' : 'ALPHA';
          t.deepEqual(order, [`${first} begin`, `${first} end`, `${second} begin`, `${second} end`]);

          // The second one's snapshot was the first one's ruleset: its report removes the first's rules.
          const reports = { ALPHA: JSON.parse(a.stdout), BETA: JSON.parse(b.stdout) } as Record<
            string,
            { families: Array<{ family: string; rules: number; change: { rulesAdded: number; rulesRemoved: number } }> }
          >;
          for (const family of [0, 1]) {
            t.is(reports[first]?.families[family]?.change.rulesRemoved, 0, `${first} applied to an empty namespace`);
            t.is(
              reports[second]?.families[family]?.change.rulesRemoved,
              reports[first]?.families[family]?.rules,
              `${second} replaced ${first}'s rules`,
            );
          }

          // Both families hold the second one's ruleset, whole.
          t.deepEqual(await savesOf(ns), expected[second]);
          t.deepEqual(await leftovers(state), []);
          const last = JSON.parse(await readFile(path.join(state, 'last-good.json'), 'utf8')) as { source: string };
          t.is(last.source, second === 'ALPHA' ? alpha : beta);
        });
      }),
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

/** Resolves once `file` exists (polling), or rejects after `ms`. */
async function waitFor(file: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`${file} did not appear within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test.serial('an apply that cannot get the lock in --lock-timeout fails naming the holder, and changes nothing', async (t) => {
  const work = await mkdtemp(path.join(tmpdir(), 'nfgit-conc-'));
  const log = path.join(work, 'order.log');
  let slow: ResultPromise | undefined;
  try {
    // Host commands run while the lock is held: "main sleep" keeps it long enough for the second
    // apply to compile, stage (about a second) and wait its one second.
    const slowRules = { ...ruleSet('SLOW', 3333, log), '90-sleep': 'main sleep 5\n' };
    await withRulesDir(slowRules, (slowDir) =>
      withRulesDir(ruleSet('FAST', 4444, log), async (fastDir) => {
        const expected = await appliedAlone(slowDir);
        await rm(log, { force: true });
        await withNamedNetns(1, async ([ns = '']) => {
          const state = path.join(work, 'state');
          const slowArgs = ['--rules', slowDir, '--netns', ns, '--state-dir', state];
          slow = apply(slowArgs);
          await waitFor(path.join(state, 'lock'), 30_000);

          const fast = await apply(['--rules', fastDir, '--netns', ns, '--state-dir', state, '--lock-timeout', '1']);
          t.is(slow.exitCode, null, 'the second apply gave up while the first still held the lock');
          t.is(fast.exitCode, 3);
          const holder = `"nfgit apply ${slowArgs.join(' ')}" (pid ${slow.pid}, since `;
          t.true(fast.stderr.startsWith(`nfgit: the state directory ${state} is in use by ${holder}`), fast.stderr);
          t.regex(fast.stderr, /waited 1 s\. Try again when it has finished$/);

          const done = await slow;
          t.is(done.exitCode, 0, String(done.stderr));
          t.deepEqual(await savesOf(ns), expected, "the namespace runs the slow apply's ruleset, nothing of the refused one");
          t.is((await readFile(log, 'utf8')).trim(), 'SLOW begin\nSLOW end');
          t.deepEqual(await leftovers(state), []);
        });
      }),
    );
  } finally {
    slow?.kill('SIGKILL');
    await slow?.catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
});

// Waits for a common start time (so that all contenders ask at once), takes the lock, and checks
// that it is alone inside: a directory only one process at a time can create stands for the
// transaction. Prints "ok" or "overlap".
const CONTENDER = `
import { mkdirSync, rmdirSync } from 'node:fs';
const [module, dir, at] = process.argv.slice(1);
const { lockStateDir } = await import(module);
while (Date.now() < Number(at)) {}
const lock = await lockStateDir(dir, 'contender ' + process.pid, 30000);
let alone = true;
try { mkdirSync(dir + '/inside'); } catch { alone = false; }
await new Promise((r) => setTimeout(r, 50));
if (alone) rmdirSync(dir + '/inside');
lock.release();
console.log(alone ? 'ok' : 'overlap');`;

// Takes the lock and holds it until killed.
const HOLDER = `
const [module, dir] = process.argv.slice(1);
const { lockStateDir } = await import(module);
await lockStateDir(dir, 'holder', 5000);
console.log('held');
setInterval(() => {}, 1000);`;

test.serial('many processes racing for a lock left by a killed holder take it one at a time', async (t) => {
  // After a crash, at boot: restore-last, a cron sync and the daemon may all find the lock of a
  // dead nfgit at the same moment. An earlier lock (unlink a dead holder's lock file, then create
  // one) let two of them "take over" together in about half of such rounds here.
  const module = path.join(ROOT, 'dist/src/apply/state-lock.js');
  const contenders = 10;
  for (let round = 0; round < 5; round++) {
    const dir = await mkdtemp(path.join(tmpdir(), 'nfgit-lock-race-'));
    try {
      const holder = execa(process.execPath, ['--input-type=module', '-e', HOLDER, module, dir], { reject: false });
      await new Promise<void>((resolve) => holder.stdout?.on('data', (b: Buffer) => b.toString().includes('held') && resolve()));
      holder.kill('SIGKILL');
      await holder;
      const at = String(Date.now() + 1500);
      const results = await Promise.all(
        Array.from({ length: contenders }, () =>
          execa(process.execPath, ['--input-type=module', '-e', CONTENDER, module, dir, at], { reject: false }),
        ),
      );
      t.deepEqual(
        results.map((r) => (r.exitCode === 0 ? r.stdout.trim() : `exit ${r.exitCode}: ${r.stderr}`)),
        Array.from({ length: contenders }, () => 'ok'),
        `round ${round + 1}`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
});

test.serial(
  'two state directories applying to one namespace at once take turns (the target lock): one whole ruleset, in order',
  async (t) => {
    const work = await mkdtemp(path.join(tmpdir(), 'nfgit-conc-'));
    const log = path.join(work, 'order.log');
    try {
      await withRulesDir(ruleSet('ALPHA', 1111, log), (alpha) =>
        withRulesDir(ruleSet('BETA', 2222, log), async (beta) => {
          const expected = { ALPHA: await appliedAlone(alpha), BETA: await appliedAlone(beta) };
          await rm(log, { force: true });
          await withNamedNetns(1, async ([ns = '']) => {
            const [a, b] = await Promise.all([
              apply(['--rules', alpha, '--netns', ns, '--state-dir', path.join(work, 'state-a')]),
              apply(['--rules', beta, '--netns', ns, '--state-dir', path.join(work, 'state-b')]),
            ]);
            t.is(a.exitCode, 0, a.stderr);
            t.is(b.exitCode, 0, b.stderr);
            // The host commands run under the locks: one apply finished before the other began.
            const order = (await readFile(log, 'utf8')).trim().split('\n');
            const first = order[0]?.startsWith('ALPHA') === true ? 'ALPHA' : 'BETA';
            const second = first === 'ALPHA' ? 'BETA' : 'ALPHA';
            t.deepEqual(order, [`${first} begin`, `${first} end`, `${second} begin`, `${second} end`]);
            t.deepEqual(await savesOf(ns), expected[second]);
          });
        }),
      );
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  },
);

test.serial('an apply whose target another state directory holds fails naming the target, and changes nothing', async (t) => {
  const work = await mkdtemp(path.join(tmpdir(), 'nfgit-conc-'));
  try {
    await withRulesDir(ruleSet('FAST', 4444, path.join(work, 'log')), (fastDir) =>
      withNamedNetns(1, async ([ns = '']) => {
        const { lockTarget } = await import('../../src/apply/state-lock.js');
        const held = await lockTarget({ netns: ns }, 'nfgit apply --state-dir /elsewhere', 5000);
        try {
          const before = await savesOf(ns);
          const r = await apply(['--rules', fastDir, '--netns', ns, '--state-dir', path.join(work, 'state'), '--lock-timeout', '1']);
          t.is(r.exitCode, 3);
          t.is(
            r.stderr,
            `nfgit: network namespace ${ns} is in use by another nfgit (with another state directory); waited 1 s. Try again when it has finished`,
          );
          t.deepEqual(await savesOf(ns), before);
        } finally {
          held.release();
        }
      }),
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
