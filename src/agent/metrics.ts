// The agent's metrics as a node_exporter textfile (Prometheus text exposition format 0.0.4): rendered
// here from what the pass record and the state directory say, pure; sync.ts writes it after every pass.
// Base units (seconds), `_total` for counters, a timestamp as seconds since the epoch; a value nfgit
// does not know yet (no pass, nothing running) is left out rather than written as 0.

/** What the metrics say. */
export interface MetricsFacts {
  readonly version: string;
  readonly host: string;
  /** The commit the host runs, or null. */
  readonly commit: string | null;
  /** Its committer time. */
  readonly runningCommitTime: Date | null;
  readonly lastPassAt: Date | null;
  readonly lastPassSuccess: boolean | null;
  readonly consecutiveFailures: number;
  readonly driftRepairsTotal: number;
  /** Rules applied per family (absent: the family is not managed or nothing is applied). */
  readonly rules: { readonly ipv4?: number; readonly ipv6?: number };
  readonly passDurationMs: number | null;
  readonly applyDurationMs: number | null;
  readonly paused: boolean;
}

/** Escapes a label value: backslash, double quote and newline (the exposition format's three). */
function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function seconds(ms: number): string {
  return String(ms / 1000);
}

/** The textfile's content. */
export function renderMetrics(f: MetricsFacts): string {
  const out: string[] = [];
  const metric = (
    name: string,
    type: 'gauge' | 'counter',
    help: string,
    samples: ReadonlyArray<readonly [string, string | number]>,
  ): void => {
    if (samples.length === 0) return;
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${name}${labels} ${value}`);
  };
  const one = (value: string | number | null): ReadonlyArray<readonly [string, string | number]> => (value === null ? [] : [['', value]]);
  metric('nfgit_info', 'gauge', 'nfgit agent version, host name and the commit it runs (always 1).', [
    [`{version="${label(f.version)}",host="${label(f.host)}",commit="${label(f.commit ?? '')}"}`, 1],
  ]);
  metric(
    'nfgit_running_commit_timestamp_seconds',
    'gauge',
    'Committer time of the commit whose rules the host runs, in seconds since the epoch.',
    one(f.runningCommitTime === null ? null : Math.floor(f.runningCommitTime.getTime() / 1000)),
  );
  metric(
    'nfgit_last_pass_timestamp_seconds',
    'gauge',
    'When the last pass of the agent started, in seconds since the epoch.',
    one(f.lastPassAt === null ? null : f.lastPassAt.getTime() / 1000),
  );
  metric(
    'nfgit_last_pass_success',
    'gauge',
    'Whether the last pass ended without an error (1) or not (0).',
    one(f.lastPassSuccess === null ? null : f.lastPassSuccess ? 1 : 0),
  );
  metric(
    'nfgit_consecutive_failures',
    'gauge',
    'Passes that failed in a row (0 after a pass without an error).',
    one(f.consecutiveFailures),
  );
  metric('nfgit_drift_repairs_total', 'counter', 'Times the agent put the applied ruleset back after drift.', one(f.driftRepairsTotal));
  metric(
    'nfgit_rules',
    'gauge',
    'Rules in the ruleset the agent applied, per address family.',
    (['ipv4', 'ipv6'] as const).flatMap((family) => {
      const n = f.rules[family];
      return n === undefined ? [] : [[`{family="${family}"}`, n] as const];
    }),
  );
  metric(
    'nfgit_pass_duration_seconds',
    'gauge',
    'How long the last pass took.',
    one(f.passDurationMs === null ? null : seconds(f.passDurationMs)),
  );
  metric(
    'nfgit_apply_duration_seconds',
    'gauge',
    'How long the last apply (a new commit or a drift repair) took.',
    one(f.applyDurationMs === null ? null : seconds(f.applyDurationMs)),
  );
  metric('nfgit_paused', 'gauge', 'Whether an admin paused the agent (nfgit pause): 1 paused, 0 not.', one(f.paused ? 1 : 0));
  return out.join('\n') + '\n';
}
