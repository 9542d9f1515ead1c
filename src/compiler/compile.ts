import os from 'node:os';
import path from 'node:path';
import { InternalError, NfgitError, NfgitErrors, RuleError, ScriptError, TimeoutError } from '../errors/errors.js';
import { parseArgv, TOOL, type Command, type Family } from './parse-argv.js';
import { parseRestore } from './parse-restore.js';
import { BUILTIN_CHAINS } from './tables.js';
import { readFileSync } from 'node:fs';
import { expandAddressLists } from './expand-addresses.js';
import { RulesetModel, type ForeignChains } from './ruleset-model.js';
import { renderRestore, type RenderedRuleset } from './render-restore.js';
import { listRuleFiles } from './rule-files.js';
import { chooseShell } from './rule-shell.js';
import { open } from 'node:fs/promises';
import { IpsetModel, setReferences } from './ipset-model.js';
import { parseIpset } from './parse-ipset.js';
import { parseIpsetRestore } from './parse-ipset-restore.js';
import { renderIpsets, type RenderedIpsets } from './render-ipset.js';
import { JAIL_RULES_DIR } from './jail.js';
import { runRuleFiles, type RecordVerdict, type RunMode, type RunRulesOptions } from './run-rules.js';
import { parseTraceElement, type SourceTrace } from '../errors/source-location.js';
import type { RawRecord } from './record-stream.js';
import type { CanonicalMatcher, KernelServices } from './kernel-services.js';

/** A `main` line: a command for the host, run after a successful apply. */
export interface HostCommand {
  readonly argv: readonly string[];
  readonly trace: SourceTrace;
}

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
}

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
  if (!choice.ok) throw new NfgitErrors([new ScriptError(choice.message, { trace: [{ file: path.join(options.displayDir ?? rulesDir, path.relative(rulesDir, choice.file)), line: 1 }] })]);
  const shell = choice.shell === 'zsh' ? ({ name: 'zsh' } as const) : ({ name: 'bash', modes: choice.modes } as const);
  const host = options.host ?? os.hostname();
  const extra = await services.targets();
  // Probed while the rule files run.
  const tablesProbe = services.tables();
  tablesProbe.catch(() => {});
  const canonical = services.canonical;

  const displayCache = new Map<string, string>();
  const display = (file: string): string => {
    let d = displayCache.get(file);
    if (d === undefined) {
      // Rule files run from the jail's copy of the directory: name them as the user named the directory.
      const base = file.startsWith(JAIL_RULES_DIR + '/') ? JAIL_RULES_DIR : file.startsWith(absDir + '/') ? absDir : undefined;
      d = base === undefined ? file : path.join(options.displayDir ?? rulesDir, file.slice(base.length + 1));
      displayCache.set(file, d);
    }
    return d;
  };
  // An eval adds a frame at the line of the eval itself, which repeats the call site: keep one.
  const toTrace = (raw: readonly string[]): SourceTrace => raw.filter((e, i) => i === 0 || e !== raw[i - 1]).map((e) => parseTraceElement(e, display));

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
  };
  // The fast run records through aliases and cannot answer; the first call whose answer matters
  // (-C, or a state command that fails) makes nfgit run the files again in exact mode.
  const reserved = options.reservedChain ?? (() => undefined);
  // A rule file that stopped before its end makes nfgit run them again in diagnose mode, which
  // locates the stop (a DEBUG trap costs too much to run every time).
  // bash has no fast mode (prelude.bash): it starts exact.
  let mode: RunMode = shell.name === 'zsh' ? 'fast' : 'exact';
  let run: RunState | RunMode;
  for (;;) {
    run = await runOnce({ ...runOptions, mode }, toTrace, display, extra, canonical, { reserved, hint: options.foreignChainHint ?? (() => undefined) }, () => tablesProbe, services.query);
    if (typeof run !== 'string' && mode === 'diagnose') {
      // A run that stopped early must not pass because the next one, run to find where, did not.
      throw new NfgitErrors([new ScriptError('a rule file stopped before its end in one run of the rule files and not in the next; nfgit refuses rules whose run is not repeatable (do they depend on time, randomness or the environment?)')]);
    }
    if (typeof run !== 'string') break;
    if (run === 'fast' || mode === 'diagnose' || (mode === 'exact' && run === 'exact')) {
      throw new NfgitErrors([new InternalError(`internal error: the ${mode} run asked for a ${run} run`)]);
    }
    mode = run;
  }
  const { models, hostCommands, output, sets } = run;

  const tables = await tablesProbe;
  const ipv4 = renderRestore(models.ipv4, tables.ipv4);
  const ipv6 = renderRestore(models.ipv6, tables.ipv6);
  const ipsets = renderIpsets(sets);
  const problems = [
    ...ipsets.problems.map((p) => new RuleError(`ipset: ${p.message}`, { trace: p.trace })),
    ...ipv4.problems.map((p) => new RuleError(`iptables: ${p.message}`, { trace: p.trace, family: 'ipv4' })),
    ...ipv6.problems.map((p) => new RuleError(`ip6tables: ${p.message}`, { trace: p.trace, family: 'ipv6' })),
  ];
  if (problems.length > 0) throw new NfgitErrors(problems);
  return { rulesDir, files: files.map(display), host, ipv4, ipv6, ipsets, hostCommands, output };
}

interface RunState {
  readonly models: Record<Family, RulesetModel>;
  readonly sets: IpsetModel;
  readonly hostCommands: HostCommand[];
  readonly output: string;
}

/** One run of the rule files in the given mode: the models it built, or the mode to run them again in. */
async function runOnce(
  runOptions: RunRulesOptions,
  toTrace: (raw: readonly string[]) => SourceTrace,
  display: (file: string) => string,
  extraTargets: ReadonlySet<string>,
  canonical: CanonicalMatcher,
  chains: { readonly reserved: (table: string, chain: string) => string | undefined; readonly hint: (table: string, chain: string) => string | undefined },
  tables: () => Promise<Readonly<Record<Family, readonly string[]>>>,
  queryKernel: KernelServices['query'],
): Promise<RunState | RunMode> {
  // Preserved chains (DOCKER-USER) exist for the rules without -N: they add to them and jump to them.
  const reservedChain = chains.reserved;
  const foreign: ForeignChains = { isForeign: (table, chain) => reservedChain(table, chain) !== undefined, hint: chains.hint };
  const models: Record<Family, RulesetModel> = { ipv4: new RulesetModel('ipv4', extraTargets, foreign), ipv6: new RulesetModel('ipv6', extraTargets, foreign) };
  const sets = new IpsetModel();
  // How many rules of both families refer to a set now (asked only by ipset destroy and rename).
  const ruleRefs = (name: string): number => {
    let n = 0;
    for (const m of Object.values(models)) for (const t of m.tables.values()) for (const c of t.chains.values()) for (const r of c.rules) if (setReferences(r.spec).includes(name)) n++;
    return n;
  };
  const hostCommands: HostCommand[] = [];
  let lastFailure: { trace: SourceTrace; status: number } | undefined;
  let lastRefusal: { trace: SourceTrace; message: string } | undefined;
  let bypass: { file: string; command: string; failureAfter: number } | undefined;
  let failures = 0;
  let finished = false;
  let currentFile = '';
  let early: EarlyStop | undefined;

  // The real tool's answer to a query, on what the rule files built so far (netfilter/kernel-query.ts).
  const query = async (family: Family | undefined, argv: readonly string[], table = 'filter'): Promise<RecordVerdict> => {
    // A preserved chain exists on the host: listing it (`iptables -L DOCKER-USER || iptables -N …`) finds it, with nfgit's part.
    // (Only then is the table touched: a query must not make a table the rules do not use theirs.)
    const listed = family === undefined ? undefined : listedChain(argv);
    if (family !== undefined && listed !== undefined && reservedChain(table, listed) !== undefined) {
      const t = models[family].table(table);
      if (t !== undefined && !t.chains.has(listed)) models[family].foreignChain(t, listed);
    }
    const ipsets = renderIpsets(sets).text;
    const restore = family === undefined ? undefined : { tool: TOOL[family], text: renderRestore(models[family], (await tables())[family]).text };
    const r = await queryKernel({ ipsets, restore }, argv);
    return { answer: `${r.code}:${r.stderr}\x1f${r.stdout}` };
  };
  // What the model does not know about a command: a chain name that belongs to other software
  // (preserve: rules may add to it, never create, delete or rename it; always refused), a set a rule
  // names that does not exist then (iptables resolves a set by name when the rule is added: it must
  // exist, of the rule's family).
  const precheck = (family: Family, table: string, cmd: Command): { message: string; reserved: boolean } | undefined => {
    const defined = cmd.op === 'new-chain' ? cmd.chain : cmd.op === 'rename' ? cmd.newName : undefined;
    const owned = cmd.op === 'rename' || (cmd.op === 'delete-chain' && cmd.chain !== undefined) ? cmd.chain : undefined;
    const reserved = (defined === undefined ? undefined : reservedChain(table, defined)) ?? (owned === undefined ? undefined : reservedChain(table, owned));
    if (reserved !== undefined) return { message: reserved, reserved: true };
    if (cmd.op !== 'append' && cmd.op !== 'insert' && cmd.op !== 'replace') return undefined;
    for (const name of setReferences(cmd.spec)) {
      const why = sets.checkRuleReference(family, name);
      if (why !== undefined) return { message: why, reserved: false };
    }
    return undefined;
  };
  // Errors in the input of a bulk load: at the line of the here-document it comes from, or at the call
  // (with the line of the input) when it was read from a file.
  const inputErrors = (tool: string, rawTrace: readonly string[], family?: Family): { traceOf: (line: number) => SourceTrace; stop: (line: number, message: string) => RecordVerdict } => {
    const trace = toTrace(rawTrace);
    const at = hereDocument(rawTrace[0], runOptions.rulesDir);
    const traceOf = (line: number): SourceTrace => (at === undefined || trace[0] === undefined ? trace : [{ file: trace[0].file, line: trace[0].line + line }, ...trace.slice(1)]);
    const stop = (line: number, message: string): RecordVerdict => ({
      stop: new RuleError(`${tool}: ${message}${at === undefined && line > 0 ? ` (line ${line} of its input)` : ''}`, { trace: traceOf(line), ...(family === undefined ? {} : { family }) }),
    });
    return { traceOf, stop };
  };
  // `ipset restore` in a rule file: each line of its input applied to the sets as ipset restore does;
  // the first failing line stops the compile at that line (ipset keeps what came before it, and so
  // would the rule file's next commands: an error here is never what the author meant).
  const ipsetRestore = (input: string, ipsetArgs: readonly string[], rawTrace: readonly string[]): RecordVerdict => {
    const { traceOf, stop } = inputErrors('ipset restore', rawTrace);
    const parsed = parseIpset(ipsetArgs);
    if (!parsed.ok) return stop(0, parsed.message);
    const lines = parseIpsetRestore(input, parsed.call.exist, parsed.call.quiet);
    if (!lines.ok) return stop(lines.line, lines.message);
    for (const { call, line } of lines.commands) {
      const r = sets.apply(call, traceOf(line), ruleRefs);
      if (!r.ok) return stop(line, r.message);
    }
    return { answer: '0:' };
  };
  // A bulk load (`iptables-restore <<EOF`): its blocks applied to the model as iptables-restore loads
  // them, each error at the line of the here-document it comes from (or at the call, for a file).
  const bulkLoad = async (family: Family, tool: string, input: string, opts: readonly string[], rawTrace: readonly string[]): Promise<RecordVerdict> => {
    const { traceOf, stop } = inputErrors(tool, rawTrace, family);
    let noflush = false;
    let test = false;
    let only: string | undefined;
    for (let i = 0; i < opts.length; i++) {
      const o = opts[i] as string;
      if (o === '-n' || o === '--noflush') noflush = true;
      else if (o === '-t' || o === '--test') test = true;
      else if (o === '-T' || o === '--table') only = opts[++i];
      else if (o === '-M' || o === '--modprobe' || o === '-W' || o === '--wait-interval') i++;
      else if (!['-c', '--counters', '-v', '--verbose', '-w', '--wait'].includes(o) && !o.startsWith('--wait=')) return stop(0, `unknown option "${o}"`);
    }
    const parsed = parseRestore(input);
    if (!parsed.ok) return stop(parsed.line, parsed.message);
    const model = models[family];
    for (const block of parsed.blocks) {
      if (only !== undefined && block.table !== only) continue;
      const builtins = BUILTIN_CHAINS[block.table];
      if (builtins === undefined) return stop(block.line, `can't initialize ${TOOL[family]} table \`${block.table}': Table does not exist`);
      const run = async (cmd: Command, line: number): Promise<string | undefined> => {
        const bad = precheck(family, block.table, cmd);
        if (bad !== undefined) return bad.message;
        const r = model.apply(block.table, cmd, traceOf(line));
        if (r.ok === true) return undefined;
        if (r.ok === false) return r.message;
        if (cmd.op !== 'delete-spec') return 'Bad rule (does a matching rule exist in that chain?).';
        const index = await canonical(family, r.table, r.chain, cmd.spec);
        if (index < 0) return `no rule matches the one to delete from chain ${r.chain.name} (table ${block.table}): ${cmd.spec.join(' ')}`;
        model.deleteAt(r.table, r.chain, index);
        return undefined;
      };
      if (test) continue;
      // Without --noflush the block replaces the table: rules flushed, user chains deleted, policies ACCEPT.
      if (!noflush) {
        for (const cmd of [{ op: 'flush', chain: undefined }, { op: 'delete-chain', chain: undefined }, ...builtins.map((c) => ({ op: 'policy', chain: c, target: 'ACCEPT' }))] as Command[]) {
          const why = await run(cmd, block.line);
          if (why !== undefined) return stop(block.line, why);
        }
      }
      for (const c of block.chains) {
        const builtin = builtins.includes(c.name);
        // A preserved chain exists on the host: its line flushes nfgit's part, as for an existing chain.
        const exists = model.table(block.table)?.chains.has(c.name) === true || reservedChain(block.table, c.name) !== undefined;
        const cmd: Command | undefined = builtin ? (c.policy === '-' ? undefined : { op: 'policy', chain: c.name, target: c.policy }) : exists ? { op: 'flush', chain: c.name } : { op: 'new-chain', chain: c.name };
        if (cmd === undefined) continue;
        const why = await run(cmd, c.line);
        if (why !== undefined) return stop(c.line, why);
      }
      for (const { argv, line } of block.commands) {
        const p = parseArgv(family, ['-t', block.table, ...argv]);
        if (!p.ok) return stop(line, p.message);
        const expanded = expandAddressLists(p.call.command);
        if (!expanded.ok) return stop(line, expanded.message);
        for (const cmd of expanded.commands) {
          const why = await run(cmd, line);
          if (why !== undefined) return stop(line, why);
        }
      }
    }
    return { answer: '0:' };
  };
  const handle = (rec: RawRecord): RecordVerdict | Promise<RecordVerdict> => {
    switch (rec.kind) {
      case '4':
      case '6':
      case 'Q4':
      case 'Q6':
      case 'A4':
      case 'A6':
      case 'U4':
      case 'U6': {
        const family: Family = rec.kind.endsWith('4') ? 'ipv4' : 'ipv6';
        const sync = rec.kind.startsWith('Q');
        // Recorded in fast mode, without an answer (aliases, or functions called through a variable).
        const alias = rec.kind.startsWith('A') || rec.kind.startsWith('U');
        const trace = toTrace(rec.trace);
        const tool = TOOL[family];
        const parsed = parseArgv(family, rec.args);
        const bulk = parsed.ok && (parsed.call.command.op === 'append' || parsed.call.command.op === 'insert');
        const refuse = (message: string, status: number, hard = false): RecordVerdict => {
          const text = `${tool}: ${message}`;
          // A failing state command may be tolerated by the script (`|| true`): only exact mode can tell.
          if (alias && !bulk && !hard) return { restart: true };
          if (!sync || hard) return { stop: new RuleError(text, { trace, family }) };
          lastRefusal = { trace, message: text };
          return { answer: `${status}:${text}` };
        };
        if (!parsed.ok) return refuse(parsed.message, 2);
        const first = parsed.call.command;
        // A query is answered by the real tool on the rules built so far: only exact mode can wait for it.
        if (first.op === 'list') return alias || !sync ? { restart: true } : query(family, [tool, ...rec.args], parsed.call.table);
        if (alias && first.op === 'check') return { restart: true };
        const expanded = expandAddressLists(first);
        if (!expanded.ok) return refuse(expanded.message, 2);
        const model = models[family];
        const commands = expanded.commands;
        // Synchronous unless a -D/-C needs the kernel's canonical form: most records cost no promise.
        const applyFrom = (k: number): RecordVerdict | Promise<RecordVerdict> => {
          for (let i = k; i < commands.length; i++) {
            const cmd = commands[i] as Command;
            const bad = precheck(family, parsed.call.table, cmd);
            if (bad !== undefined) return refuse(bad.message, 2, bad.reserved);
            const r = model.apply(parsed.call.table, cmd, trace);
            if (r.ok === true) continue;
            if (r.ok === false) return refuse(r.message, r.status);
            const spec = cmd.op === 'delete-spec' || cmd.op === 'check' ? cmd.spec : [];
            return canonical(family, r.table, r.chain, spec).then((index) => {
              if (index >= 0 && cmd.op === 'delete-spec') model.deleteAt(r.table, r.chain, index);
              else if (index < 0 && cmd.op === 'check') return refuse('Bad rule (does a matching rule exist in that chain?).', 1);
              else if (index < 0) return refuse(`no rule matches the one to delete from chain ${r.chain.name} (table ${r.table.name}): ${spec.join(' ')}`, 1);
              return applyFrom(i + 1);
            });
          }
          return sync ? { answer: '0:' } : undefined;
        };
        return applyFrom(0);
      }
      case 'QS':
      case 'AS': {
        const trace = toTrace(rec.trace);
        // Recorded by the fast mode's alias: no answer possible, so any failure reruns in exact mode.
        const alias = rec.kind === 'AS';
        const parsed = parseIpset(rec.args);
        const refuse = (message: string, status: number, quiet: boolean, hard = false): RecordVerdict => {
          const text = `ipset: ${message}`;
          if (hard) return { stop: new RuleError(text, { trace }) };
          if (alias) return { restart: true };
          lastRefusal = { trace, message: text };
          return { answer: `${status}:${quiet ? '' : text}` };
        };
        if (!parsed.ok) return refuse(parsed.message, 1, false);
        const call = parsed.call;
        if (call.op === 'save' || call.op === 'list') return alias ? { restart: true } : query(undefined, ['ipset', ...rec.args]);
        // The prelude sends a restore with its input (QI); the fast mode's alias cannot read it.
        if (call.op === 'restore') return alias ? { restart: true } : refuse('internal error: ipset restore without its input', 70, false, true);
        if (alias && call.op === 'test') return { restart: true };
        const r = sets.apply(call, trace, ruleRefs);
        if (!r.ok) return refuse(r.message, r.status, call.quiet);
        return alias ? undefined : { answer: '0:' };
      }
      case 'QI': {
        if (runOptions.mode === 'fast') return { restart: true };
        const [input = '', ...ipsetArgs] = rec.args;
        return ipsetRestore(input, ipsetArgs, rec.trace);
      }
      case 'QR': {
        if (runOptions.mode === 'fast') return { restart: true };
        const [tool = 'iptables-restore', input = '', ...opts] = rec.args;
        return bulkLoad(tool.includes('ip6') ? 'ipv6' : 'ipv4', tool, input, opts, rec.trace);
      }
      case 'QV': {
        const tool = rec.args[0] ?? 'iptables-save';
        if (runOptions.mode === 'fast') return { restart: true };
        const family: Family = tool.includes('ip6') ? 'ipv6' : 'ipv4';
        return query(family, [`${TOOL[family]}-save`, ...rec.args.slice(1)]);
      }
      case 'M':
      case 'AM':
        if (rec.args.length === 0) return { stop: new RuleError('main needs a command to run on the host, as in: main sysctl -w net.ipv4.ip_forward=1', { trace: toTrace(rec.trace) }) };
        hostCommands.push({ argv: rec.args, trace: toTrace(rec.trace) });
        return undefined;
      case 'E':
        failures++;
        lastFailure = { trace: toTrace(rec.trace), status: Number(rec.args[0]) };
        return undefined;
      case 'S':
        currentFile = display(rec.args[0] ?? '');
        return undefined;
      case 'Z':
        finished = true;
        return undefined;
      case 'X':
        early ??= {
          how: rec.args[0] === 'exit' ? 'exit' : 'stop',
          file: display(rec.args[1] ?? currentFile),
          command: rec.args[2] ?? '',
          trace: toTrace(rec.trace),
          failuresBefore: failures,
          ...exitOf(rec.args[3] ?? '', rec.args[1] ?? '', toTrace),
        };
        return undefined;
      case 'F': {
        const tool = rec.args[0] ?? 'this tool';
        return {
          stop: new RuleError(`${tool} cannot be used in a rule file: rule files only describe rules with iptables/ip6tables calls, and nfgit compiles them and does the iptables-save/iptables-restore itself`,
            { trace: toTrace(rec.trace) },
          ),
        };
      }
      case 'N': {
        const tool = rec.args[0] ?? 'this tool';
        return {
          stop: new RuleError(`${tool} is not supported yet: nfgit compiles iptables, ip6tables and ipset calls only; keep these rules out of the rule files for now (a host command runs them after each apply: main ${tool} …)`,
            { trace: toTrace(rec.trace) },
          ),
        };
      }
      case 'B':
        bypass ??= { file: display(rec.args[0] ?? currentFile), command: rec.args[1] ?? '', failureAfter: failures };
        return undefined;
      default:
        return { stop: new InternalError(`internal error: unknown record kind ${JSON.stringify(rec.kind)} from the zsh prelude`) };
    }
  };

  const exit = await runRuleFiles(runOptions, handle);

  if (exit.stoppedBy !== undefined) throw new NfgitErrors([exit.stoppedBy]);
  if (exit.restart) return 'exact';
  if (exit.timedOut) {
    throw new NfgitErrors([
      new TimeoutError(`the rule files were still running after ${runOptions.timeoutMs / 1000} s (the last file started was ${currentFile}) and were stopped: a loop that never ends, or a command that waits (sleep, read, a network call)?`, { trace: currentFile ? [{ file: currentFile, line: 0 }] : [] }),
    ]);
  }
  if (bypass !== undefined) {
    const at = lastFailure !== undefined && failures > bypass.failureAfter && lastFailure.trace.length > 0 ? lastFailure.trace : [{ file: bypass.file, line: 0 }];
    throw new NfgitErrors([
      new RuleError(`runs iptables directly ("${bypass.command.trim()}"), bypassing nfgit: call iptables/ip6tables by name or path, without "command" or "builtin", so nfgit can compile the rule`, { trace: at }),
    ]);
  }
  // A failed command (errexit) explains the end of the run by itself; an exit does not say where it was.
  const failedAtEnd = lastFailure !== undefined && lastFailure.trace.length > 0 && (early === undefined || failures > early.failuresBefore || sameLocation(early.trace, lastFailure.trace));
  const zshSaid = zshError(exit.output.split('\n'), display);
  const unexplained = !failedAtEnd && (exit.code === 0 || zshSaid === undefined);
  // zsh's message locates a parse or expansion error by itself; other stops need the diagnose run.
  const located = early?.exit !== undefined || zshSaid !== undefined;
  if (!finished && runOptions.mode !== 'diagnose' && (unexplained || (early !== undefined && !failedAtEnd && !located))) return 'diagnose';
  if (early !== undefined && !failedAtEnd) throw new NfgitErrors([earlyStopError(early, exit.output, display)]);
  if (exit.code !== 0 || !finished) throw new NfgitErrors([scriptFailure(exit.code, exit.signal, exit.output, lastFailure, lastRefusal, currentFile, display)]);
  return { models, sets, hostCommands, output: exit.output };
}

/**
 * A line of `set -x` output from nfgit's own functions and traps (zsh's PS4 is `+%N:%i> `): never what
 * a rule file said, so never quoted in a message.
 */
const NFGIT_XTRACE =
  /^\++(?:(?:__nfgit\w*|iptables|ip6tables|ipset|main|which|sudo|doas|nice|nohup|env|sh|bash|dash|xargs|TRAP(?:ZERR|DEBUG|EXIT)|[^\s:]*\/(?:ip6?tables|ipset)[^\s:]*|\/run\/nfgit\/prelude\.(?:zsh|bash))(?::\d+)?> |\S*> (?:__nfgit_err |\[\[ -n \$__nfgit_over))/;

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

/** A rule file that did not run to its end (the X record of prelude.zsh). */
interface EarlyStop {
  /** `exit`: the shell exited; `stop`: the file's sourcing ended early (an error, a `return`). */
  readonly how: 'exit' | 'stop';
  readonly file: string;
  /** The last command the file ran (diagnose mode), as zsh prints it. */
  readonly command: string;
  /** Where that command was, with its call chain (diagnose mode); empty otherwise. */
  readonly trace: SourceTrace;
  /** How many failed commands (ZERR) came before the stop. */
  readonly failuresBefore: number;
  /** The first `exit` the file ran (the prelude makes it return from the file), when that is why it stopped. */
  readonly exit?: { readonly trace: SourceTrace; readonly inFunction: string | undefined };
}

/** The prelude's note of an exit, `NAME|FILE:LINE` (NAME: the function, or the file at its top level). */
function exitOf(note: string, file: string, toTrace: (raw: readonly string[]) => SourceTrace): Pick<EarlyStop, 'exit'> {
  const bar = note.indexOf('|');
  if (bar < 0) return {};
  const name = note.slice(0, bar);
  // zsh names the file at its top level; bash names nothing there.
  return { exit: { trace: toTrace([note.slice(bar + 1)]), inFunction: name === file || name === '' ? undefined : name } };
}

function sameLocation(a: SourceTrace, b: SourceTrace): boolean {
  return a[0] !== undefined && b[0] !== undefined && a[0].file === b[0].file && a[0].line === b[0].line;
}

/**
 * Explains a rule file that stopped before its end, at the FILE:LINE where it stopped: zsh's own
 * message when it printed one (an expansion or parse error), or what the last command was (`return`,
 * `exit`). The files after it did not run, so nothing of the run may be used.
 */
function earlyStopError(early: EarlyStop, output: string, display: (file: string) => string): NfgitError {
  const lines = output.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '');
  const refused = 'nfgit refuses a rule file that does not run to its end, since its later rules would be silently missing';
  const stopped = `the rule file stopped here, so its later lines did not run; ${refused}`;
  const said = zshError(lines, display);
  // zsh names the file and line of a parse or expansion error in a rule file: that is where it stopped.
  if (said !== undefined && said.trace[0] !== undefined && (early.trace.length === 0 || said.trace[0].file === early.trace[0]?.file || said.trace[0].file === early.file)) {
    return new ScriptError(`${said.message}; ${stopped}`, { trace: said.trace });
  }
  if (early.exit !== undefined) {
    const where = early.exit.inFunction === undefined ? 'before the last line of the rule file' : `in function ${early.exit.inFunction}`;
    return new ScriptError(`"exit" ${where}: rule files are sourced into one shell, so in a real shell it would end the whole run here and skip the rest; nfgit accepts an exit only as a file's last command${early.exit.inFunction === undefined ? '' : ' (return from the function instead)'}, or put the lines to skip under an "if"`,
      { trace: early.exit.trace },
    );
  }
  const trace = early.trace.length > 0 ? early.trace : [{ file: early.file, line: 0 }];
  // Inside a function zsh names the function and its own line count ("allow:2: bad substitution").
  const inFunction = lines.map((l) => /^([^/:\s][^:]*):(\d+): (.*)$/.exec(l)).find((m) => m !== null);
  const command = early.command.trim().split('\n')[0] ?? '';
  if (inFunction !== null && inFunction !== undefined && early.how === 'stop') {
    return new ScriptError(`zsh: ${inFunction[3]} (in ${inFunction[1]}); ${stopped}`, { trace });
  }
  const exit = /(?:^|[\s;&|({])(exit(?:\s+[^\s;&|)}]+)?)\s*(?:$|[;&|)}])/.exec(command);
  if (early.how === 'exit' || exit !== null) {
    return new ScriptError(`"${exit?.[1] ?? 'exit'}" ends the whole run here: rule files are sourced into one shell, so the rest of this file and the files after it did not run; remove the exit, or put the lines to skip under an "if"`,
      { trace },
    );
  }
  const ret = /(?:^|[\s;&|({])(return(?:\s+[^\s;&|)}]+)?)\s*(?:$|[;&|)}])/.exec(command);
  if (ret !== null) {
    return new ScriptError(`"${ret[1]}" at the top level ends the rule file here, so its later lines did not run; ${refused}: put the lines to skip under an "if" instead`, { trace });
  }
  return new ScriptError(`${command === '' ? '' : `after "${command}", `}${stopped}`, { trace });
}

/** Explains why the zsh run stopped: the iptables call that failed, the command that failed, or zsh's own message. */
function scriptFailure(
  code: number | null,
  signal: string | null,
  output: string,
  lastFailure: { trace: SourceTrace; status: number } | undefined,
  lastRefusal: { trace: SourceTrace; message: string } | undefined,
  currentFile: string,
  display: (file: string) => string,
): NfgitError {
  const lines = output.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '' && !NFGIT_XTRACE.test(l));
  const zshSaid = zshError(lines, display);
  if (zshSaid !== undefined && (lastFailure === undefined || lastFailure.trace.length === 0)) return zshSaid;
  if (lastFailure !== undefined && lastFailure.trace.length > 0 && code !== 0) {
    const at = lastFailure.trace[0];
    const refusalAt = lastRefusal?.trace[0];
    if (lastRefusal !== undefined && at !== undefined && refusalAt !== undefined && at.file === refusalAt.file && at.line === refusalAt.line) {
      return new RuleError(lastRefusal.message, { trace: lastRefusal.trace });
    }
    // The jail's paths of rule files, as the user named them.
    const lastLine = lines.at(-1);
    const said = lastLine?.replace(new RegExp(`${JAIL_RULES_DIR}/[^\\s:'"]+`, 'g'), (p) => display(p));
    const host = said === undefined ? undefined : hostOnlyHint(said);
    return new ScriptError(host !== undefined
        ? `a command failed with exit status ${lastFailure.status} (it said: ${said}): ${host}`
        : `a command failed with exit status ${lastFailure.status}${said ? ` (it said: ${said})` : ''}; rule files run with errexit, so the compile stopped here (append "|| true" if the failure is expected)`,
      { trace: lastFailure.trace },
    );
  }
  if (code === 0) {
    return new ScriptError('the run of the rule files ended in this file without an error (an "exec", or "setopt noexec"?), so the rest of it and the files after it did not run; nfgit refuses rules that do not run to their end',
      { trace: currentFile ? [{ file: currentFile, line: 0 }] : [] },
    );
  }
  const why = signal !== null ? `was killed by ${signal}` : `exited with status ${code}`;
  return new ScriptError(`the rule files ${why}${lines.length > 0 ? `: ${lines.slice(-3).join(' / ')}` : ''}`, { trace: currentFile ? [{ file: currentFile, line: 0 }] : [] });
}

/**
 * What to say when a rule file tried to change the host while compiling (a sysctl, a module, a file
 * under /proc/sys or /sys), which the jail refuses: such lines are host commands, run after the apply.
 */
function hostOnlyHint(said: string): string | undefined {
  if (/\/proc\/sys\b|\bsysctl\b/.test(said)) {
    return 'kernel settings are the host\'s, and rule files run in a sandbox while compiling (its /proc/sys is read-only): write it as a host command, run after the apply, as in "main sysctl -w net.ipv4.ip_forward=1" or "main sh -c \'echo 1 > /proc/sys/net/ipv4/ip_forward\'"';
  }
  if (/\bmodprobe\b|\binsmod\b|\/sys\//.test(said)) {
    return 'this changes the host, and rule files run in a sandbox while compiling: write it as a host command, run after the apply, as in "main modprobe nf_conntrack_ftp"';
  }
  return undefined;
}

/** zsh's own errors (syntax, bad substitution) are printed as "/abs/file:LINE: message". */
function zshError(lines: readonly string[], display: (file: string) => string): NfgitError | undefined {
  for (const l of lines) {
    // bash: "FILE: line N: message" (the file is a rule file, or the prelude for its own errors).
    const bash = /^(\/[^:]+): line (\d+): (.*)$/.exec(l);
    if (bash !== null && !(bash[1] as string).endsWith('/prelude.bash')) {
      return new ScriptError(`bash: ${bash[3]}`, { trace: [{ file: display(bash[1] as string), line: Number(bash[2]) }] });
    }
    // A builtin's own complaint names it between the file and the line ("FILE:break:2: not in …").
    const b = /^(\/[^:]+):([a-z_][\w-]*):(\d+): (.*)$/.exec(l);
    const m = b === null ? /^(\/[^:]+):(\d+): (.*)$/.exec(l) : [b[0], b[1], b[3], `${b[2]}: ${b[4]}`];
    if (m === null) continue;
    const trace = [{ file: display(m[1] as string), line: Number(m[2]) }];
    const own = /^defining function based on alias `(.+)'$/.exec(m[3] as string);
    if (own !== null) {
      return new ScriptError(`rule files must not define a function named "${own[1]}": nfgit provides it to record the calls (name a wrapper differently)`, { trace });
    }
    return new ScriptError(`zsh: ${m[3]}`, { trace });
  }
  return undefined;
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

/** The chain a list command (`-L CHAIN`, `-nvL CHAIN`, `-S CHAIN`, `--list CHAIN`) names, if any. */
function listedChain(argv: readonly string[]): string | undefined {
  for (let i = 1; i < argv.length - 1; i++) {
    const a = argv[i] as string;
    if (!/^-[A-Za-z]*[LS]$/.test(a) && a !== '--list' && a !== '--list-rules') continue;
    const next = argv[i + 1] as string;
    return next.startsWith('-') ? undefined : next;
  }
  return undefined;
}
