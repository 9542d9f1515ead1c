/**
 * Damaged and forged state files, each under restore-last in a scratch namespace: a damaged file is
 * named with exit 3 and the kernel untouched when nothing valid remains; a damaged journal is set
 * aside and the last good ruleset loaded; a damaged copy for people is a warning and rewritten; a
 * state directory others can write is refused before anything in it is believed.
 */
import test, { type ExecutionContext } from 'ava';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { withRulesDir } from '../helpers/rules-dir.js';
import { apply, inNs, restoreLast, saveNs, withNetns, withTempDir } from './helpers/netns-apply.js';
import { OLD_RULES } from './helpers/rulesets.js';
import { StateDir } from '../../src/apply/state-files.js';
import { sealJson } from '../../src/apply/state-records.js';

/** The sealed JSON of a file without its seal (as an older nfgit wrote it). */
function unsealed(text: string): string {
  return text.replace(/,"sha256":"[0-9a-f]{64}"\}$/, '}');
}

interface Case {
  /** Damages the state directory after a good apply. */
  readonly damage: (state: string) => void;
  readonly exitCode: number;
  /** stderr, with STATE standing for the state directory. */
  readonly stderr: RegExp;
  /** Whether restore-last loads the last good ruleset (else the kernel must stay as it was). */
  readonly loads: boolean;
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const corruption = test.macro(async (t: ExecutionContext, c: Case) =>
  withRulesDir({ '10-old': OLD_RULES }, (rules) =>
    withNetns((ns) =>
      withTempDir('nfgit-state-', async (state) => {
        const r1 = await apply(rules, ns, state);
        t.is(r1.exitCode, 0, String(r1.stderr));
        const applied = await saveNs(ns);
        // A hand change, so that "the kernel untouched" and "restored" look different.
        await inNs(ns, ['iptables', '-I', 'INPUT', '-p', 'tcp', '--dport', '7', '-j', 'ACCEPT']);
        const changed = await saveNs(ns);
        c.damage(state);
        const r = await restoreLast(ns, state);
        t.is(r.exitCode, c.exitCode, String(r.stderr));
        t.regex(String(r.stderr), new RegExp(c.stderr.source.replaceAll('STATE', esc(state))));
        t.deepEqual(await saveNs(ns), c.loads ? applied : changed);
      }),
    ),
  ),
);

const lastGood = (state: string): string => path.join(state, 'last-good.json');
const edit = (file: string, f: (text: string) => string): void => writeFileSync(file, f(readFileSync(file, 'utf8')));

test('last-good.json cut off', corruption, {
  damage: (s) => edit(lastGood(s), (x) => x.slice(0, Math.floor(x.length / 2))),
  exitCode: 3,
  stderr: /^nfgit: the state file STATE\/last-good\.json is damaged: it is not valid JSON \(.*; cut off\?\)$/,
  loads: false,
});

test('last-good.json is {}', corruption, {
  damage: (s) => writeFileSync(lastGood(s), '{}'),
  exitCode: 3,
  stderr: /^nfgit: the state file STATE\/last-good\.json is damaged: it is not a valid last good ruleset \(nfgitLastGood: .*\)$/,
  loads: false,
});

test('last-good.json is empty', corruption, {
  damage: (s) => writeFileSync(lastGood(s), ''),
  exitCode: 3,
  stderr: /^nfgit: the state file STATE\/last-good\.json is damaged: it is empty$/,
  loads: false,
});

test('a directory in place of last-good.json', corruption, {
  damage: (s) => {
    rmSync(lastGood(s));
    mkdirSync(lastGood(s));
  },
  exitCode: 3,
  stderr:
    /^nfgit: the state file STATE\/last-good\.json is damaged: it is not a regular file \(a directory is in its place\)\. Move it away \(mv STATE\/last-good\.json STATE\/last-good\.json\.bad\)$/,
  loads: false,
});

/**
 * last-good.json as an older nfgit wrote it (version 1): the families' texts inside, rules.v4/rules.v6
 * only copies for people. This nfgit writes version 2 (the texts in rules.v4/rules.v6, named by digest).
 */
function asVersion1(s: string): void {
  edit(lastGood(s), (x) => {
    const record = JSON.parse(unsealed(x)) as { nfgitLastGood: number; families: Record<string, { text?: string }> };
    record.nfgitLastGood = 1;
    for (const [f, family] of Object.entries(record.families))
      family.text = readFileSync(path.join(s, f === 'ipv4' ? 'rules.v4' : 'rules.v6'), 'utf8');
    return sealJson(JSON.stringify(record));
  });
}

test('a changed ruleset text in last-good.json (its seal no longer matches)', corruption, {
  damage: (s) => {
    asVersion1(s);
    edit(lastGood(s), (x) => x.replace('-A INPUT -i lo -j ACCEPT', '-A INPUT -j ACCEPT'));
  },
  exitCode: 3,
  stderr:
    /^nfgit: the state file STATE\/last-good\.json is damaged: its content does not match its sha256 \(recorded [0-9a-f]{64}, found [0-9a-f]{64}\)$/,
  loads: false,
});

test('a garbage ruleset text in an unsealed last-good.json (its digest no longer matches)', corruption, {
  damage: (s) => {
    asVersion1(s);
    edit(lastGood(s), (x) => unsealed(x).replace(/"text":"\*filter\\n/, '"text":"*filter\\n:INPUT ACCEPT [0:0]\\nCOMMIT\\n'));
  },
  exitCode: 3,
  stderr: /^nfgit: the state file STATE\/last-good\.json is damaged: its ipv4 ruleset does not match its digest sha256:[0-9a-f]{64}$/,
  loads: false,
});

test('a resealed record whose family digest is wrong', corruption, {
  damage: (s) => {
    asVersion1(s);
    edit(lastGood(s), (x) => sealJson(unsealed(x).replace(/("ipv6":\{[^}]*"text":")/, '$1# edited\\n')));
  },
  exitCode: 3,
  stderr: /^nfgit: the state file STATE\/last-good\.json is damaged: its ipv6 ruleset does not match its digest sha256:[0-9a-f]{64}$/,
  loads: false,
});

test('journal.json cut off: set aside, the last good ruleset loaded', corruption, {
  damage: (s) => writeFileSync(path.join(s, 'journal.json'), '{"nfgitJournal":1,"id":"x","comm'),
  exitCode: 0,
  stderr:
    /^nfgit: the state file STATE\/journal\.json is damaged: it is not valid JSON \(.*\)\. It was moved to STATE\/journal\.json\.damaged-[0-9TZ-]+ and not replayed/,
  loads: true,
});

/**
 * The journal an interrupted incremental apply leaves names its snapshot (the recorded canonical files,
 * by sha256) instead of copying it: here the named canonical.v4 changed since.
 */
function journalNamingSnapshot(s: string): void {
  const last = JSON.parse(unsealed(readFileSync(lastGood(s), 'utf8'))) as { files: Record<string, string>; target: unknown };
  const journal = {
    // The record as last-good.json holds it (its texts in rules.v4/v6, named by digest): version 3.
    nfgitJournal: 3,
    id: 'j1',
    command: 'nfgit apply (interrupted)',
    started: new Date().toISOString(),
    target: last.target,
    families: ['ipv4', 'ipv6'],
    snapshot: {},
    snapshotFromRecord: true,
    snapshotFiles: { ipv4: last.files['canonical.v4'], ipv6: last.files['canonical.v6'] },
    step: 'journaled',
    record: last,
  };
  writeFileSync(path.join(s, 'journal.json'), sealJson(JSON.stringify(journal)), { mode: 0o600 });
  edit(path.join(s, 'canonical.v4'), (x) => x.replace('-A INPUT -i lo -j ACCEPT', '-A INPUT -j ACCEPT'));
}

test('a journal whose named snapshot (canonical.v4) changed: set aside, the last good ruleset loaded', corruption, {
  damage: journalNamingSnapshot,
  exitCode: 0,
  stderr:
    /^nfgit: the state file STATE\/journal\.json is damaged: its snapshot, STATE\/canonical\.v4, is no longer the one it names \(sha256:[0-9a-f]{64}\)\. It was moved to STATE\/journal\.json\.damaged-[0-9TZ-]+ and not replayed/,
  loads: true,
});

/** last-good.json as this nfgit writes it (version 2): the families' texts in rules.v4/rules.v6, named by digest. */
function isVersion2(s: string): void {
  const record = JSON.parse(unsealed(readFileSync(lastGood(s), 'utf8'))) as { nfgitLastGood: number; families: Record<string, object> };
  if (record.nfgitLastGood !== 2 || Object.values(record.families).some((f) => 'text' in f)) throw new Error('not a record of version 2');
}

test('a record of version 2 (the texts in rules.v4 and rules.v6, named by digest) is loaded', corruption, {
  damage: isVersion2,
  exitCode: 0,
  stderr: /^$/,
  loads: true,
});

test('a record of version 2 whose rules.v4 changed: refused, naming rules.v4 and what to do', corruption, {
  damage: (s) => {
    isVersion2(s);
    writeFileSync(path.join(s, 'rules.v4'), '*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n');
  },
  exitCode: 3,
  stderr:
    /^nfgit: the state file STATE\/rules\.v4 is damaged: it does not match the sha256 recorded in last-good\.json \(sha256:[0-9a-f]{64}\): it holds the last good ipv4 ruleset, which restore-last loads; put back the file nfgit wrote, or apply the rules again \(nfgit apply, nfgit sync\)$/,
  loads: false,
});

test('a record of version 2 without its rules.v6: refused, naming rules.v6', corruption, {
  damage: (s) => {
    isVersion2(s);
    rmSync(path.join(s, 'rules.v6'));
  },
  exitCode: 3,
  stderr:
    /^nfgit: the state file STATE\/rules\.v6 is damaged: it is missing, though last-good\.json records it: it holds the last good ipv6 ruleset/,
  loads: false,
});

test('a directory in place of journal.json: set aside, the last good ruleset loaded', corruption, {
  damage: (s) => mkdirSync(path.join(s, 'journal.json')),
  exitCode: 0,
  stderr: /^nfgit: the state file STATE\/journal\.json is damaged: it is not a regular file/,
  loads: true,
});

test("an older nfgit's record, whose rules.v4 (a copy for people) changed: loaded, with a warning naming it", corruption, {
  damage: (s) => {
    asVersion1(s);
    writeFileSync(path.join(s, 'rules.v4'), '*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n');
  },
  exitCode: 0,
  stderr: /^warning: STATE\/rules\.v4 does not match the sha256 recorded in last-good\.json; rewritten from last-good\.json$/m,
  loads: true,
});

test('a group-writable state directory with a forged last-good.json is refused before it is read', corruption, {
  damage: (s) => {
    chmodSync(s, 0o770);
    edit(lastGood(s), (x) =>
      sealJson(unsealed(x).replace('"hostCommands":[]', '"hostCommands":[{"argv":["touch","/tmp/nfgit-forged"],"at":"x:1"}]')),
    );
  },
  exitCode: 3,
  stderr:
    /^nfgit: refusing the state directory: STATE is writable by its group \(mode 0770\): they could make nfgit load any ruleset and run any command as root\. Run: chmod go-w STATE$/,
  loads: false,
});

test('a damaged canonical form is an error naming it for drift detection; restore-last rewrites it', (t) =>
  withRulesDir({ '10-old': OLD_RULES }, (rules) =>
    withNetns((ns) =>
      withTempDir('nfgit-state-', async (state) => {
        t.is((await apply(rules, ns, state)).exitCode, 0);
        const file = path.join(state, 'canonical.v4');
        const good = readFileSync(file, 'utf8');
        writeFileSync(file, good.replace('-A INPUT -i lo -j ACCEPT', '-A INPUT -j ACCEPT'));
        t.throws(() => new StateDir(state).readCanonical('ipv4'), {
          message: new RegExp(
            `^the state file ${esc(file)} is damaged: it does not match the sha256 recorded in last-good\\.json \\(sha256:[0-9a-f]{64}\\)$`,
          ),
        });
        rmSync(file);
        t.throws(() => new StateDir(state).readCanonical('ipv4'), {
          message: `the state file ${file} is damaged: it is missing, though last-good.json records it`,
        });
        const r = await restoreLast(ns, state);
        t.is(r.exitCode, 0, String(r.stderr));
        // Read back from the target, and recorded again: no error, and the hand edit is gone.
        t.regex(new StateDir(state).readCanonical('ipv4') ?? '', /^(\[\d+:\d+\] )?-A INPUT -i lo -j ACCEPT$/m);
        t.deepEqual(
          readdirSync(state).filter((f) => f.includes('.tmp-')),
          [],
        );
      }),
    ),
  ));
