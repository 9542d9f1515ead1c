/**
 * The pure part of the incremental apply: the commands of the --noflush script, the skeleton that
 * staging loads, and the reasons to reload the whole ruleset. That the script leaves what a whole
 * reload leaves is proven against the kernel in test/apply/apply.incremental.test.ts.
 */
import test from 'ava';
import { finishIncrement, planIncrement, scanAhead, scanKnown, scanSave, type FamilyIncrement } from '../../src/netfilter/increment.js';
import { RulesetModel } from '../../src/compiler/ruleset-model.js';
import { parseArgv } from '../../src/compiler/parse-argv.js';
import { renderRestore, type RenderedRuleset } from '../../src/compiler/render-restore.js';
import { mulberry32 } from '../oracle/generate.js';
import { chainsOf } from '../../src/netfilter/ruleset-diff.js';
import { isEmptyTable, parseSave } from '../../src/netfilter/save-text.js';

const OLD = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:WEB - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp -j WEB
-A WEB -p tcp --dport 80 -j ACCEPT
-A WEB -p tcp --dport 443 -j ACCEPT
COMMIT
`;

/** The kernel's form of OLD (what the save shows after loading it): -m tcp added. */
const LIVE = OLD.replaceAll('-p tcp --dport', '-p tcp -m tcp --dport');

function plan(next: string): FamilyIncrement {
  const p = planIncrement(OLD, next);
  if ('reason' in p) throw new Error(p.reason);
  return p;
}

/** What staging saves back from a skeleton: its kept rules in canonical form. */
function stagedSave(skeleton: string): string {
  return skeleton
    .split('\n')
    .filter((l) => l !== '#')
    .join('\n')
    .replaceAll('-p tcp --dport', '-p tcp -m tcp --dport');
}

test('a replaced rule is one -R at its place; staging loads it and the jumps only', (t) => {
  const next = OLD.replace('--dport 80 ', '--dport 8080 ');
  const p = plan(next);
  t.is(p.changes, 1);
  t.deepEqual(
    p.skeleton.split('\n').filter((l) => l.startsWith('-A')),
    ['-A INPUT -p tcp -j WEB', '-A WEB -p tcp --dport 8080 -j ACCEPT'],
    'the unchanged ACCEPT rules are left out, the jump to WEB is kept',
  );
  t.is(p.skeleton.split('\n').length, next.split('\n').length, 'line numbers (so FILE:LINE) stay');
  const done = finishIncrement(p, LIVE, LIVE, stagedSave(p.skeleton));
  if ('reason' in done) return t.fail(done.reason);
  t.is(done.script, '*filter\n-R WEB 1 -p tcp -m tcp --dport 8080 -j ACCEPT\nCOMMIT\n');
  t.regex(done.expected, /-A WEB -p tcp -m tcp --dport 8080 -j ACCEPT\n-A WEB -p tcp -m tcp --dport 443 -j ACCEPT/);
});

test('a table in which nothing changes is not staged; the canonical form keeps its recorded block', (t) => {
  const nat =
    '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:SNAT_LAN - [0:0]\n-A POSTROUTING -o eth0 -j SNAT_LAN\n-A SNAT_LAN -s 10.0.0.0/8 -j MASQUERADE\nCOMMIT\n';
  const raw = '*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n';
  const old = OLD + nat + raw;
  const next = old.replace('--dport 80 ', '--dport 8080 ');
  const p = planIncrement(old, next);
  if ('reason' in p) return t.fail(p.reason);
  const lines = p.skeleton.split('\n');
  t.is(lines.length, next.split('\n').length, 'line numbers (so FILE:LINE) stay');
  t.deepEqual(
    lines.filter((l) => l.startsWith('*')),
    ['*filter'],
    'the nat and raw tables, unchanged, are all comment lines',
  );
  t.deepEqual(
    p.tables.map((x) => [x.name, x.unchanged]),
    [
      ['filter', false],
      ['nat', true],
      ['raw', true],
    ],
  );
  const live = LIVE + nat + raw;
  const done = finishIncrement(p, live, live, stagedSave(p.skeleton));
  if ('reason' in done) return t.fail(done.reason);
  t.is(done.script, '*filter\n-R WEB 1 -p tcp -m tcp --dport 8080 -j ACCEPT\nCOMMIT\n');
  t.true(done.expected.endsWith(nat + raw), 'the unchanged tables as recorded');
  // An empty table the target lacks stays absent (as a whole reload of an empty table would leave it
  // flushed, and a staged one is skipped); one with rules that the target lacks means reloading.
  const noRaw = finishIncrement(p, LIVE + nat, LIVE + nat + raw, stagedSave(p.skeleton));
  if ('reason' in noRaw) return t.fail(noRaw.reason);
  t.false(noRaw.expected.includes('*raw'));
  t.true('reason' in finishIncrement(p, LIVE + raw, LIVE + nat + raw, stagedSave(p.skeleton)));
});

test('texts scanned ahead give the same plan and finish as texts scanned when needed', (t) => {
  const next = OLD.replace('--dport 80 ', '--dport 8080 ').replace('COMMIT', '-A INPUT -p udp -j DROP\nCOMMIT');
  const plain = plan(next);
  const plainDone = finishIncrement(plain, LIVE, LIVE, stagedSave(plain.skeleton));
  // Equal texts, not the same objects: the scans are found by content.
  scanAhead(`${OLD}`.slice(0), 'rendered');
  scanAhead(`${LIVE} `.slice(0, -1), 'save');
  const ahead = plan(next);
  t.deepEqual(ahead, plain);
  t.deepEqual(finishIncrement(ahead, LIVE, LIVE, stagedSave(ahead.skeleton)), plainDone);
});

test('insert, delete, append at the end, a new chain with its jump, a policy, a removed chain', (t) => {
  const next = `*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:API - [0:0]
-A INPUT -s 192.0.2.1/32 -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp -j API
-A API -p tcp --dport 443 -j ACCEPT
COMMIT
`;
  const p = plan(next);
  const done = finishIncrement(p, LIVE, LIVE, stagedSave(p.skeleton));
  if ('reason' in done) return t.fail(done.reason);
  t.is(
    done.script,
    [
      '*filter',
      '-N API',
      '-P INPUT DROP',
      '-I INPUT 1 -s 192.0.2.1/32 -j ACCEPT',
      '-R INPUT 3 -p tcp -j API',
      '-A API -p tcp -m tcp --dport 443 -j ACCEPT',
      '-F WEB',
      '-X WEB',
      'COMMIT',
      '',
    ].join('\n'),
  );
});

test('reasons to reload the whole ruleset: drift, no record, a live table the rules lack, a large change', (t) => {
  const next = OLD.replace('--dport 80 ', '--dport 8080 ');
  const p = plan(next);
  const skeleton = stagedSave(p.skeleton);
  t.regex(JSON.stringify(finishIncrement(p, LIVE.replace('-i lo', '-i eth9'), LIVE, skeleton)), /drift/);
  t.regex(JSON.stringify(finishIncrement(p, LIVE, undefined, skeleton)), /not recorded/);
  const raw = (rules: string): string => `${LIVE}*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n${rules}COMMIT\n`;
  const notrack = raw('-A PREROUTING -j NOTRACK\n');
  t.regex(JSON.stringify(finishIncrement(p, notrack, notrack, skeleton)), /raw table/);
  // An empty table the rules lack is no rule: a full reload would leave it empty too.
  t.false('reason' in finishIncrement(p, raw(''), LIVE, skeleton));
  const many = Array.from({ length: 300 }, (_, i) => `-A WEB -p udp --dport ${i + 1} -j ACCEPT`).join('\n');
  const large = planIncrement(OLD, OLD.replace('COMMIT', `${many}\nCOMMIT`));
  t.regex('reason' in large ? large.reason : '', /large change/);
});

test('rules changed in place in a run are one -R each; a run longer on one side ends with -D or -I', (t) => {
  const web = (ports: number[]): string => ports.map((p) => `-A WEB -p tcp --dport ${p} -j ACCEPT\n`).join('');
  const base = OLD.replace('-A WEB -p tcp --dport 80 -j ACCEPT\n-A WEB -p tcp --dport 443 -j ACCEPT\n', web([1, 2, 3, 4, 5, 6]));
  const live = base.replaceAll('-p tcp --dport', '-p tcp -m tcp --dport');
  const script = (ports: number[]): { script: string; changes: number } => {
    const p = planIncrement(base, base.replace(web([1, 2, 3, 4, 5, 6]), web(ports)));
    if ('reason' in p) throw new Error(p.reason);
    const done = finishIncrement(p, live, live, stagedSave(p.skeleton));
    if ('reason' in done) throw new Error(done.reason);
    return { script: done.script.replaceAll(' -p tcp -m tcp --dport ', ':').replaceAll(' -j ACCEPT', ''), changes: p.changes };
  };
  // Three rules changed in place (Myers removes the three, then adds three): three -R.
  t.deepEqual(script([1, 20, 30, 40, 5, 6]), { script: '*filter\n-R WEB 2:20\n-R WEB 3:30\n-R WEB 4:40\nCOMMIT\n', changes: 3 });
  // Three removed, two added in their place: two -R, then one -D at the place after them.
  t.deepEqual(script([1, 20, 30, 5, 6]), { script: '*filter\n-R WEB 2:20\n-R WEB 3:30\n-D WEB 4\nCOMMIT\n', changes: 3 });
  // One removed, three added: one -R, then two -I after it.
  t.deepEqual(script([1, 20, 30, 40, 3, 4, 5, 6]), { script: '*filter\n-R WEB 2:20\n-I WEB 3:30\n-I WEB 4:40\nCOMMIT\n', changes: 3 });
  // At the end of the chain, the additions left over are appended.
  t.deepEqual(script([1, 2, 3, 4, 5, 60, 70]), { script: '*filter\n-R WEB 6:60\n-A WEB:70\nCOMMIT\n', changes: 2 });
});

test('scanSave finds the chains and rules parseSave and chainsOf do, or leaves the save to them', (t) => {
  const save = [
    '# Generated by iptables-save',
    '*filter',
    ':INPUT DROP [3:120]',
    ':FORWARD ACCEPT [0:0]',
    ':WEB - [0:0]',
    '-A INPUT -i lo -j ACCEPT',
    '-A INPUT -p tcp -j WEB',
    '-A WEB -p tcp -m tcp --dport 80 -j ACCEPT',
    '',
    '-A WEBX -j RETURN',
    '-A WEB -p tcp -m tcp --dport 443 -j ACCEPT',
    '# a comment',
    '-A WEB -m comment --comment "-A INPUT x" -j ACCEPT',
    'COMMIT',
    '*nat',
    ':POSTROUTING ACCEPT [0:0]',
    'COMMIT',
    '',
  ].join('\n');
  const scanned = scanSave(save);
  if (scanned === undefined) return t.fail('a plain save was not scanned');
  const parsed = parseSave(save);
  t.deepEqual([...scanned.keys()], [...parsed.keys()]);
  for (const [name, table] of parsed) {
    const want = chainsOf(table);
    const got = scanned.get(name)?.chains;
    t.deepEqual(new Set(got?.keys()), new Set(want.keys()), name);
    for (const [chain, side] of want) {
      const c = got?.get(chain);
      t.deepEqual(
        { policy: c?.policy, count: c?.count, rules: c?.rules(), joined: c?.joined() },
        {
          policy: side.policy,
          count: side.rules.length,
          rules: side.rules,
          joined: side.rules.join('\n'),
        },
      );
    }
    t.is(scanned.get(name)?.empty, isEmptyTable(table));
  }
  // What parseSave reads differently is left to it.
  for (const odd of [
    '[1:2] -A INPUT -j ACCEPT',
    '-A INPUT -j ACCEPT ',
    '-A INPUT -j ACCEPT\r',
    '-I INPUT -j ACCEPT',
    ':INPUT DROP [0:0]',
  ]) {
    t.is(scanSave(save.replace('-A INPUT -i lo -j ACCEPT', odd)), undefined, odd);
  }
  t.is(scanSave(`:X - [0:0]\n${save}`), undefined, 'a chain outside a table');
});

/** A rendered IPv4 ruleset from iptables argument lines (each must apply). */
function rendered(lines: readonly string[]): RenderedRuleset {
  const m = new RulesetModel('ipv4');
  for (const [i, line] of lines.entries()) {
    const p = parseArgv('ipv4', line.split(' '));
    if (!p.ok) throw new Error(`${line}: ${p.message}`);
    const r = m.apply(p.call.table, p.call.command, [{ file: 'f', line: i + 1 }]);
    if (r.ok !== true) throw new Error(`${line}: ${'message' in r ? r.message : r.ok}`);
  }
  return renderRestore(m, ['filter', 'nat', 'mangle']);
}

/** Random rules files' lines: user chains in filter and nat, rules appended and inserted, policies. */
function randomLines(next: () => number, base: readonly string[] = []): string[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
  const lines = [...base];
  if (lines.length === 0) {
    lines.push('-N WEB', '-N SSH', '-t nat -N DNAT_WEB');
    if (next() < 0.5) lines.push('-t nat -N EMPTY');
  }
  const n = 5 + Math.floor(next() * 40);
  for (let i = 0; i < n; i++) {
    const r = next();
    const spec = `-s 10.${Math.floor(next() * 4)}.0.${Math.floor(next() * 250)} -p tcp --dport ${pick(['22', '80', '443'])}`;
    if (r < 0.45)
      lines.push(
        `-A ${pick(['INPUT', 'FORWARD', 'WEB', 'SSH'])} ${spec} -j ${pick(['ACCEPT', 'DROP', 'WEB', 'SSH'])}`.replace(
          /-A (WEB|SSH) (.*) -j \1$/,
          '-A $1 $2 -j ACCEPT',
        ),
      );
    else if (r < 0.6) lines.push(`-I ${pick(['INPUT', 'WEB'])} 1 ${spec} -j ACCEPT`);
    else if (r < 0.7)
      lines.push(
        `-t nat -A ${pick(['PREROUTING', 'DNAT_WEB'])} ${spec} -j ${pick(['DNAT_WEB', 'ACCEPT'])}`.replace(
          /-A DNAT_WEB (.*) -j DNAT_WEB$/,
          '-A DNAT_WEB $1 -j ACCEPT',
        ),
      );
    else if (r < 0.75) lines.push(`-P ${pick(['INPUT', 'FORWARD', 'OUTPUT'])} ${pick(['ACCEPT', 'DROP'])}`);
    else if (r < 0.8) lines.push(`-t mangle -A ${pick(['PREROUTING', 'OUTPUT'])} ${spec} -j ACCEPT`);
    else if (r < 0.85 && lines.length > 10) lines.splice(3 + Math.floor(next() * (lines.length - 3)), 1);
    else lines.push(`-A OUTPUT -d 192.0.2.${Math.floor(next() * 250)} -j ACCEPT`);
  }
  return lines;
}

test("a render's layout gives planIncrement the plan that scanning its text gives", (t) => {
  let compared = 0;
  for (let seed = 1; seed <= 150; seed++) {
    const next = mulberry32(seed);
    let oldLines: string[];
    let newLines: string[];
    let a: RenderedRuleset;
    let b: RenderedRuleset;
    try {
      oldLines = randomLines(next);
      newLines = next() < 0.2 ? oldLines : randomLines(next, oldLines.slice(0, Math.floor(next() * oldLines.length) + 3));
      a = rendered(oldLines);
      b = rendered(newLines);
    } catch {
      continue; // a removed -N whose chain is still used, or a rule that no longer applies: another seed
    }
    t.truthy(b.layout, `seed ${seed}: a layout`);
    const scanned = planIncrement(a.text, b.text);
    scanKnown(b.text, b.layout ?? []);
    const laid = planIncrement(a.text, b.text);
    t.deepEqual(laid, scanned, `seed ${seed}`);
    compared++;
  }
  t.true(compared > 100, `only ${compared} seeds compared`);
});
