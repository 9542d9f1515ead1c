import test from 'ava';
import { renderMetrics, type MetricsFacts } from '../../src/agent/metrics.js';

// The node_exporter textfile as a pure rendering: names, HELP/TYPE lines, base units, label escaping.

const FACTS: MetricsFacts = {
  version: '0.1.0',
  host: 'fw1',
  commit: 'a'.repeat(40),
  runningCommitTime: new Date('2026-11-30T12:00:00Z'),
  lastPassAt: new Date('2026-11-30T13:00:00.500Z'),
  lastPassSuccess: true,
  consecutiveFailures: 0,
  driftRepairsTotal: 3,
  rules: { ipv4: 12, ipv6: 10 },
  passDurationMs: 1250,
  applyDurationMs: 80,
  paused: false,
};

test('every metric with HELP and TYPE, seconds as base unit, counters ending in _total', (t) => {
  t.is(
    renderMetrics(FACTS),
    [
      '# HELP nfgit_info nfgit agent version, host name and the commit it runs (always 1).',
      '# TYPE nfgit_info gauge',
      `nfgit_info{version="0.1.0",host="fw1",commit="${'a'.repeat(40)}"} 1`,
      '# HELP nfgit_running_commit_timestamp_seconds Committer time of the commit whose rules the host runs, in seconds since the epoch.',
      '# TYPE nfgit_running_commit_timestamp_seconds gauge',
      'nfgit_running_commit_timestamp_seconds 1796040000',
      '# HELP nfgit_last_pass_timestamp_seconds When the last pass of the agent started, in seconds since the epoch.',
      '# TYPE nfgit_last_pass_timestamp_seconds gauge',
      'nfgit_last_pass_timestamp_seconds 1796043600.5',
      '# HELP nfgit_last_pass_success Whether the last pass ended without an error (1) or not (0).',
      '# TYPE nfgit_last_pass_success gauge',
      'nfgit_last_pass_success 1',
      '# HELP nfgit_consecutive_failures Passes that failed in a row (0 after a pass without an error).',
      '# TYPE nfgit_consecutive_failures gauge',
      'nfgit_consecutive_failures 0',
      '# HELP nfgit_drift_repairs_total Times the agent put the applied ruleset back after drift.',
      '# TYPE nfgit_drift_repairs_total counter',
      'nfgit_drift_repairs_total 3',
      '# HELP nfgit_rules Rules in the ruleset the agent applied, per address family.',
      '# TYPE nfgit_rules gauge',
      'nfgit_rules{family="ipv4"} 12',
      'nfgit_rules{family="ipv6"} 10',
      '# HELP nfgit_pass_duration_seconds How long the last pass took.',
      '# TYPE nfgit_pass_duration_seconds gauge',
      'nfgit_pass_duration_seconds 1.25',
      '# HELP nfgit_apply_duration_seconds How long the last apply (a new commit or a drift repair) took.',
      '# TYPE nfgit_apply_duration_seconds gauge',
      'nfgit_apply_duration_seconds 0.08',
      '# HELP nfgit_paused Whether an admin paused the agent (nfgit pause): 1 paused, 0 not.',
      '# TYPE nfgit_paused gauge',
      'nfgit_paused 0',
      '',
    ].join('\n'),
  );
});

test('what is not known yet is left out, not written as 0; a failed pass and a pause', (t) => {
  const text = renderMetrics({
    ...FACTS,
    commit: null,
    runningCommitTime: null,
    lastPassSuccess: false,
    consecutiveFailures: 4,
    rules: { ipv4: 5 },
    applyDurationMs: null,
    paused: true,
  });
  t.false(text.includes('nfgit_running_commit_timestamp_seconds'));
  t.false(text.includes('nfgit_apply_duration_seconds'));
  t.false(text.includes('family="ipv6"'));
  t.regex(text, /^nfgit_info\{version="0.1.0",host="fw1",commit=""\} 1$/m);
  t.regex(text, /^nfgit_last_pass_success 0$/m);
  t.regex(text, /^nfgit_consecutive_failures 4$/m);
  t.regex(text, /^nfgit_paused 1$/m);
});

test('label values are escaped (backslash, quote, newline)', (t) => {
  t.regex(renderMetrics({ ...FACTS, version: '1.0 "dev"\\x\ny' }), /^nfgit_info\{version="1\.0 \\"dev\\"\\\\x\\ny",/m);
});

test('each metric family appears once, every sample line names a family declared by TYPE', (t) => {
  const lines = renderMetrics(FACTS).trimEnd().split('\n');
  const types = lines.filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]);
  t.is(new Set(types).size, types.length);
  for (const l of lines.filter((x) => !x.startsWith('#'))) t.true(types.includes(/^[a-z_]+/.exec(l)?.[0]), l);
});
