// The record interpreter: what each record of a run of the rule files (prelude.zsh, prelude.bash) does
// to the models of both families and the sets, and what the waiting call is answered. Pure but for
// the kernel services it is given (canonical forms, tables, queries) and the here-document check: a
// table test drives it with records (test/compiler/interpret.test.ts); compile.ts runs it on a real run.
import { InternalError, RuleError } from '../errors/errors.js';
import type { SourceTrace } from '../errors/source-location.js';
import { parseArgv, TOOL, type Command, type Family } from './parse-argv.js';
import { parseRestore } from './parse-restore.js';
import { BUILTIN_CHAINS } from './tables.js';
import { expandAddressLists } from './expand-addresses.js';
import { RulesetModel, type ForeignChains } from './ruleset-model.js';
import { renderRestore } from './render-restore.js';
import { IpsetModel, setReferences } from './ipset-model.js';
import { parseIpset } from './parse-ipset.js';
import { parseIpsetRestore } from './parse-ipset-restore.js';
import { renderIpsets } from './render-ipset.js';
import type { RecordVerdict, RunMode } from './run-rules.js';
import type { RawRecord } from './record-stream.js';
import type { CanonicalMatcher, KernelServices } from './kernel-services.js';
import { exitOf, type EarlyStop } from './run-failure.js';
import { variableToolKind } from './variable-commands.js';

/** A `main` line: a command for the host, run after a successful apply. */
export interface HostCommand {
  readonly argv: readonly string[];
  readonly trace: SourceTrace;
}

/** What the interpreter needs: the run's mode, how traces and files are named, the kernel's services. */
export interface InterpreterDeps {
  readonly mode: RunMode;
  readonly toTrace: (raw: readonly string[]) => SourceTrace;
  readonly display: (file: string) => string;
  readonly extraTargets: ReadonlySet<string>;
  readonly canonical: CanonicalMatcher;
  readonly chains: {
    readonly reserved: (table: string, chain: string) => string | undefined;
    readonly hint: (table: string, chain: string) => string | undefined;
  };
  readonly tables: () => Promise<Readonly<Record<Family, readonly string[]>>>;
  readonly query: KernelServices['query'];
  /** Whether a call (its raw `FILE:LINE`) reads a here-document that starts on the next line. */
  readonly isHereDocument: (raw: string | undefined) => true | undefined;
}

/** What the records said so far: the models, and what explains how the run ended. */
export interface InterpreterState {
  readonly models: Record<Family, RulesetModel>;
  readonly sets: IpsetModel;
  readonly hostCommands: readonly HostCommand[];
  readonly lastFailure: { readonly trace: SourceTrace; readonly status: number } | undefined;
  readonly lastRefusal: { readonly trace: SourceTrace; readonly message: string } | undefined;
  readonly bypass: { readonly file: string; readonly command: string; readonly failureAfter: number } | undefined;
  readonly failures: number;
  readonly finished: boolean;
  readonly currentFile: string;
  readonly early: EarlyStop | undefined;
}

/** An interpreter for one run: `handle` each record in order, then read `state()`. */
export interface Interpreter {
  readonly handle: (rec: RawRecord) => RecordVerdict | Promise<RecordVerdict>;
  readonly state: () => InterpreterState;
}

/** Makes the interpreter of one run of the rule files. */
export function createInterpreter(deps: InterpreterDeps): Interpreter {
  // Preserved chains (DOCKER-USER) exist for the rules without -N: they add to them and jump to them.
  const { toTrace, display, canonical, tables } = deps;
  const reservedChain = deps.chains.reserved;
  const queryKernel = deps.query;
  const foreign: ForeignChains = { isForeign: (table, chain) => reservedChain(table, chain) !== undefined, hint: deps.chains.hint };
  const models: Record<Family, RulesetModel> = {
    ipv4: new RulesetModel('ipv4', deps.extraTargets, foreign),
    ipv6: new RulesetModel('ipv6', deps.extraTargets, foreign),
  };
  const sets = new IpsetModel();
  // How many rules of both families refer to a set now (asked only by ipset destroy and rename).
  const ruleRefs = (name: string): number => {
    let n = 0;
    for (const m of Object.values(models))
      for (const t of m.tables.values())
        for (const c of t.chains.values()) for (const r of c.rules) if (setReferences(r.spec).includes(name)) n++;
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
    const restore =
      family === undefined ? undefined : { tool: TOOL[family], text: renderRestore(models[family], (await tables())[family]).text };
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
    const reserved =
      (defined === undefined ? undefined : reservedChain(table, defined)) ??
      (owned === undefined ? undefined : reservedChain(table, owned));
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
  const inputErrors = (
    tool: string,
    rawTrace: readonly string[],
    family?: Family,
  ): { traceOf: (line: number) => SourceTrace; stop: (line: number, message: string) => RecordVerdict } => {
    const trace = toTrace(rawTrace);
    const at = deps.isHereDocument(rawTrace[0]);
    const traceOf = (line: number): SourceTrace =>
      at === undefined || trace[0] === undefined ? trace : [{ file: trace[0].file, line: trace[0].line + line }, ...trace.slice(1)];
    const stop = (line: number, message: string): RecordVerdict => ({
      stop: new RuleError(`${tool}: ${message}${at === undefined && line > 0 ? ` (line ${line} of its input)` : ''}`, {
        trace: traceOf(line),
        ...(family === undefined ? {} : { family }),
      }),
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
  const bulkLoad = async (
    family: Family,
    tool: string,
    input: string,
    opts: readonly string[],
    rawTrace: readonly string[],
  ): Promise<RecordVerdict> => {
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
      else if (!['-c', '--counters', '-v', '--verbose', '-w', '--wait'].includes(o) && !o.startsWith('--wait='))
        return stop(0, `unknown option "${o}"`);
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
        for (const cmd of [
          { op: 'flush', chain: undefined },
          { op: 'delete-chain', chain: undefined },
          ...builtins.map((c) => ({ op: 'policy', chain: c, target: 'ACCEPT' })),
        ] as Command[]) {
          const why = await run(cmd, block.line);
          if (why !== undefined) return stop(block.line, why);
        }
      }
      for (const c of block.chains) {
        const builtin = builtins.includes(c.name);
        // A preserved chain exists on the host: its line flushes nfgit's part, as for an existing chain.
        const exists = model.table(block.table)?.chains.has(c.name) === true || reservedChain(block.table, c.name) !== undefined;
        const cmd: Command | undefined = builtin
          ? c.policy === '-'
            ? undefined
            : { op: 'policy', chain: c.name, target: c.policy }
          : exists
            ? { op: 'flush', chain: c.name }
            : { op: 'new-chain', chain: c.name };
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
              else if (index < 0)
                return refuse(`no rule matches the one to delete from chain ${r.chain.name} (table ${r.table.name}): ${spec.join(' ')}`, 1);
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
        if (call.op === 'restore')
          return alias ? { restart: true } : refuse('internal error: ipset restore without its input', 70, false, true);
        if (alias && call.op === 'test') return { restart: true };
        const r = sets.apply(call, trace, ruleRefs);
        if (!r.ok) return refuse(r.message, r.status, call.quiet);
        return alias ? undefined : { answer: '0:' };
      }
      case 'QI': {
        if (deps.mode === 'fast') return { restart: true };
        const [input = '', ...ipsetArgs] = rec.args;
        return ipsetRestore(input, ipsetArgs, rec.trace);
      }
      case 'QR': {
        if (deps.mode === 'fast') return { restart: true };
        const [tool = 'iptables-restore', input = '', ...opts] = rec.args;
        return bulkLoad(tool.includes('ip6') ? 'ipv6' : 'ipv4', tool, input, opts, rec.trace);
      }
      case 'QV': {
        const tool = rec.args[0] ?? 'iptables-save';
        if (deps.mode === 'fast') return { restart: true };
        const family: Family = tool.includes('ip6') ? 'ipv6' : 'ipv4';
        return query(family, [`${TOOL[family]}-save`, ...rec.args.slice(1)]);
      }
      case 'M':
      case 'AM':
        if (rec.args.length === 0)
          return {
            stop: new RuleError('main needs a command to run on the host, as in: main sysctl -w net.ipv4.ip_forward=1', {
              trace: toTrace(rec.trace),
            }),
          };
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
          stop: new RuleError(
            `${tool} cannot be used in a rule file: rule files only describe rules with iptables/ip6tables calls, and nfgit compiles them and does the iptables-save/iptables-restore itself`,
            { trace: toTrace(rec.trace) },
          ),
        };
      }
      case 'N': {
        const tool = rec.args[0] ?? 'this tool';
        return {
          stop: new RuleError(
            `${tool} is not supported yet: nfgit compiles iptables, ip6tables and ipset calls only; keep these rules out of the rule files for now (a host command runs them after each apply: main ${tool} …)`,
            { trace: toTrace(rec.trace) },
          ),
        };
      }
      case 'V': {
        // Fast mode's alias for a variable called as a command (`$IPT -A …`): its first argument is the
        // value. A tool's name makes it that tool's alias record; anything else (a function of the rule
        // files, `sudo`, nothing) is run as it is only in exact mode.
        const kind = variableToolKind(rec.args[0] ?? '');
        return kind === undefined ? { restart: true } : handle({ kind, trace: rec.trace, args: rec.args.slice(1) });
      }
      case 'B':
        bypass ??= { file: display(rec.args[0] ?? currentFile), command: rec.args[1] ?? '', failureAfter: failures };
        return undefined;
      default:
        return { stop: new InternalError(`internal error: unknown record kind ${JSON.stringify(rec.kind)} from the zsh prelude`) };
    }
  };
  const state = (): InterpreterState => ({
    models,
    sets,
    hostCommands,
    lastFailure,
    lastRefusal,
    bypass,
    failures,
    finished,
    currentFile,
    early,
  });
  return { handle, state };
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
