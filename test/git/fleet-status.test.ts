import test from 'ava';
import { fleetStatus, fleetStatusJson, hasSignatureFailures } from '../../src/git/fleet-status.js';
import { renderFleetTable } from '../../src/git/fleet-table.js';
import type { StatusRecord } from '../../src/git/status-message.js';
import type { StatusTag } from '../../src/git/status-tags.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

function tag(
  host: string,
  commit: string,
  minute: number,
  extra: Partial<StatusRecord> = {},
  signature: StatusTag['signature'] = 'good',
): StatusTag {
  const time = new Date(Date.UTC(2025, 2, 1, 12, minute));
  return {
    name: `nfgit/${host}/${commit.slice(0, 12)}`,
    host,
    target: commit,
    record: { result: 'applied', host, commit, previous: null, rules: {}, errors: [], agent: 'nfgit 0.1.0', time, ...extra },
    taggerTime: time,
    signature,
    signatureDetail:
      signature === 'good' ? 'signed by SHA256:x' : 'signed by SHA256:y, which allowed_signers lists for fw1@nfgit, not fw3@nfgit',
  };
}

const tags = [
  tag('fw2', A, 1),
  tag('fw2', B, 2, { result: 'refused', errors: ['rules/30-web:14: unknown option "--dporrt"\n  called from x'] }),
  tag('fw1', A, 1),
  tag('fw1', B, 3),
];

test('per host: the newest applied commit, the newest decision with its first error line, whether the head runs there', (t) => {
  const fleet = fleetStatus(tags, B, 'main', true);
  t.deepEqual(
    fleet.hosts.map((h) => [h.host, h.running?.commit, h.last?.result, h.last?.firstError, h.headApplied]),
    [
      ['fw1', B, 'applied', null, true],
      ['fw2', A, 'refused', 'rules/30-web:14: unknown option "--dporrt"', false],
    ],
  );
  t.false(hasSignatureFailures(fleet));
  t.is(
    renderFleetTable(fleet),
    [
      'main is at bbbbbbbbbbbb',
      'HOST  RUNS          HEAD  REPORT                SEEN (UTC)        SIGNATURE  DETAIL',
      'fw1   bbbbbbbbbbbb  yes   applied               2025-03-01 12:03  good',
      'fw2   aaaaaaaaaaaa  no    refused bbbbbbbbbbbb  2025-03-01 12:02  good       rules/30-web:14: unknown option "--dporrt"',
      'fw2: error: rules/30-web:14: unknown option "--dporrt"',
      '    called from x',
      '2 hosts: 1 at head, 1 refused',
      '',
    ].join('\n'),
  );
  const json = JSON.parse(JSON.stringify(fleetStatusJson(fleet))) as { hosts: Array<{ running: { time: string } }> };
  t.is(json.hosts[0]?.running.time, '2025-03-01T12:03:00.000Z');
});

test('a tag with a failed signature is not believed: listed as ignored, and the status fails', (t) => {
  const forged = tag('fw3', B, 5, {}, 'wrong-host');
  const fleet = fleetStatus([...tags, forged], B, 'main', true);
  const fw3 = fleet.hosts.find((h) => h.host === 'fw3');
  t.is(fw3?.running, null);
  t.deepEqual(
    fw3?.ignored.map((i) => i.tag),
    [forged.name],
  );
  t.true(hasSignatureFailures(fleet));
  t.regex(
    renderFleetTable(fleet),
    /fw3: ignored nfgit\/fw3\/bbbbbbbbbbbb: signature wrong-host: signed by SHA256:y, which allowed_signers lists for fw1@nfgit, not fw3@nfgit/,
  );
  // not checked: believed, no failure
  const unchecked = fleetStatus([...tags, tag('fw3', B, 5, {}, 'not-checked')], null, 'main', false);
  t.is(unchecked.hosts.find((h) => h.host === 'fw3')?.running?.commit, B);
  t.is(unchecked.hosts[0]?.headApplied, null);
  t.false(hasSignatureFailures(unchecked));
});

test('liveness: a host whose newest report (a heartbeat counts) is older than the limit is stale; a paused heartbeat shows; heartbeats are not decisions', (t) => {
  const beat = { ...tag('fw1', B, 30, { heartbeat: true }), name: `nfgit/fw1/${B.slice(0, 12)}.2` };
  const pausedBeat = {
    ...tag('fw2', A, 40, { heartbeat: true, paused: { by: 'alice', until: null, reason: 'incident 7' } }),
    name: `nfgit/fw2/${A.slice(0, 12)}.2`,
  };
  const now = new Date(Date.UTC(2025, 2, 1, 12, 45));
  const fleet = fleetStatus([...tags, beat, pausedBeat], B, 'main', true, { now, staleAfterMs: 10 * 60_000 });
  t.deepEqual(
    fleet.hosts.map((h) => [h.host, h.lastSeen?.toISOString(), h.stale, h.paused?.reason ?? null, h.last?.tag, h.running?.commit]),
    [
      ['fw1', '2025-03-01T12:30:00.000Z', true, null, `nfgit/fw1/${B.slice(0, 12)}`, B],
      ['fw2', '2025-03-01T12:40:00.000Z', false, 'incident 7', `nfgit/fw2/${B.slice(0, 12)}`, A],
    ],
  );
  const text = renderFleetTable(fleet);
  t.regex(text, /^fw1 +bbbbbbbbbbbb +yes +applied +2025-03-01 12:30 +good +stale: is its agent running\?$/m);
  t.regex(text, /^fw2 .*; paused by alice: incident 7$/m);
  t.regex(text, /^2 hosts: 1 at head, 1 refused, 1 paused, 1 stale$/m);
  const json = JSON.parse(JSON.stringify(fleetStatusJson(fleet))) as {
    hosts: Array<{ stale: boolean; lastSeen: string; paused: unknown }>;
  };
  t.deepEqual(json.hosts[1]?.paused, { by: 'alice', until: null, reason: 'incident 7' });
  // Without a limit (the library's default), nothing is judged.
  t.is(fleetStatus(tags, B, 'main', true).hosts[0]?.stale, null);
});
