import os from 'node:os';
import { mark } from '../util/timings.js';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { InternalError, NfgitErrors, RuleError, ScriptError } from '../errors/errors.js';
import { parseTraceElement, type SourceLocation, type SourceTrace } from '../errors/source-location.js';
import type { Family } from './parse-argv.js';
import type { RulesetModel } from './ruleset-model.js';
import type { IpsetModel } from './ipset-model.js';
import type { RenderedRuleset } from './render-restore.js';
import type { RenderedIpsets } from './render-ipset.js';
import { listRuleFiles } from './rule-files.js';
import { chooseShell } from './rule-shell.js';
import { JAIL_RULES_DIR } from './jail.js';
import { runRuleFiles, type RunMode, type RunRulesOptions } from './run-rules.js';
import type { HostCommand, Interpreter, InterpreterDeps } from './interpret.js';
import type { KernelServices } from './kernel-services.js';

export type { HostCommand } from './interpret.js';

/** What compiling a rules directory produces. */
export interface CompileResult {
  /** The rules directory as the user named it. */
  readonly rulesDir: string;
  /** Rule files, as display paths, in the order they ran. */
  readonly files: readonly string[];
  readonly host: string;
  readonly ipv4: RenderedRuleset;
  readonly ipv6: RenderedRuleset;
  /** The sets (ipset restore input), loaded before both families; empty text when no rule file uses ipset. */
  readonly ipsets: RenderedIpsets;
  readonly hostCommands: readonly HostCommand[];
  /** What the rule files printed (bounded). */
  readonly output: string;
}

/** Options of compile. */
export interface CompileOptions {
  readonly rulesDir: string;
  /** How messages name the rules directory (default: rulesDir as given), e.g. `rules` for a checkout in a temporary place. */
  readonly displayDir?: string;
  /** NFGIT_HOST for the rule files; default: this machine's host name. */
  readonly host?: string;
  /** More variables exported to the rule files. */
  readonly vars?: Readonly<Record<string, string>>;
  /** Positional arguments of every rule file (`$1`…), as for an init script called `firewall.sh start`. */
  readonly args?: readonly string[];
  readonly timeoutMs?: number;
  readonly maxOutputBytes?: number;
  readonly maxRecordBytes?: number;
  /** Says why a chain name is reserved (it belongs to other software: preserve), or undefined. */
  readonly reservedChain?: (table: string, chain: string) => string | undefined;
  /** A hint for a chain that does not exist but belongs to known software (DOCKER-USER: preserve @docker). */
  readonly foreignChainHint?: (table: string, chain: string) => string | undefined;
  /**
   * Called when the rule files start running (the shell is spawned; again on a second run). Work that
   * can wait for the compile is best started then: until the shell runs, everything on nfgit's main
   * thread delays it, and while it runs that thread mostly waits for records.
   */
  readonly onRunning?: () => void;
}

/**
 * The modules that handle the records and render the result: loaded once the shell is spawned (while
 * it starts, nfgit only waits), not before it, where their ~25 ms delayed every compile's rule files.
 */
const loadHandling = once(() =>
  Promise.all([import('./interpret.js'), import('./run-failure.js'), import('./render-restore.js'), import('./render-ipset.js')]),
);

/**
 * Compiles a rules directory: runs its files in the zsh sandbox with iptables intercepted, applies every
 * call to a model with iptables' semantics, and renders restore input for both families.
 * Throws NfgitErrors naming FILE:LINE when the rules are wrong. What it asks of the kernel comes from
 * `services` (netfilter/kernel-services.ts on a real host).
 */
export async function compile(options: CompileOptions, services: KernelServices): Promise<CompileResult> {
  const rulesDir = path.normalize(options.rulesDir).replace(/(.)\/+$/, '$1');
  const absDir = path.resolve(rulesDir);
  const files = await listRuleFiles(rulesDir);
  const choice = chooseShell(await Promise.all(files.map(async (f) => ({ name: f, firstLine: await firstLine(f) }))));
  if (!choice.ok)
    throw new NfgitErrors([
      new ScriptError(choice.message, {
        trace: [{ file: path.join(options.displayDir ?? rulesDir, path.relative(rulesDir, choice.file)), line: 1 }],
      }),
    ]);
  const shell = choice.shell === 'zsh' ? ({ name: 'zsh' } as const) : ({ name: 'bash', modes: choice.modes } as const);
  const host = options.host ?? os.hostname();
  const extra = await services.targets();
  // Probed while the rule files run: started once the shell is spawned, or when a record asks.
  const probeTables = once(services.tables);
  const canonical = services.canonical;

  const display = displayNamer(absDir, options.displayDir ?? rulesDir);
  const toTrace = traceParser(display);

  const env: Record<string, string> = { HOME: '/nonexistent', ...options.vars, NFGIT_HOST: host, NFGIT_RULES_DIR: JAIL_RULES_DIR };
  const runOptions = {
    files,
    rulesDir: absDir,
    host,
    args: options.args ?? [],
    env,
    timeoutMs: options.timeoutMs ?? 60_000,
    maxOutputBytes: options.maxOutputBytes ?? 256 * 1024,
    maxRecordBytes: options.maxRecordBytes ?? 512 * 1024 * 1024,
    shell,
    onSpawn: (): void => {
      mark('shell spawned');
      void probeTables();
      options.onRunning?.();
    },
  };
  const reserved = options.reservedChain ?? (() => undefined);
  // The fast run records through aliases and cannot answer; the first call whose answer matters
  // (-C, or a state command that fails) makes nfgit run the files again in exact mode. bash has no
  // fast mode (prelude.bash): it starts exact. A rule file that stopped before its end makes nfgit
  // run them again in diagnose mode, which locates the stop (a DEBUG trap costs too much every time).
  let mode: RunMode = shell.name === 'zsh' ? 'fast' : 'exact';
  let run: RunState | RunMode;
  for (;;) {
    run = await runOnce(
      { ...runOptions, mode },
      {
        toTrace,
        display,
        extraTargets: extra,
        canonical,
        chains: { reserved, hint: options.foreignChainHint ?? (() => undefined) },
        tables: probeTables,
        query: services.query,
      },
    );
    if (typeof run !== 'string' && mode === 'diagnose') {
      // A run that stopped early must not pass because the next one, run to find where, did not.
      throw new NfgitErrors([
        new ScriptError(
          'a rule file stopped before its end in one run of the rule files and not in the next; nfgit refuses rules whose run is not repeatable (do they depend on time, randomness or the environment?)',
        ),
      ]);
    }
    if (typeof run !== 'string') break;
    if (run === 'fast' || mode === 'diagnose' || (mode === 'exact' && run === 'exact')) {
      throw new NfgitErrors([new InternalError(`internal error: the ${mode} run asked for a ${run} run`)]);
    }
    mode = run;
  }
  const { models, hostCommands, output, sets } = run;
  mark('rule files run');

  const tables = await probeTables();
  const [, , { renderRestore }, { renderIpsets }] = await loadHandling();
  const ipv4 = renderRestore(models.ipv4, tables.ipv4);
  const ipv6 = renderRestore(models.ipv6, tables.ipv6);
  const ipsets = renderIpsets(sets);
  mark('rendered');
  const problems = [
    ...ipsets.problems.map((p) => new RuleError(`ipset: ${p.message}`, { trace: p.trace })),
    ...ipv4.problems.map((p) => new RuleError(`iptables: ${p.message}`, { trace: p.trace, family: 'ipv4' })),
    ...ipv6.problems.map((p) => new RuleError(`ip6tables: ${p.message}`, { trace: p.trace, family: 'ipv6' })),
  ];
  if (problems.length > 0) throw new NfgitErrors(problems);
  return { rulesDir, files: files.map(display), host, ipv4, ipv6, ipsets, hostCommands, output };
}

/**
 * How messages name a file the rule files ran from: the jail's copy of the rules directory (and the
 * directory itself) as the user named it (`shown`); other paths as they are. Memoized: every record names one.
 */
function displayNamer(absDir: string, shown: string): (file: string) => string {
  const cache = new Map<string, string>();
  return (file) => {
    let d = cache.get(file);
    if (d === undefined) {
      const base = file.startsWith(JAIL_RULES_DIR + '/') ? JAIL_RULES_DIR : file.startsWith(absDir + '/') ? absDir : undefined;
      d = base === undefined ? file : path.join(shown, file.slice(base.length + 1));
      cache.set(file, d);
    }
    return d;
  };
}

/**
 * Work started at its first call, then the same promise (its failure left to whoever awaits it): the
 * kernel tables probe and the handling modules start once the shell is spawned, not before it.
 */
function once<T>(start: () => Promise<T>): () => Promise<T> {
  let started: Promise<T> | undefined;
  return () => {
    if (started === undefined) {
      started = start();
      started.catch(() => {});
    }
    return started;
  };
}

/**
 * Turns a raw `$funcfiletrace` into a trace. An eval adds a frame at the line of the eval itself, which
 * repeats the call site: one is kept. Calls share most of their frames (a helper's line, a loop's call
 * site): each is parsed once, and shared, so the plan formats each once (plan.ts). Whole traces are
 * shared too (a loop's calls all have the same): one object per distinct trace, not one per rule,
 * which is less for the garbage collector to copy while the rule files run, and lets the plan format
 * a trace once (plan.ts).
 */
function traceParser(display: (file: string) => string): (raw: readonly string[]) => SourceTrace {
  const locations = new Map<string, SourceLocation>();
  // Keyed by the raw elements joined with NUL, which no element holds (records are NUL-separated).
  const traces = new Map<string, SourceTrace>();
  return (raw) => {
    const key = raw.length === 1 ? (raw[0] as string) : raw.join('\0');
    const known = traces.get(key);
    if (known !== undefined) return known;
    const trace: SourceLocation[] = [];
    for (let i = 0; i < raw.length; i++) {
      const e = raw[i] as string;
      if (i > 0 && e === raw[i - 1]) continue;
      let loc = locations.get(e);
      if (loc === undefined) {
        loc = parseTraceElement(e, display);
        locations.set(e, loc);
      }
      trace.push(loc);
    }
    traces.set(key, trace);
    return trace;
  };
}

interface RunState {
  readonly models: Record<Family, RulesetModel>;
  readonly sets: IpsetModel;
  readonly hostCommands: HostCommand[];
  readonly output: string;
}
/** One run of the rule files in the given mode: the models it built, or the mode to run them again in. */
async function runOnce(runOptions: RunRulesOptions, deps: Omit<InterpreterDeps, 'mode' | 'isHereDocument'>): Promise<RunState | RunMode> {
  let interpreter: Interpreter | undefined;
  const made = once(() =>
    loadHandling().then(
      ([{ createInterpreter }]) =>
        (interpreter = createInterpreter({
          ...deps,
          mode: runOptions.mode,
          isHereDocument: (raw) => hereDocument(raw, runOptions.rulesDir),
        })),
    ),
  );
  const onSpawn = (): void => {
    void made(); // a failure is the first record's (or the state's) to report
    runOptions.onSpawn?.();
  };
  const exit = await runRuleFiles({ ...runOptions, onSpawn }, (rec) =>
    interpreter === undefined ? made().then((i) => i.handle(rec)) : interpreter.handle(rec),
  );
  const state = (await made()).state();
  const [, { runOutcome }] = await loadHandling();
  const again = runOutcome(state, exit, runOptions.mode, runOptions.timeoutMs, deps.display);
  if (again !== undefined) return again;
  return { models: state.models, sets: state.sets, hostCommands: [...state.hostCommands], output: exit.output };
}

/**
 * Whether a call (its raw `FILE:LINE` in the jail) reads a here-document that starts on the next line
 * (`<<EOF`, `<<-EOF`, not a `<<<` here-string), so that line N of its input is line LINE+N of the file.
 */
function hereDocument(raw: string | undefined, rulesDir: string): true | undefined {
  const m = raw === undefined ? null : /^(.*):(\d+)$/.exec(raw);
  if (m === null || !(m[1] as string).startsWith(JAIL_RULES_DIR + '/')) return undefined;
  try {
    const text = readFileSync(path.join(rulesDir, (m[1] as string).slice(JAIL_RULES_DIR.length + 1)), 'utf8');
    const line = text.split('\n')[Number(m[2]) - 1] ?? '';
    return /<<-?\s*['"]?\w/.test(line.replace(/<<</g, '')) ? true : undefined;
  } catch {
    return undefined;
  }
}

/** The first line of a file (its `#!` line, if any), read without reading the whole file. */
async function firstLine(file: string): Promise<string> {
  const h = await open(file, 'r');
  try {
    const buf = Buffer.alloc(256);
    const { bytesRead } = await h.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead).toString('latin1').split('\n')[0] ?? '';
  } finally {
    await h.close();
  }
}
