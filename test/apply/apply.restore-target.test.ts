/**
 * restore-last loads into the target recorded in last-good.json: the boot unit names no --netns, and a
 * namespace's ruleset loaded into the host would lock it out. Another target is refused without
 * --force. Every run here is into scratch namespaces; a run without --netns happens only after
 * checking that the record names a scratch namespace, and the host's rulesets are compared before and
 * after.
 */
import test from 'ava';
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CLI, ROOT } from '../helpers/paths.js';
import { withNamedNetns } from '../helpers/named-netns.js';
import { withRulesDir } from '../helpers/rules-dir.js';
import { apply, freshNsName, inNs, nfgit, saveHost, saveNs, SYSTEM_PATH, withTempDir } from './helpers/netns-apply.js';
import { OLD_RULES } from './helpers/rulesets.js';

/** restore-last without --netns, only once the state directory records `ns` (a scratch namespace) as the target. */
async function restoreLastRecorded(state: string, ns: string): Promise<Awaited<ReturnType<typeof nfgit>>> {
  const recorded = JSON.parse(readFileSync(path.join(state, 'last-good.json'), 'utf8').replace(/,"sha256":"[0-9a-f]{64}"\}$/, '}')) as {
    target: { netns: string | null };
  };
  if (recorded.target.netns !== ns || !ns.startsWith('nfgit-t-'))
    throw new Error(`test bug: the record names ${String(recorded.target.netns)}, not the scratch namespace ${ns}`);
  return execa(process.execPath, [CLI, 'restore-last', '--state-dir', state], {
    reject: false,
    cwd: ROOT,
    env: { PATH: SYSTEM_PATH },
    extendEnv: false,
    timeout: 180_000,
  });
}

test.serial('restore-last without --netns loads into the recorded namespace, never the host', (t) =>
  withRulesDir({ '10-old': OLD_RULES }, (rules) =>
    withNamedNetns(1, ([a]) =>
      withTempDir('nfgit-state-', async (state) => {
        const ns = a as string;
        t.is((await apply(rules, ns, state)).exitCode, 0);
        const applied = await saveNs(ns);
        await inNs(ns, ['iptables', '-F']);
        await inNs(ns, ['ip6tables', '-F']);
        const host = await saveHost();
        const r = await restoreLastRecorded(state, ns);
        t.is(r.exitCode, 0, String(r.stderr));
        t.regex(String(r.stdout), new RegExp(`^restored the last good ruleset \\(${rules}, applied .*\\) to network namespace ${ns} in `));
        t.deepEqual(await saveNs(ns), applied);
        t.deepEqual(await saveHost(), host);
      }),
    ),
  ),
);

test.serial('restore-last --netns B of a ruleset recorded for A is refused (exit 2, nothing loaded); with --force it loads into B', (t) =>
  withRulesDir({ '10-old': OLD_RULES }, (rules) =>
    withNamedNetns(2, ([a, b]) =>
      withTempDir('nfgit-state-', async (state) => {
        const [nsA, nsB] = [a as string, b as string];
        t.is((await apply(rules, nsA, state)).exitCode, 0);
        const applied = await saveNs(nsA);
        const emptyB = await saveNs(nsB);
        const r = await nfgit(['restore-last', '--netns', nsB, '--state-dir', state]);
        t.is(r.exitCode, 2, String(r.stderr));
        t.is(
          String(r.stderr),
          `nfgit: the last good ruleset in ${state} was applied to network namespace ${nsA}, not network namespace ${nsB}: loading it there could lock that target out. Run restore-last without --netns to load it where it was applied, or add --force to load it into network namespace ${nsB} all the same`,
        );
        t.deepEqual(await saveNs(nsB), emptyB);
        t.deepEqual(await saveNs(nsA), applied);

        const forced = await nfgit(['restore-last', '--netns', nsB, '--force', '--state-dir', state]);
        t.is(forced.exitCode, 0, String(forced.stderr));
        t.deepEqual(await saveNs(nsB), applied);
      }),
    ),
  ),
);

test.serial('restore-last without --netns when the recorded namespace is gone: refused (exit 2), the host untouched', (t) =>
  withRulesDir({ '10-old': OLD_RULES }, (rules) =>
    withTempDir('nfgit-state-', async (state) => {
      const ns = freshNsName();
      await execa('ip', ['netns', 'add', ns]);
      try {
        t.is((await apply(rules, ns, state)).exitCode, 0);
      } finally {
        await execa('ip', ['netns', 'del', ns], { reject: false });
      }
      const host = await saveHost();
      const r = await restoreLastRecorded(state, ns);
      t.is(r.exitCode, 2, String(r.stderr));
      t.regex(String(r.stderr), new RegExp(`^nfgit: network namespace "${ns}" does not exist`));
      t.deepEqual(await saveHost(), host);
    }),
  ),
);
