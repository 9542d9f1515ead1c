/**
 * The live ruleset known from its generation (netfilter/generation.ts): an apply records the target's
 * generation when its own restores made every commit since its snapshot, and the next apply, finding
 * the target still there, takes the recorded canonical form as the live ruleset without saving it.
 * Anything else saves the live ruleset as before: a commit by other software (and then drift is found),
 * the namespace made again under the same name and brought to the same generation, --full.
 */
import test from 'ava';
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readGeneration } from '../../src/netfilter/generation.js';
import { withRulesDir } from '../helpers/rules-dir.js';
import { withToolDir } from '../helpers/tool-dir.js';
import { apply, IP, inNs, nfgit, saveNs, withNetns, withStandIns, withTempDir } from './helpers/netns-apply.js';
import { CHANGED_RULES, OLD_RULES } from './helpers/rulesets.js';

const SAVES = { 'iptables-save': ':', 'ip6tables-save': ':' };

interface Recorded {
  readonly generation?: { boot: string; netns: string; gen: number };
}
const recorded = (state: string): Recorded => JSON.parse(readFileSync(path.join(state, 'last-good.json'), 'utf8')) as Recorded;

/** The saves run in the target namespace (staging saves in namespaces of its own, which have no name). */
const targetSaves = (calls: string, ns: string): string[] =>
  calls.split('\n').filter((l) => l.startsWith(`${ns}|`) && l !== `${ns}|--version`);

async function applyJson(rules: string, ns: string, state: string, options: { standIns?: string; extra?: string[] } = {}) {
  const r = await nfgit(['apply', '--rules', rules, '--netns', ns, '--state-dir', state, '--json', ...(options.extra ?? [])], {
    ...(options.standIns === undefined ? {} : { standIns: options.standIns }),
  });
  const out = JSON.parse(String(r.stdout).trim() || '{}') as { path?: { kind: string; reason?: string } };
  // With --json an error is in what it printed: both are kept.
  return { exitCode: r.exitCode, stderr: `${String(r.stderr)}${String(r.stdout)}`, path: out.path };
}

test.serial(
  'an apply records the generation; the next one knows the live ruleset from it, saves nothing, and leaves what --full leaves',
  (t) =>
    withNetns((ns) =>
      withNetns((fresh) =>
        withRulesDir({ '10-rules': OLD_RULES }, (oldRules) =>
          withRulesDir({ '10-rules': CHANGED_RULES }, (changed) =>
            withTempDir('nfgit-state-', async (state) => {
              t.is((await apply(oldRules, ns, state)).exitCode, 0);
              const first = recorded(state).generation;
              const now = await readGeneration({ netns: ns }, { kind: 'nf_tables', nft: undefined });
              t.deepEqual(first, now, 'the record names the namespace as the apply left it');
              await withStandIns(ns, SAVES, async (s) => {
                const r = await applyJson(changed, ns, state, { standIns: s.dir });
                t.is(r.exitCode, 0, r.stderr);
                t.is(r.path?.kind, 'incremental');
                t.deepEqual(targetSaves(s.has('calls') ? await s.read('calls') : '', ns), [], 'no save of the target');
              });
              const second = recorded(state).generation;
              t.truthy(second);
              t.true((second?.gen ?? 0) > (first?.gen ?? 0), 'the incremental apply records the generation it left');
              // The oracle: the same rules loaded whole into a fresh namespace.
              await withTempDir('nfgit-state-', async (other) => t.is((await apply(changed, fresh, other, {})).exitCode, 0));
              t.deepEqual(await saveNs(ns), await saveNs(fresh));
            }),
          ),
        ),
      ),
    ),
);

test.serial('a commit by other software since: the apply saves the live ruleset, finds the drift and reloads the whole ruleset', (t) =>
  withNetns((ns) =>
    withRulesDir({ '10-rules': OLD_RULES }, (oldRules) =>
      withRulesDir({ '10-rules': CHANGED_RULES }, (changed) =>
        withTempDir('nfgit-state-', async (state) => {
          t.is((await apply(oldRules, ns, state)).exitCode, 0);
          await inNs(ns, ['iptables', '-A', 'INPUT', '-p', 'udp', '--dport', '9', '-j', 'DROP']);
          await withStandIns(ns, SAVES, async (s) => {
            const r = await applyJson(changed, ns, state, { standIns: s.dir });
            t.is(r.exitCode, 0, r.stderr);
            t.deepEqual(r.path, { kind: 'full', reason: 'the live ruleset differs from the last apply (drift)' });
            t.true(targetSaves(await s.read('calls'), ns).length >= 2, 'both families saved');
          });
          t.notRegex((await saveNs(ns)).ipv4, /--dport 9 /, 'the whole reload took the stray rule away');
        }),
      ),
    ),
  ),
);

test.serial('the namespace made again under the same name and brought to the same generation: its other cookie shows it', (t) =>
  withNetns((ns) =>
    withRulesDir({ '10-rules': OLD_RULES }, (oldRules) =>
      withRulesDir({ '10-rules': CHANGED_RULES }, (changed) =>
        withTempDir('nfgit-state-', async (state) => {
          t.is((await apply(oldRules, ns, state)).exitCode, 0);
          const want = recorded(state).generation;
          await execa(IP, ['netns', 'del', ns]);
          await execa(IP, ['netns', 'add', ns]);
          // Commits up to the recorded generation, with a rule the record does not have.
          await inNs(ns, ['iptables', '-A', 'INPUT', '-p', 'udp', '--dport', '9', '-j', 'DROP']);
          for (let step = 0; ; step++) {
            const g = await readGeneration({ netns: ns }, { kind: 'nf_tables', nft: undefined });
            if (g === undefined || want === undefined || g.gen >= want.gen) {
              t.is(g?.gen, want?.gen, 'the same generation as recorded');
              t.not(g?.netns, want?.netns);
              break;
            }
            // One commit at a time: a chain made, then removed.
            await inNs(ns, ['iptables', step % 2 === 0 ? '-N' : '-X', 'NFGIT_STEP']);
          }
          const r = await applyJson(changed, ns, state);
          t.is(r.exitCode, 0, r.stderr);
          t.is(r.path?.kind, 'full', 'the live ruleset was saved and found to differ');
          t.notRegex((await saveNs(ns)).ipv4, /--dport 9 /);
        }),
      ),
    ),
  ),
);

test.serial('--full saves the live ruleset though the generation is unchanged', (t) =>
  withNetns((ns) =>
    withRulesDir({ '10-rules': OLD_RULES }, (oldRules) =>
      withRulesDir({ '10-rules': CHANGED_RULES }, (changed) =>
        withTempDir('nfgit-state-', async (state) => {
          t.is((await apply(oldRules, ns, state)).exitCode, 0);
          await withStandIns(ns, SAVES, async (s) => {
            const r = await applyJson(changed, ns, state, { standIns: s.dir, extra: ['--full'] });
            t.is(r.exitCode, 0, r.stderr);
            t.deepEqual(r.path, { kind: 'full', reason: '--full' });
            t.true(targetSaves(await s.read('calls'), ns).length >= 2);
          });
        }),
      ),
    ),
  ),
);

test.serial('a family whose rules did not change is neither staged nor restored; drift in it is still found', (t) =>
  withNetns((ns) =>
    withRulesDir({ '10-rules': OLD_RULES }, (oldRules) =>
      withRulesDir({ '10-rules': OLD_RULES.replace('--dport 80 ', '--dport 8080 ') }, (v4Only) =>
        withTempDir('nfgit-state-', async (state) => {
          t.is((await apply(oldRules, ns, state)).exitCode, 0);
          await withStandIns(ns, { 'ip6tables-restore': ':' }, async (s) => {
            const r = await applyJson(v4Only, ns, state, { standIns: s.dir });
            t.is(r.exitCode, 0, r.stderr);
            t.deepEqual(r.path, { kind: 'incremental', changes: 1 });
            const calls = s.has('calls') ? await s.read('calls') : '';
            t.deepEqual(
              calls.split('\n').filter((l) => l !== '' && !l.endsWith('|--version')),
              [],
              'ip6tables-restore ran neither in staging nor in the target',
            );
          });
          t.regex((await saveNs(ns)).ipv4, /--dport 8080 /);
          // IPv6 changed by hand, IPv4 changed in the rules: the unchanged family's drift is found.
          await inNs(ns, ['ip6tables', '-A', 'INPUT', '-p', 'udp', '--dport', '9', '-j', 'DROP']);
          const r = await applyJson(oldRules, ns, state);
          t.is(r.exitCode, 0, r.stderr);
          t.deepEqual(r.path, { kind: 'full', reason: 'the live ruleset differs from the last apply (drift)' });
          t.notRegex((await saveNs(ns)).ipv6, /--dport 9 /);
        }),
      ),
    ),
  ),
);

test.serial(
  'another program commits while the difference is worked out: nothing is changed, exit 3, and the next apply starts from what it left',
  (t) =>
    withNetns((ns) =>
      withRulesDir({ '10-rules': OLD_RULES }, (oldRules) =>
        withRulesDir({ '10-rules': CHANGED_RULES }, (changed) =>
          withTempDir('nfgit-state-', async (state) => {
            t.is((await apply(oldRules, ns, state)).exitCode, 0);
            // A perl that, the first time it reads the target's generation (the apply's first look), has
            // "another program" insert a rule at the top of the target's INPUT chain right after: the
            // reader (started ahead, generation.ts) answers each request on a line, and the insert comes
            // between its first answer and nfgit's reading of it.
            const armed = path.join(state, '..', `armed-${ns}`);
            await writeFile(armed, '');
            const perl = existsSync('/usr/bin/perl') ? '/usr/bin/perl' : '/bin/perl';
            const body = [
              `if [ -e ${armed} ] && [ "$(${IP} netns identify $$ 2>/dev/null)" = ${ns} ]; then`,
              `  rm -f ${armed}`,
              `  ${perl} "$@" | { IFS= read -r first; /usr/sbin/iptables -I INPUT 1 -p udp --dport 9 -j DROP; printf '%s\\n' "$first"; exec cat; }`,
              '  exit',
              'fi',
              `exec ${perl} "$@"`,
              '',
            ].join('\n');
            await withToolDir({ perl: body }, async (bin) => {
              const before = await saveNs(ns);
              const r = await applyJson(changed, ns, state, { standIns: bin });
              t.false(existsSync(armed), 'the other program committed after the first look');
              t.is(r.exitCode, 3, r.stderr);
              t.regex(
                r.stderr,
                /changed while this apply worked out its difference \(another program committed to it\)\. Nothing was changed/,
              );
              t.notDeepEqual(await saveNs(ns), before, 'the other program did commit');
              t.regex(
                (await saveNs(ns)).ipv4,
                /-A INPUT -p udp -m udp --dport 9 -j DROP\n-A INPUT -i lo -j ACCEPT/,
                'nfgit changed nothing',
              );
              t.false(existsSync(path.join(state, 'journal.json')));
            });
            // The next apply saves the live ruleset, finds the drift and reloads the whole ruleset.
            const again = await applyJson(changed, ns, state);
            t.is(again.exitCode, 0, again.stderr);
            t.deepEqual(again.path, { kind: 'full', reason: 'the live ruleset differs from the last apply (drift)' });
            t.notRegex((await saveNs(ns)).ipv4, /--dport 9 /);
          }),
        ),
      ),
    ),
);
