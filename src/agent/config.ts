// The agent's configuration file: YAML (or JSON), read at the edge, validated with zod, every problem reported at once.

import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { DEFAULT_PROBE_DEADLINE_MS, parseTcpProbe, type ProbeCheck, type ProbeSet } from '../apply/probes.js';
import { DEFAULT_STATE_DIR } from '../util/state-layout.js';
import { UsageError } from '../errors/errors.js';
import { caFileProblem } from '../git/ca-file.js';
import { netnsNameProblem, targetOf, type Target } from '../netfilter/target.js';
import { parsePreserve } from '../netfilter/preserve.js';
import { cronProblem } from './cron-expression.js';
import { describe } from './describe-value.js';
import { DURATION_FORMS, formatDuration, parseDuration } from './duration.js';
import type { LogLevel } from './log.js';
import { isValidRingName } from '../git/status-message.js';
import type { RolloutAfter } from './rollout.js';

/** The validated configuration of `nfgit sync` and `nfgit run`, every default filled in. */
export interface AgentConfig {
  readonly repository: {
    /** An https:// or http:// URL, or the absolute path of a local repository (read in place). */
    readonly url: string;
    readonly branch: string;
    /** The rules directory inside the repository, relative and normalized (`.` for the top). */
    readonly path: string;
    /** A file holding the HTTPS token; tokens are never written in the configuration itself. */
    readonly tokenFile: string | null;
    /** A PEM bundle of CAs trusted for the HTTPS remote, beside the usual ones (see git/ca-file.ts). */
    readonly caFile: string | null;
    /** How long the git server may stay silent during a request before nfgit gives up (and retries later). */
    readonly timeoutMs: number;
    /** How long one request that transfers objects may take in all (a fetch's pack), however steadily it moves. */
    readonly fetchTimeoutMs: number;
    /** The largest pack nfgit accepts from the server, in MiB. */
    readonly maxFetchMiB: number;
  };
  /** Names this host in status tags (`nfgit/<host>/…`) and is NFGIT_HOST for the rule files. */
  readonly host: string;
  /** Where to apply: the host's own network namespace, or the one the `netns` setting names. */
  readonly target: Target;
  readonly stateDir: string;
  /**
   * The file whose appearance asks `nfgit run` for a pass now (the post-receive hook creates it). Its
   * directory is apart from the state directory, which is root's alone: the user that receives pushes
   * must be able to write here.
   */
  readonly trigger: string;
  readonly poll: {
    readonly intervalMs: number;
    /** The longest random delay added to each poll and scheduled reconcile, so that a fleet does not hit the git server at once. */
    readonly jitterMs: number;
  };
  readonly reconcile: {
    /** A cron expression: 5 fields, or 6 with seconds first. */
    readonly schedule: string;
    /** On drift: re-apply the last applied ruleset (repair) or only log what differs (report). */
    readonly mode: 'repair' | 'report';
  };
  /** The OpenSSH ed25519 private key that signs status tags. */
  readonly signing: { readonly key: string };
  readonly trust: {
    readonly requireSignedCommits: boolean;
    /** An allowed_signers file, in the format of git's gpg.ssh.allowedSignersFile. */
    readonly allowedSigners: string | null;
    /** Armored OpenPGP public key files. */
    readonly pgpKeys: readonly string[];
    /** The committer e-mail must be an identity of the key that signed the commit. */
    readonly matchCommitter: boolean;
  };
  /** Variables exported to the rule files, beside NFGIT_HOST. */
  readonly vars: Readonly<Record<string, string>>;
  /** Positional arguments of every rule file ($1…), as for an init script called with `start`. */
  readonly args: readonly string[];
  /** How many of this host's own decision tags to keep; older ones are pruned. */
  readonly tags: { readonly keep: number };
  /** The longest an idle host goes without refreshing its current status ref (a heartbeat report). */
  readonly status: { readonly heartbeatMs: number };
  /** Compile and apply IPv4 only (hosts without IPv6 or ip6tables). */
  readonly ipv4Only: boolean;
  /** Chain patterns and presets of other software whose chains nfgit leaves alone (see netfilter/preserve.ts). */
  readonly preserve: readonly string[];
  /** Checks after each apply of a new commit; if one fails before the deadline, the apply is rolled back. */
  readonly probes: ProbeSet | null;
  /**
   * Holds the host on a commit (a full or abbreviated id, resolved against the branch at each pass): the
   * agent runs it and goes no further, whatever the branch brings.
   */
  readonly pin: string | null;
  /** A node_exporter textfile (`*.prom`) the agent rewrites after every pass; null: none. */
  readonly metrics: { readonly textfile: string | null };
  /** The least severe log entries written (`--log-level` overrides). */
  readonly log: { readonly level: LogLevel };
  /** Staged rollout (see rollout.ts): this host's ring, and the ring whose hosts must run a commit before this one applies it. */
  readonly rollout: {
    /** Written as `Ring:` in every status report of this host; null: no ring. */
    readonly ring: string | null;
    /** null: new commits are applied as they come (a canary, or no rollout). */
    readonly after: RolloutAfter | null;
    /** The allowed_signers file of the hosts' status tag keys: the earlier ring's reports are believed only when signed by their host's key in it. */
    readonly allowedSigners: string | null;
  };
}

/** rollout.after.healthyFor when left out: how long the earlier ring must have run a commit before the next applies it. */
export const DEFAULT_HEALTHY_FOR = '10m';

/** The default trigger file: in the agent's runtime directory (/run/nfgit, made group nfgit by nfgit.service). */
export const DEFAULT_TRIGGER = '/run/nfgit/trigger';

/** What parseConfig cannot know from the file alone. */
export interface ConfigDefaults {
  /** The machine's host name: the default of `host`. */
  readonly hostname: string;
  /** What is wrong with repository.caFile's file (unreadable, no certificate), undefined when usable; not checked when left out. */
  readonly caFileProblem?: (file: string) => string | undefined;
}

/** Reads and validates a configuration file; a UsageError names the file and every problem in it. */
export async function loadConfig(file: string): Promise<AgentConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the configuration file ${file}: ${readProblem(err)}`, { cause: err });
  }
  return parseConfig(text, file, { hostname: hostname(), caFileProblem });
}

/** Parses and validates configuration text (YAML or JSON); throws one UsageError with a `FILE: path: message` line per problem. */
export function parseConfig(text: string, file: string, defaults: ConfigDefaults): AgentConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      return `${file}:${line}:${col}: YAML syntax error: ${e.message}`;
    });
    throw new UsageError(lines.join('\n'));
  }
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (err) {
    // An alias to an anchor that does not exist, or too many aliases: found only while building the values.
    throw new UsageError(`${file}: YAML error: ${(err as Error).message}`, { cause: err });
  }
  // An empty file is an empty mapping, so that the message says which setting is missing.
  const result = configSchema(defaults).safeParse(data ?? {}, { error: genericMessage });
  if (result.success) {
    // The setting names the target; the rest of nfgit only sees the target (built here, once).
    const { netns, ...settings } = result.data;
    return { ...settings, target: targetOf(netns, 'netns') };
  }
  // Each problem at the line of the setting (or, for a missing one, of the section that lacks it).
  const lineOf = (at: readonly PropertyKey[]): number | undefined => {
    for (let n = at.length; n >= 0; n--) {
      const node: unknown = n === 0 ? doc.contents : doc.getIn(at.slice(0, n), true);
      const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
      if (range !== undefined) return lineCounter.linePos(range[0]).line;
    }
    return undefined;
  };
  throw new UsageError(
    problemLines(result.error.issues)
      .map(({ at, text }) => {
        const line = lineOf(at);
        return `${file}${line === undefined ? '' : `:${line}`}: ${text}`;
      })
      .join('\n'),
  );
}

/** setTimeout fires at once, with a warning, when asked to wait longer than this (a signed 32-bit count of ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Set by nfgit itself for the rule files (see compile.ts and run-rules.ts), so a value here would be ignored. */
const NFGIT_SET_VARS = new Set(['PATH', 'LC_ALL']);

const INLINE_TOKEN =
  'tokens are never written in the configuration: put the token in a file only root can read and set repository.tokenFile to its path';

const URL_REQUIRED = 'is required: the https:// URL of the rules repository, or the absolute path of a local one';

function repositorySchema(defaults: ConfigDefaults) {
  return section({
    url: z.string({ error: (iss) => (iss.input === undefined ? URL_REQUIRED : undefined) }).superRefine(check(urlProblem)),
    branch: z.string().superRefine(check(branchProblem)).default('main'),
    path: z.string().superRefine(check(rulesPathProblem)).transform(normalizeRulesPath).default('rules'),
    tokenFile: absolutePath()
      .nullish()
      .transform((v) => v ?? null),
    caFile: absolutePath()
      .superRefine(check((f) => (path.posix.isAbsolute(f) ? defaults.caFileProblem?.(f) : undefined)))
      .nullish()
      .transform((v) => v ?? null),
    timeout: duration('30s'),
    fetchTimeout: duration('5m'),
    maxFetchMiB: z
      .number()
      .superRefine(check((n) => (Number.isInteger(n) && n >= 1 ? undefined : `must be a whole number of MiB, at least 1, not ${n}`)))
      .default(1024),
  }).transform(({ timeout, fetchTimeout, ...rest }) => ({ ...rest, timeoutMs: timeout, fetchTimeoutMs: fetchTimeout }));
}

/** The default poll.jitter: a tenth of the interval. */
export const DEFAULT_JITTER_FRACTION = 0.1;

const JITTER_FORMS = `a duration (${DURATION_FORMS}), or a fraction of the interval such as 10% or 0.1`;

/** poll.jitter: a duration (ms), or a fraction of the interval ({fraction}). */
const jitterSchema = z
  .unknown()
  .transform((given, ctx): number | { fraction: number } => {
    if (typeof given === 'number' || (typeof given === 'string' && /^\d+(\.\d+)?%$/.test(given.trim()))) {
      const fraction = typeof given === 'number' ? given : Number(given.trim().slice(0, -1)) / 100;
      if (Number.isFinite(fraction) && fraction >= 0 && fraction <= 1) return { fraction };
      ctx.addIssue({ code: 'custom', message: `must be a fraction of the interval from 0 to 1 (0% to 100%), not ${describe(given)}` });
      return z.NEVER;
    }
    const ms = typeof given === 'string' ? parseDuration(given) : undefined;
    if (ms === undefined || ms > MAX_TIMER_MS) {
      ctx.addIssue({ code: 'custom', message: `must be ${JITTER_FORMS}, not ${describe(given)}` });
      return z.NEVER;
    }
    return ms;
  })
  .prefault(DEFAULT_JITTER_FRACTION);

const pollSchema = section({ interval: duration('30s'), jitter: jitterSchema }).transform(({ interval, jitter }) => ({
  intervalMs: interval,
  jitterMs: typeof jitter === 'number' ? jitter : Math.round(interval * jitter.fraction),
}));

const PIN_FORM = 'a commit id of the branch: its 40 hex digits, or an abbreviation of at least 7 that names one commit';

const metricsSchema = section({
  textfile: absolutePath()
    .superRefine(
      check((p) =>
        p.endsWith('.prom')
          ? undefined
          : `must name a file ending in .prom (node_exporter's textfile collector reads only those), not ${describe(p)}`,
      ),
    )
    .nullish()
    .transform((v) => v ?? null),
});

const reconcileSchema = section({
  schedule: z
    .string()
    .superRefine(check(cronProblem))
    .transform((s) => s.trim())
    .default('*/10 * * * *'),
  mode: z.enum(['repair', 'report']).default('repair'),
});

const signingSchema = section({ key: absolutePath().default('/etc/nfgit/signing_key') });

const trustSchema = section({
  requireSignedCommits: z.boolean().default(true),
  allowedSigners: absolutePath()
    .nullish()
    .transform((v) => v ?? null),
  pgpKeys: z.array(absolutePath()).default([]),
  matchCommitter: z.boolean().default(false),
}).superRefine(
  (trust, ctx) => {
    // Read defensively: this runs even when a field is wrong, so that the rule is reported with the others.
    const keys: unknown = trust.pgpKeys;
    if (trust.requireSignedCommits === true && trust.allowedSigners === null && Array.isArray(keys) && keys.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['allowedSigners'],
        message:
          'is required when trust.requireSignedCommits is true: give the allowed_signers file of SSH keys that may sign commits, or list OpenPGP keys in trust.pgpKeys',
      });
    }
  },
  { when: (payload) => isMapping(payload.value) },
);

const varsSchema = z
  .record(z.string(), z.string().superRefine(check((v) => (v.includes('\0') ? 'must not contain a NUL character' : undefined))))
  .superRefine(
    (vars, ctx) => {
      for (const name of Object.keys(vars)) {
        const problem = varNameProblem(name);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', path: [name], message: problem });
      }
    },
    { when: (payload) => isMapping(payload.value) },
  );

const tagsSchema = section({
  keep: z
    .number()
    .superRefine(check((n) => (Number.isInteger(n) && n >= 1 ? undefined : `must be a whole number of at least 1, not ${n}`)))
    .default(5),
});

const statusSchema = section({ heartbeat: duration('1h') }).transform(({ heartbeat }) => ({ heartbeatMs: heartbeat }));

const RING_RULE = 'a ring name: canary, 1, 2, eu-west… (letters, digits, ".", "_" and "-", starting with a letter or digit, at most 63)';

/** A ring name; YAML reads `ring: 1` as a number, which names ring "1". */
const ringName = z.unknown().transform((given, ctx): string => {
  const name = typeof given === 'number' && Number.isSafeInteger(given) && given >= 0 ? String(given) : given;
  if (typeof name === 'string' && isValidRingName(name)) return name;
  ctx.addIssue({ code: 'custom', message: `must be ${RING_RULE}, not ${describe(given)}` });
  return z.NEVER;
});

const afterSchema = section({
  ring: ringName,
  healthyFor: z
    .unknown()
    .transform((given, ctx): number => {
      // 0s is allowed here: the next ring follows as soon as the earlier one reports the commit applied.
      const ms = typeof given === 'string' ? parseDuration(given) : undefined;
      if (ms === undefined || ms > MAX_TIMER_MS) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a duration with a unit (${DURATION_FORMS}; 0s to follow at once), not ${describe(given)}`,
        });
        return z.NEVER;
      }
      return ms;
    })
    .prefault(DEFAULT_HEALTHY_FOR),
}).transform(({ ring, healthyFor }): RolloutAfter => ({ ring, healthyForMs: healthyFor }));

const rolloutSchema = section({
  ring: ringName.nullable().default(null),
  after: afterSchema.nullable().default(null),
  allowedSigners: absolutePath()
    .nullish()
    .transform((v) => v ?? null),
}).superRefine(
  (rollout, ctx) => {
    // Read defensively: this runs even when a field is wrong, so that the rule is reported with the others.
    const after: unknown = rollout.after;
    if (isMapping(after) && rollout.allowedSigners === null) {
      ctx.addIssue({
        code: 'custom',
        path: ['allowedSigners'],
        message:
          "is required when rollout.after is set: give the allowed_signers file of the hosts' status tag keys (the lines nfgit keygen prints), so that the earlier ring's reports are believed only when their host signed them",
      });
    }
    if (isMapping(after) && typeof rollout.ring === 'string' && after['ring'] === rollout.ring) {
      ctx.addIssue({
        code: 'custom',
        path: ['after', 'ring'],
        message: `must name an earlier ring, not this host's own ring ${describe(rollout.ring)} (a ring waiting for itself never moves)`,
      });
    }
  },
  { when: (payload) => isMapping(payload.value) },
);

const logSchema = section({ level: z.enum(['debug', 'info', 'warn', 'error']).default('info') });

const PROBE_FORMS = 'tcp: "HOST:PORT", command: [ARGV…] or git: true';

/** One probe: a mapping with exactly one key, its kind. */
const probeCheckSchema = z.unknown().transform((given, ctx): ProbeCheck => {
  const problem = (message: string, at: PropertyKey[] = []): never => {
    ctx.addIssue({ code: 'custom', message, path: at });
    return z.NEVER as never;
  };
  if (!isMapping(given) || Object.keys(given).length !== 1)
    return problem(`must be a mapping with one key, ${PROBE_FORMS}, not ${describe(given)}`);
  const [kind, value] = Object.entries(given)[0] as [string, unknown];
  if (kind === 'tcp') {
    if (typeof value !== 'string') return problem(`must be "HOST:PORT" in quotes, not ${describe(value)}`, [kind]);
    const parsed = parseTcpProbe(value);
    return typeof parsed === 'string' ? problem(parsed, [kind]) : { kind: 'tcp', ...parsed };
  }
  if (kind === 'command') {
    const ok = Array.isArray(value) && value.length > 0 && value.every((w) => typeof w === 'string' && w !== '' && !w.includes('\0'));
    if (ok) return { kind: 'command', argv: value as string[] };
    const given = Array.isArray(value) && value.length === 0 ? 'an empty list' : describe(value);
    return problem(`must be a non-empty list of words (the command and its arguments, run without a shell), not ${given}`, [kind]);
  }
  if (kind === 'git')
    return value === true
      ? { kind: 'git' }
      : problem(`must be true (probe that the repository is reachable), not ${describe(value)}`, [kind]);
  return problem(`is not a kind of probe; the kinds are ${PROBE_FORMS}`, [kind]);
});

const probesSchema = section({
  deadline: duration(formatDuration(DEFAULT_PROBE_DEADLINE_MS)),
  checks: z
    .array(probeCheckSchema)
    .superRefine(check((c) => (c.length === 0 ? `must list at least one probe (${PROBE_FORMS})` : undefined))),
}).transform(({ deadline, checks }): ProbeSet => ({ deadlineMs: deadline, checks }));

/** The whole file; built per call because the default host name comes from the machine. */
function configSchema(defaults: ConfigDefaults) {
  return section(
    {
      repository: orEmpty(repositorySchema(defaults)),
      host: z
        .string()
        .optional()
        .transform((given, ctx) => {
          const host = given ?? defaults.hostname;
          const problem = safeNameProblem(host);
          if (problem !== undefined) {
            const machine = `is not set, and the machine's host name ${describe(host)} cannot be used in tag names; set host to ${SAFE_NAME_RULE}`;
            ctx.addIssue({ code: 'custom', message: given === undefined ? machine : problem });
          }
          return host;
        }),
      netns: z.string().superRefine(check(netnsNameProblem)).nullable().default(null),
      stateDir: absolutePath().default(DEFAULT_STATE_DIR),
      trigger: absolutePath()
        .superRefine(check((p) => (p.endsWith('/') ? `must name a file, not a directory: ${describe(p)}` : undefined)))
        .default(DEFAULT_TRIGGER),
      poll: orEmpty(pollSchema),
      reconcile: orEmpty(reconcileSchema),
      signing: orEmpty(signingSchema),
      trust: orEmpty(trustSchema),
      vars: orEmpty(varsSchema),
      args: z.array(z.string().superRefine(check((v) => (v.includes('\0') ? 'must not contain a NUL character' : undefined)))).default([]),
      tags: orEmpty(tagsSchema),
      status: orEmpty(statusSchema),
      ipv4Only: z.boolean().default(false),
      preserve: z
        .array(z.string())
        .default([])
        .superRefine((patterns, ctx) => {
          patterns.forEach((p, i) => {
            try {
              parsePreserve([p], 'x');
            } catch (err) {
              ctx.addIssue({ code: 'custom', path: [i], message: (err as Error).message.replace(/^x: /, '') });
            }
          });
        }),
      probes: probesSchema.nullable().default(null),
      pin: z
        .string()
        .transform((p) => p.trim().toLowerCase())
        .superRefine(check((p) => (/^[0-9a-f]{7,40}$/.test(p) ? undefined : `must be ${PIN_FORM}, not ${describe(p)}`)))
        .nullable()
        .default(null),
      metrics: orEmpty(metricsSchema),
      log: orEmpty(logSchema),
      rollout: orEmpty(rolloutSchema),
    },
    'the file must hold a mapping of settings (repository:, host:, …)',
  );
}

/** A mapping whose unknown keys are errors; the message lists the keys it does know. */
function section<Shape extends z.ZodRawShape>(shape: Shape, notMapping?: string) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code === 'unrecognized_keys') return `is not a known key; the keys here are: ${known}`;
      if (iss.code === 'invalid_type' && iss.input !== undefined && notMapping !== undefined)
        return `${notMapping}, not ${describe(iss.input)}`;
      return undefined;
    },
  });
}

/** A section that may be left out, or left empty with its keys commented out (YAML reads that as null). */
function orEmpty<Schema extends z.ZodType>(schema: Schema) {
  // Parsed as an empty mapping rather than defaulted, so that a missing required key (repository.url) is named.
  return z.preprocess((value) => value ?? {}, schema);
}

/** A zod refinement from a function that says what is wrong with a value, or returns undefined. */
function check<T>(problem: (value: T) => string | undefined) {
  return (value: T, ctx: z.RefinementCtx<T>): void => {
    const message = problem(value);
    if (message !== undefined) ctx.addIssue({ code: 'custom', message });
  };
}

function absolutePath() {
  return z.string().superRefine(check((p) => (path.posix.isAbsolute(p) ? undefined : `must be an absolute path, not ${describe(p)}`)));
}

/** A duration such as `30s`, in milliseconds; a bare number is refused, since its unit would be a guess. */
function duration(fallback: string) {
  return z.unknown().transform(durationMs).prefault(fallback);
}

function durationMs(given: unknown, ctx: z.RefinementCtx<unknown>): number {
  const ms = typeof given === 'string' ? parseDuration(given) : undefined;
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `must be a duration with a unit (${DURATION_FORMS}), not ${describe(given)}` });
    return z.NEVER;
  }
  if (ms === 0 || ms > MAX_TIMER_MS) {
    const message = `must be longer than 0s and at most ${formatDuration(MAX_TIMER_MS)} (the longest wait of a Node.js timer), not ${describe(given)}`;
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  }
  return ms;
}

function urlProblem(url: string): string | undefined {
  if (url.startsWith('/')) return undefined;
  const accepted = 'use an https:// or http:// URL, or the absolute path of a local repository';
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'https' || scheme === 'http') {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return `is not a valid URL; ${accepted}`;
    }
    // Not echoed: the URL holds a secret.
    if (parsed.username !== '' || parsed.password !== '') return `must not hold credentials; ${INLINE_TOKEN}`;
    return undefined;
  }
  if (scheme === 'ssh' || scheme === 'git' || (scheme === undefined && /^[^/:@\s]+@[^/:\s]+:/.test(url))) {
    return `SSH and git:// remotes are not supported; ${accepted} (with repository.tokenFile for credentials)`;
  }
  if (scheme === 'file') return `is a file:// URL; give the absolute path of the repository instead`;
  // Echo the value only when it cannot be carrying credentials.
  return `must be an https:// or http:// URL, or the absolute path of a local repository${url.includes('@') ? '' : `, not ${describe(url)}`}`;
}

/** The rules of `git check-ref-format --branch`, which isomorphic-git does not check for us. */
function branchProblem(branch: string): string | undefined {
  if (branch.startsWith('refs/')) return `must be a branch name without "refs/heads/", such as "main", not ${describe(branch)}`;
  const bad =
    branch === '' ||
    branch === '@' ||
    branch.startsWith('-') ||
    /[\x00-\x20\x7f~^:?*[\\]|\.\.|@\{|\/\/|^\/|\/$|\.$|\.lock$|\.lock\/|(^|\/)\./.test(branch);
  return bad ? `is not a valid branch name (see git check-ref-format), not ${describe(branch)}` : undefined;
}

function rulesPathProblem(dir: string): string | undefined {
  if (dir === '') return 'must not be empty; use "." for the top of the repository';
  if (dir.startsWith('/')) return `must be relative to the top of the repository, not start with "/": ${describe(dir)}`;
  if (dir.split('/').includes('..')) return `must stay inside the repository: ".." is not allowed in ${describe(dir)}`;
  return undefined;
}

function normalizeRulesPath(dir: string): string {
  const normal = path.posix.normalize(dir);
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}

const SAFE_NAME_RULE = 'a name of letters, digits, ".", "_" and "-" that starts with a letter or digit (no "..", not ending in ".lock")';

function safeNameProblem(name: string): string | undefined {
  return isSafeName(name) ? undefined : `must be ${SAFE_NAME_RULE}, not ${describe(name)}`;
}

/** Whether a name is safe as one component of a tag name (`nfgit/<host>/…`). */
function isSafeName(name: string): boolean {
  // Beyond the pattern, git check-ref-format refuses ".." anywhere and a component ending in ".lock".
  return SAFE_NAME.test(name) && !name.includes('..') && !name.endsWith('.lock');
}

function varNameProblem(name: string): string | undefined {
  if (!VAR_NAME.test(name)) return 'is not a shell variable name: use letters, digits and "_", not starting with a digit';
  if (name.startsWith('NFGIT_')) return 'is reserved: names starting with NFGIT_ are set by nfgit for the rule files';
  if (NFGIT_SET_VARS.has(name)) return 'is set by nfgit for the rule files and cannot be changed';
  return undefined;
}

/** Messages for the problems zod finds by itself, worded for someone editing the file. */
function genericMessage(iss: z.core.$ZodRawIssue): string | undefined {
  if (iss.code === 'invalid_type') {
    if (iss.input === undefined) return 'is required';
    const expected = EXPECTED[iss.expected] ?? iss.expected;
    // YAML reads `host: 1` or `PORT: 22` as a number.
    const hint =
      iss.expected === 'string' && (typeof iss.input === 'number' || typeof iss.input === 'boolean')
        ? ' (put it in quotes to make it text)'
        : '';
    return `must be ${expected}, not ${describe(iss.input)}${hint}`;
  }
  if (iss.code === 'invalid_value')
    return `must be one of ${iss.values.map((v) => JSON.stringify(v)).join(', ')}, not ${describe(iss.input)}`;
  return undefined;
}

const EXPECTED: Partial<Record<string, string>> = {
  string: 'a string',
  boolean: 'true or false',
  number: 'a number',
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
};

/** `path.to.key: message` for each problem, in zod's order (the schema's order of keys, then unknown keys as written). */
function problemLines(issues: readonly z.core.$ZodIssue[]): Array<{ at: readonly PropertyKey[]; text: string }> {
  const lines: Array<{ at: readonly PropertyKey[]; text: string }> = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      // One line per key, so that each reads like the others.
      for (const key of issue.keys) {
        const at = [...issue.path, key];
        lines.push({ at, text: problemLine(at, key === 'token' ? INLINE_TOKEN : issue.message) });
      }
    } else {
      lines.push({ at: issue.path, text: problemLine(issue.path, issue.message) });
    }
  }
  return lines;
}

function problemLine(at: readonly PropertyKey[], message: string): string {
  const where = at.map((seg, i) => (typeof seg === 'number' ? `[${seg}]` : `${i === 0 ? '' : '.'}${String(seg)}`)).join('');
  return where === '' ? message : `${where}: ${message}`;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readProblem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'it does not exist';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return (err as Error).message;
}
