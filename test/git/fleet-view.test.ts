import test from 'ava';
import { fetchedLookup, type CurrentStatus, type FetchedObject } from '../../src/git/current-status.js';
import { currentFleetStatus, filterFleet, fleetStatusJson, hostMatcher, summarize, type HostCategory } from '../../src/git/fleet-status.js';
import { columns, ellipsize, renderFleetTable, renderHistory, summaryLine } from '../../src/git/fleet-table.js';
import { gitObjectId } from '../../src/git/object-id.js';
import { formatStatusMessage, type StatusRecord } from '../../src/git/status-message.js';
import { hostHistory } from '../../src/git/status-history.js';

// The pure fleet view from current statuses: categories, summary, filters, columns, history walk.

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const HEAD = B;
const NOW = new Date(Date.UTC(2025, 2, 1, 13, 0));

function rec(host: string, extra: Partial<StatusRecord> = {}): StatusRecord {
  return {
    result: 'applied',
    host,
    commit: B,
    previous: A,
    rules: {},
    errors: [],
    agent: 'nfgit 0.1.0',
    time: new Date(Date.UTC(2025, 2, 1, 12, 50)),
    ...extra,
  };
}

function current(host: string, extra: Partial<StatusRecord> = {}, signature: CurrentStatus['signature'] = 'good'): CurrentStatus {
  const r = rec(host, extra);
  return {
    host,
    ref: `refs/nfgit/hosts/${host}`,
    oid: 'c'.repeat(40),
    name: `nfgit/${host}/${r.commit.slice(0, 12)}`,
    record: r,
    taggerTime: r.time,
    signature,
    signatureDetail:
      signature === 'good' ? 'signed by SHA256:x (fw@nfgit)' : 'signed by SHA256:y, which allowed_signers lists for fw9@nfgit',
  };
}

const view = (statuses: CurrentStatus[], head: string | null = HEAD) =>
  currentFleetStatus(statuses, head, 'main', true, { now: NOW, staleAfterMs: 3 * 3_600_000 });

const category = test.macro({
  exec(t, s: CurrentStatus, head: string | null, expected: [HostCategory, string | null, string]) {
    const fleet = view([s], head);
    const h = fleet.hosts[0];
    const row = renderFleetTable(fleet, { width: 200, truncate: true }).split('\n')[2] ?? '';
    t.deepEqual([h?.category, h?.runs, row.split(/ {2,}/)[3]], expected);
  },
  title: (title = '') => `category: ${title}`,
});

test('applied at head', category, current('fw1'), HEAD, ['at-head', B, 'applied']);
test('applied, head moved on', category, current('fw1', { commit: A, previous: null }), HEAD, ['behind', A, 'applied']);
test('a heartbeat is an applied report of the running commit', category, current('fw1', { heartbeat: true }), HEAD, [
  'at-head',
  B,
  'heartbeat',
]);
test('refused runs the commit before', category, current('fw1', { result: 'refused', errors: ['x'] }), HEAD, [
  'refused',
  A,
  `refused ${B.slice(0, 12)}`,
]);
test('rolled back', category, current('fw1', { result: 'rolled-back', errors: ['x'] }), HEAD, [
  'rolled-back',
  A,
  `rolled-back ${B.slice(0, 12)}`,
]);
test('untrusted with nothing before', category, current('fw1', { result: 'untrusted', previous: null }), HEAD, [
  'untrusted',
  null,
  `untrusted ${B.slice(0, 12)}`,
]);
test('held by the rollout', category, current('fw1', { result: 'held', held: 'waiting for canary fw2' }), HEAD, [
  'held',
  A,
  `held ${B.slice(0, 12)}`,
]);
test('head unknown', category, current('fw1'), null, ['running', B, 'applied']);
test('a forged report is not believed', category, current('fw1', {}, 'wrong-host'), HEAD, ['none', null, '-']);
test('an unreadable report', category, { ...current('fw1'), record: { error: 'the Result trailer is missing' } }, HEAD, [
  'unreadable',
  null,
  'unreadable',
]);

test("a heartbeat after a failed decision about another commit: the failure stays the host's category and detail", (t) => {
  const hb = current('fw1', { commit: A, previous: null, heartbeat: true });
  const refused = current('fw1', { result: 'refused', errors: ['rules/30-web:14: unknown option\n  called from x'] });
  const fleet = view([{ ...hb, followed: refused }]);
  t.like(fleet.hosts[0], { category: 'refused', runs: A, last: { result: 'refused', commit: B } });
  t.regex(
    renderFleetTable(fleet, { width: 200, truncate: true }),
    /^fw1 +a{12} +no +heartbeat +\S+ \S+ +good +after refused b{12}: rules\/30-web:14: unknown option$/m,
  );
  t.deepEqual(filterFleet(fleet, { failed: true, now: NOW }).hosts.length, 1);
  // A followed decision that fails its signature is not believed: the heartbeat speaks alone.
  t.like(view([{ ...hb, followed: { ...refused, signature: 'bad' } }]).hosts[0], { category: 'behind', followed: null });
});

test('summary line: each non-zero count, thousands separated; paused, stale and signature failures on top of the categories', (t) => {
  const many = Array.from({ length: 4212 }, (_, i) => current(`web${i}`));
  const fleet = view([
    ...many,
    ...Array.from({ length: 780 }, (_, i) => current(`db${i}`, { commit: A, previous: null })),
    current('fw1', { result: 'refused', errors: ['rules/30-web:14: unknown option'] }),
    current('fw2', { result: 'refused', errors: ['x'], paused: { by: 'alice', until: null, reason: null } }),
    current('fw3', { result: 'refused', errors: ['x'], time: new Date(Date.UTC(2025, 2, 1, 1, 0)) }),
    current('fw4', {}, 'bad'),
  ]);
  t.is(summaryLine(fleet), '4,996 hosts: 4,212 at head, 3 refused, 780 behind, 1 paused, 1 stale, 1 signature failure');
  t.like(summarize(fleet), { hosts: 4996, 'at-head': 4212, behind: 780, refused: 3, signatureFailures: 1 });
  t.is(summaryLine(view([])), '0 hosts');
  const json = fleetStatusJson(fleet) as { summary: Record<string, number>; source: string };
  t.is(json.source, 'current');
  t.is(json.summary['at-head'], 4212);
});

test('filters: --failed keeps failures and signature failures; --stale keeps hosts older than the duration or never believed', (t) => {
  const fleet = view([
    current('fw1'),
    current('fw2', { result: 'rolled-back', errors: ['x'] }),
    current('fw3', { time: new Date(Date.UTC(2025, 2, 1, 10, 0)) }),
    current('fw4', {}, 'untrusted'),
    current('fw5', { result: 'held', held: 'waiting for canary fw1' }),
  ]);
  const hosts = (f: ReturnType<typeof view>) => f.hosts.map((h) => h.host);
  t.deepEqual(hosts(filterFleet(fleet, { failed: true, now: NOW })), ['fw2', 'fw4']);
  t.deepEqual(hosts(filterFleet(fleet, { staleMs: 60 * 60_000, now: NOW })), ['fw3', 'fw4']);
  t.deepEqual(hosts(filterFleet(fleet, { failed: true, staleMs: 60 * 60_000, now: NOW })), ['fw4']);
  t.deepEqual(hosts(filterFleet(fleet, { now: NOW })), ['fw1', 'fw2', 'fw3', 'fw4', 'fw5']);
});

const glob = test.macro({
  exec(t, pattern: string, yes: string[], no: string[]) {
    const m = hostMatcher(pattern);
    t.deepEqual([yes.filter(m), no.filter(m)], [yes, []]);
  },
  title: (_t, pattern: string) => `--host ${pattern}`,
});
test(glob, 'web*', ['web', 'web1', 'web-eu.2'], ['aweb1', 'db1']);
test(glob, 'fw?', ['fw1', 'fwa'], ['fw', 'fw10']);
test(glob, 'db[12]', ['db1', 'db2'], ['db3', 'db12']);
test(glob, 'db[!12]', ['db3'], ['db1', 'db2']);
test(glob, 'fw1,web*', ['fw1', 'web9'], ['fw10', 'db1']);
test(glob, 'a.b', ['a.b'], ['axb']);

test('columns: the last column is cut with … to the width, and left whole when not truncating (--host)', (t) => {
  const rows = [
    ['HOST', 'DETAIL'],
    ['fw1', 'x'.repeat(50)],
    ['fw22', 'short'],
  ];
  t.deepEqual(columns(rows, { width: 20, truncate: true }), ['HOST  DETAIL', `fw1   ${'x'.repeat(13)}…`, 'fw22  short']);
  t.is(columns(rows, { width: 20, truncate: false })[1], `fw1   ${'x'.repeat(50)}`);
  // Too narrow: the last column still keeps 12 characters.
  t.is(columns(rows, { width: 3, truncate: true })[1], `fw1   ${'x'.repeat(11)}…`);
  t.is(ellipsize('ab', 2), 'ab');
  t.is(ellipsize('abc', 2), 'a…');
  const err = `rules/30-web:14: ${'very long '.repeat(30)}\n  called from rules/10-base:3`;
  const fleet = view([current('fw1', { result: 'refused', errors: [err] })]);
  const narrow = renderFleetTable(fleet, { width: 100, truncate: true });
  t.true(
    narrow
      .split('\n')
      .slice(1, 3)
      .every((l) => l.length <= 100),
  );
  t.regex(narrow, /…$/m);
  t.notRegex(narrow, /called from/);
  const whole = renderFleetTable(fleet, { width: 100, truncate: false });
  t.true(whole.includes(err.split('\n')[0] as string));
  t.regex(whole, /^fw1: error: rules\/30-web:14: .*\n {4}called from rules\/10-base:3$/m);
  const json = JSON.stringify(fleetStatusJson(fleet));
  t.true(json.includes(JSON.stringify(err)));
});

/** An unsigned tag object for r named name, as git writes one (the signature is not under test here). */
function tagObject(name: string, r: StatusRecord): { oid: string; obj: FetchedObject } {
  const content = Buffer.from(
    `object ${r.commit}\ntype commit\ntag ${name}\ntagger nfgit <${r.host}@nfgit> ${r.time.getTime() / 1000} +0000\n\n${formatStatusMessage(r)}\n`,
  );
  return { oid: gitObjectId('tag', content), obj: { type: 'tag', content } };
}

test('history walk: links from the current report, the listed tags not reached, newest first; a missing link ends the walk; a link to a misnamed object is not believed', async (t) => {
  const at = (m: number) => new Date(Date.UTC(2025, 2, 1, 12, m));
  const d0 = tagObject(`nfgit/fw1/${'0'.repeat(12)}`, rec('fw1', { commit: '0'.repeat(40), previous: null, time: at(0) }));
  const d1 = tagObject(`nfgit/fw1/${A.slice(0, 12)}`, rec('fw1', { commit: A, previous: null, time: at(10) }));
  const d2 = tagObject(
    `nfgit/fw1/${B.slice(0, 12)}`,
    rec('fw1', {
      result: 'refused',
      errors: ['bad\nline 2'],
      time: at(20),
      previousTag: { name: `nfgit/fw1/${A.slice(0, 12)}`, oid: d1.oid },
    }),
  );
  const hb = tagObject(
    `nfgit/fw1/${A.slice(0, 12)}.2`,
    rec('fw1', { commit: A, heartbeat: true, time: at(80), previousTag: { name: `nfgit/fw1/${B.slice(0, 12)}`, oid: d2.oid } }),
  );
  const store = new Map([d0, d1, d2, hb].map((x) => [x.oid, x.obj]));
  const lookup = (oid: string) => Promise.resolve(store.get(oid) ?? { missing: `no ${oid}` });
  const listed = new Map([[`refs/tags/nfgit/fw1/${'0'.repeat(12)}`, d0.oid]]);

  const walk = await hostHistory('fw1', hb.oid, listed, lookup, null);
  t.deepEqual(
    walk.map((e) => [e.via, e.name]),
    [
      ['current', `nfgit/fw1/${A.slice(0, 12)}.2`],
      ['link', `nfgit/fw1/${B.slice(0, 12)}`],
      ['link', `nfgit/fw1/${A.slice(0, 12)}`],
      ['tag', `nfgit/fw1/${'0'.repeat(12)}`],
    ],
  );
  const text = renderHistory('fw1', walk);
  t.regex(text, /^2025-03-01 12:20 UTC +refused +bbbbbbbbbbbb +nfgit\/fw1\/bbbbbbbbbbbb +unsigned +link +bad\n {4}line 2$/m);

  // d1 gone (pruned and collected): the walk stops at d2's link.
  store.delete(d1.oid);
  t.deepEqual(
    (await hostHistory('fw1', hb.oid, listed, lookup, null)).map((e) => e.via),
    ['current', 'link', 'tag'],
  );
  // No current ref (a fleet from before them): the listed tags alone.
  t.deepEqual(
    (await hostHistory('fw1', null, listed, lookup, null)).map((e) => e.name),
    [`nfgit/fw1/${'0'.repeat(12)}`],
  );
  // A link whose object carries another name is not believed as that report.
  const liar = tagObject(
    `nfgit/fw1/${A.slice(0, 12)}.9`,
    rec('fw1', { commit: A, time: at(90), previousTag: { name: `nfgit/fw1/${'0'.repeat(12)}`, oid: d2.oid } }),
  );
  store.set(liar.oid, liar.obj);
  const lied = await hostHistory('fw1', liar.oid, new Map(), lookup, null);
  t.deepEqual(lied[1]?.record, { error: `the tag object is named "nfgit/fw1/${B.slice(0, 12)}", not nfgit/fw1/${'0'.repeat(12)}` });
});

test('a fetch that did not send a listed object is an error, never a missing host; an object under a wrong id is corrupt', async (t) => {
  const { oid, obj } = tagObject(`nfgit/fw1/${B.slice(0, 12)}`, rec('fw1'));
  const lookup = fetchedLookup(new Map([['d'.repeat(40), obj]]), 'https://git.example.net/fw.git');
  await t.throwsAsync(lookup(oid), { code: 'RemoteError', message: /did not send the status tag object .* the answer is incomplete/ });
  t.deepEqual(await lookup('d'.repeat(40)), { missing: `the object sent as ${'d'.repeat(40)} does not hash to that id`, corrupt: true });
});
