/**
 * Parses one `iptables`/`ip6tables` argument vector the way the real tools' getopt loop does
 * (iptables 1.8 xshared.c): commands, `-t` anywhere, clustered short options, `--long=value`,
 * and everything else kept verbatim as the rule specification for the kernel to validate.
 */

export type Family = 'ipv4' | 'ipv6';

/** The command of each family. */
export const TOOL: Readonly<Record<Family, string>> = { ipv4: 'iptables', ipv6: 'ip6tables' };

/** The family's name in messages. */
export const FAMILY_NAME: Readonly<Record<Family, string>> = { ipv4: 'IPv4', ipv6: 'IPv6' };

/** The command of one call, with its chain and rule specification. */
export type Command =
  | { readonly op: 'append'; readonly chain: string; readonly spec: readonly string[] }
  | { readonly op: 'insert'; readonly chain: string; readonly index: number; readonly spec: readonly string[] }
  | { readonly op: 'delete'; readonly chain: string; readonly index: number }
  | { readonly op: 'delete-spec'; readonly chain: string; readonly spec: readonly string[] }
  | { readonly op: 'replace'; readonly chain: string; readonly index: number; readonly spec: readonly string[] }
  | { readonly op: 'check'; readonly chain: string; readonly spec: readonly string[] }
  | { readonly op: 'new-chain'; readonly chain: string }
  | { readonly op: 'delete-chain'; readonly chain: string | undefined }
  | { readonly op: 'flush'; readonly chain: string | undefined }
  | { readonly op: 'zero'; readonly chain: string | undefined }
  | { readonly op: 'rename'; readonly chain: string; readonly newName: string }
  | { readonly op: 'policy'; readonly chain: string; readonly target: string }
  | { readonly op: 'list'; readonly flag: string };

/** A parsed call: the table it addresses and its command. */
export interface ParsedCall {
  readonly table: string;
  readonly command: Command;
}

/** Result of parsing: a call, or a message saying what is wrong with the arguments. */
export type ParseResult = { readonly ok: true; readonly call: ParsedCall } | { readonly ok: false; readonly message: string };

type CommandLetter = 'A' | 'D' | 'C' | 'I' | 'R' | 'L' | 'S' | 'F' | 'Z' | 'N' | 'X' | 'E' | 'P';

const LONG_COMMANDS: Readonly<Record<string, CommandLetter>> = {
  append: 'A',
  delete: 'D',
  check: 'C',
  insert: 'I',
  replace: 'R',
  list: 'L',
  'list-rules': 'S',
  flush: 'F',
  zero: 'Z',
  'new-chain': 'N',
  'delete-chain': 'X',
  'rename-chain': 'E',
  policy: 'P',
};
const LONG_NAME: Readonly<Record<CommandLetter, string>> = {
  A: 'append',
  D: 'delete',
  C: 'check',
  I: 'insert',
  R: 'replace',
  L: 'list',
  S: 'list-rules',
  F: 'flush',
  Z: 'zero',
  N: 'new-chain',
  X: 'delete-chain',
  E: 'rename-chain',
  P: 'policy',
};
/** Commands whose chain argument is optional (`-F`, `-X` … alone address every chain). */
const OPTIONAL_CHAIN = new Set<CommandLetter>(['L', 'S', 'F', 'Z', 'X']);

/** Core rule options that take one argument, by short letter; long spellings map onto them. */
const SPEC_WITH_ARG = new Set(['p', 's', 'd', 'i', 'o', 'j', 'g', 'm']);
/**
 * Options whose value iptables 1.8 takes from `argv[optind - 1]` instead of getopt's optarg: given
 * attached (`-jACCEPT`, `-s1.2.3.4`, `--source=1.2.3.4`), the value is the whole word, so `-ilo`
 * names an interface "-ilo" and `-jACCEPT` a chain "-jACCEPT" that does not exist. -g and -m use
 * optarg and work attached.
 */
const WHOLE_WORD_VALUE = new Set(['p', 's', 'd', 'i', 'o', 'j']);
const LONG_SPEC: Readonly<Record<string, string>> = {
  protocol: 'p',
  source: 's',
  src: 's',
  destination: 'd',
  dst: 'd',
  'in-interface': 'i',
  'out-interface': 'o',
  jump: 'j',
  goto: 'g',
  match: 'm',
  fragment: 'f',
  fragments: 'f',
  'set-counters': 'c',
};
/** Options without effect on the resulting ruleset (output format, locking). */
const IGNORED_LONG_FLAGS = new Set(['verbose', 'numeric', 'exact', 'line-numbers']);
/**
 * Extension options whose argument is free text: getopt takes the next word as their value even
 * when it starts with `-`, so `--comment "-A x"` must not be read as a command.
 */
const FREE_TEXT_OPTIONS = new Set(['comment', 'log-prefix', 'nflog-prefix', 'ulog-prefix', 'string', 'hex-string']);

const isNumber = (s: string | undefined): s is string => s !== undefined && /^[0-9]+$/.test(s);
const isWaitValue = (s: string | undefined): s is string => s !== undefined && /^[0-9]+(\.[0-9]*)?$/.test(s);
/** iptables reads an optional positional argument when the next word does not look like an option. */
const isPositional = (s: string | undefined): s is string => s !== undefined && !s.startsWith('-') && s !== '!';

/** What a long option is, looked up once per word. */
type LongKind = 'command' | 'table' | 'wait' | 'skip-arg' | 'ipv4' | 'ipv6' | 'ignore' | 'refuse' | 'spec' | 'free-text';
const LONG_KIND = new Map<string, LongKind>();
for (const name of Object.keys(LONG_COMMANDS)) LONG_KIND.set(name, 'command');
for (const name of Object.keys(LONG_SPEC)) LONG_KIND.set(name, 'spec');
for (const name of IGNORED_LONG_FLAGS) LONG_KIND.set(name, 'ignore');
for (const name of FREE_TEXT_OPTIONS) LONG_KIND.set(name, 'free-text');
LONG_KIND.set('table', 'table').set('wait', 'wait').set('wait-interval', 'skip-arg').set('modprobe', 'skip-arg');
LONG_KIND.set('ipv4', 'ipv4').set('ipv6', 'ipv6').set('help', 'refuse').set('version', 'refuse');

/** The parser's state for one call (a class rather than closures: this runs once per rule). */
class ArgvParser {
  readonly spec: string[] = [];
  table: string | undefined;
  cmd: { letter: CommandLetter; chain: string | undefined; extra: string[] } | undefined;
  i = 0;
  constructor(
    readonly family: Family,
    readonly argv: readonly string[],
  ) {}

  get tool(): string {
    return TOOL[this.family];
  }

  setCommand(letter: CommandLetter, attached: string | undefined): string | undefined {
    const argv = this.argv;
    if (this.cmd !== undefined) return `only one command can be given, but both -${this.cmd.letter} and -${letter} are here`;
    let chain = attached;
    if (chain === undefined) {
      if (OPTIONAL_CHAIN.has(letter)) {
        if (isPositional(argv[this.i + 1])) chain = argv[++this.i];
      } else {
        chain = argv[++this.i];
        if (chain === undefined) return `option --${LONG_NAME[letter]} (-${letter}) needs a chain name`;
      }
    }
    const extra: string[] = [];
    // iptables takes the rule number (-I, -D, -R, -L, -Z), the new name (-E) or the policy (-P) positionally.
    if (letter === 'E' || letter === 'P') {
      const next = argv[this.i + 1];
      if (next === undefined || next.startsWith('-')) {
        return letter === 'E'
          ? '-E needs the old and the new chain name: -E OLD NEW'
          : '-P needs a chain and a policy: -P CHAIN ACCEPT|DROP';
      }
      extra.push(next);
      this.i++;
    } else if (letter === 'I' || letter === 'D' || letter === 'R' || letter === 'L' || letter === 'Z') {
      if (isPositional(argv[this.i + 1])) extra.push(argv[++this.i] as string);
    }
    this.cmd = { letter, chain, extra };
    return undefined;
  }

  setTable(name: string | undefined): string | undefined {
    if (name === undefined) return 'option -t needs a table name';
    if (this.table !== undefined) return 'the table is given twice (-t); give it once';
    this.table = name;
    return undefined;
  }

  familyFlag(flag: '4' | '6'): string | undefined {
    if ((flag === '6' && this.family === 'ipv4') || (flag === '4' && this.family === 'ipv6')) {
      return `-${flag} cannot be used with ${this.tool}: this is the ${FAMILY_NAME[this.family]} tool`;
    }
    return undefined;
  }

  /** Reads one `--long[=value]` word; returns an error message or undefined. */
  long(tok: string): string | undefined {
    const argv = this.argv;
    const spec = this.spec;
    const eq = tok.indexOf('=');
    const name = eq >= 0 ? tok.slice(2, eq) : tok.slice(2);
    const inline = eq >= 0 ? tok.slice(eq + 1) : undefined;
    switch (LONG_KIND.get(name)) {
      case 'command':
        return this.setCommand(LONG_COMMANDS[name] as CommandLetter, inline);
      case 'table':
        return this.setTable(inline ?? argv[++this.i]);
      case 'wait':
        if (inline === undefined && isWaitValue(argv[this.i + 1])) this.i++;
        return undefined;
      case 'skip-arg':
        if (inline === undefined) this.i++;
        return undefined;
      case 'ipv4':
        return this.familyFlag('4');
      case 'ipv6':
        return this.familyFlag('6');
      case 'ignore':
        return undefined; // no effect on the ruleset
      case 'refuse':
        return `--${name} cannot be used in a rule file`;
      case 'spec': {
        const short = LONG_SPEC[name] as string;
        spec.push(`-${short}`);
        if (short === 'c') {
          if (inline !== undefined) spec.push(inline, argv[++this.i] ?? '');
          else spec.push(argv[++this.i] ?? '', argv[++this.i] ?? '');
        } else if (short !== 'f') {
          const v = inline === undefined ? argv[++this.i] : WHOLE_WORD_VALUE.has(short) ? tok : inline;
          if (v === undefined) return `option --${name} needs a value`;
          spec.push(v);
        }
        return undefined;
      }
      case 'free-text':
        if (inline === undefined && this.i + 1 < argv.length) spec.push(tok, argv[++this.i] as string);
        else spec.push(tok);
        return undefined;
      default:
        spec.push(tok);
        return undefined;
    }
  }

  /** Reads one cluster of short options, as getopt does: `-tnat`, `-vA INPUT`, `-ptcp`. */
  short(tok: string): string | undefined {
    const argv = this.argv;
    const spec = this.spec;
    for (let j = 1; j < tok.length; j++) {
      const c = tok[j] as string;
      const rest = tok.length > j + 1 ? tok.slice(j + 1) : undefined;
      let err: string | undefined;
      if (COMMAND_LETTERS.has(c)) {
        return this.setCommand(c as CommandLetter, rest);
      } else if (SPEC_WITH_ARG.has(c)) {
        const v = rest === undefined ? argv[++this.i] : WHOLE_WORD_VALUE.has(c) ? tok : rest;
        if (v === undefined) return `option -${c} needs a value`;
        spec.push(`-${c}`, v);
        return undefined;
      } else if (c === 't') {
        return this.setTable(rest ?? argv[++this.i]);
      } else if (c === 'w' || c === 'W') {
        if (rest === undefined && isWaitValue(argv[this.i + 1])) this.i++;
        return undefined;
      } else if (c === '4' || c === '6') {
        err = this.familyFlag(c);
      } else if (c === 'v' || c === 'n' || c === 'x') {
        // no effect on the ruleset
      } else if (c === 'M') {
        if (rest === undefined) this.i++;
        return undefined;
      } else if (c === 'h' || c === 'V') {
        return `-${c} cannot be used in a rule file`;
      } else if (c === 'c') {
        spec.push('-c', rest ?? argv[++this.i] ?? '', argv[++this.i] ?? '');
        return undefined;
      } else if (c === 'f') {
        spec.push('-f');
      } else {
        // Not a core option: an extension's, left for the kernel to validate.
        spec.push(j === 1 ? tok : `-${tok.slice(j)}`);
        return undefined;
      }
      if (err !== undefined) return err;
    }
    return undefined;
  }
}

const COMMAND_LETTERS = new Set('ADCIRLSFZNXEP');

/** Parses the arguments of one call of `iptables` (family ipv4) or `ip6tables` (ipv6). */
export function parseArgv(family: Family, argv: readonly string[]): ParseResult {
  const fail = (message: string): ParseResult => ({ ok: false, message });
  const st = new ArgvParser(family, argv);
  const spec = st.spec;
  for (; st.i < argv.length; st.i++) {
    const tok = argv[st.i] as string;
    if (tok.length > 1 && tok.charCodeAt(0) === 45 /* - */) {
      const err = tok.charCodeAt(1) === 45 ? (tok.length > 2 ? st.long(tok) : (spec.push(tok), undefined)) : st.short(tok);
      if (err !== undefined) return fail(err);
      continue;
    }
    spec.push(tok);
  }
  const { cmd, table } = st;
  const tool = st.tool;

  if (cmd === undefined) return fail(`no command given (such as -A, -I or -N); ${tool} needs exactly one`);
  const { letter, chain, extra } = cmd;
  const tableName = table ?? 'filter';
  const done = (command: Command): ParseResult => ({ ok: true, call: { table: tableName, command } });
  const noSpec = (what: string): ParseResult | undefined =>
    spec.length > 0 ? fail(`${what} takes no rule specification, but got: ${spec.join(' ')}`) : undefined;

  switch (letter) {
    case 'A':
      return done({ op: 'append', chain: chain as string, spec });
    case 'C':
      return done({ op: 'check', chain: chain as string, spec });
    case 'I': {
      const n = extra[0];
      if (n !== undefined && !isNumber(n)) return fail(`invalid rule number "${n}" for -I`);
      return done({ op: 'insert', chain: chain as string, index: n === undefined ? 1 : Number(n), spec });
    }
    case 'D': {
      const n = extra[0];
      if (n !== undefined) {
        if (!isNumber(n)) return fail(`invalid rule number "${n}" for -D`);
        return noSpec('-D with a rule number') ?? done({ op: 'delete', chain: chain as string, index: Number(n) });
      }
      return done({ op: 'delete-spec', chain: chain as string, spec });
    }
    case 'R': {
      const n = extra[0];
      if (n === undefined || !isNumber(n)) return fail('-R needs a chain and a rule number: -R CHAIN N RULE');
      return done({ op: 'replace', chain: chain as string, index: Number(n), spec });
    }
    case 'N':
      return noSpec('-N') ?? done({ op: 'new-chain', chain: chain as string });
    case 'X':
      return noSpec('-X') ?? done({ op: 'delete-chain', chain });
    case 'F':
      return noSpec('-F') ?? done({ op: 'flush', chain });
    case 'Z':
      return noSpec('-Z') ?? done({ op: 'zero', chain });
    case 'E':
      return noSpec('-E') ?? done({ op: 'rename', chain: chain as string, newName: extra[0] as string });
    case 'P':
      return noSpec('-P') ?? done({ op: 'policy', chain: chain as string, target: extra[0] as string });
    case 'L':
    case 'S':
      return done({ op: 'list', flag: `-${letter}` });
  }
}
