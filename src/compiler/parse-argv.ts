/**
 * Parses one `iptables`/`ip6tables` argument vector the way the real tools' getopt loop does
 * (iptables 1.8 xshared.c): commands, `-t` anywhere, clustered short options, `--long=value`,
 * and everything else kept verbatim as the rule specification for the kernel to validate.
 */

export type Family = 'ipv4' | 'ipv6';

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
  append: 'A', delete: 'D', check: 'C', insert: 'I', replace: 'R', list: 'L', 'list-rules': 'S',
  flush: 'F', zero: 'Z', 'new-chain': 'N', 'delete-chain': 'X', 'rename-chain': 'E', policy: 'P',
};
const LONG_NAME: Readonly<Record<CommandLetter, string>> = {
  A: 'append', D: 'delete', C: 'check', I: 'insert', R: 'replace', L: 'list', S: 'list-rules',
  F: 'flush', Z: 'zero', N: 'new-chain', X: 'delete-chain', E: 'rename-chain', P: 'policy',
};
/** Commands whose chain argument is optional (`-F`, `-X` … alone address every chain). */
const OPTIONAL_CHAIN = new Set<CommandLetter>(['L', 'S', 'F', 'Z', 'X']);

/** Core rule options that take one argument, by short letter; long spellings map onto them. */
const SPEC_WITH_ARG = new Set(['p', 's', 'd', 'i', 'o', 'j', 'g', 'm']);
const LONG_SPEC: Readonly<Record<string, string>> = {
  protocol: 'p', source: 's', src: 's', destination: 'd', dst: 'd', 'in-interface': 'i',
  'out-interface': 'o', jump: 'j', goto: 'g', match: 'm', fragment: 'f', fragments: 'f', 'set-counters': 'c',
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

/** Parses the arguments of one call of `iptables` (family ipv4) or `ip6tables` (ipv6). */
export function parseArgv(family: Family, argv: readonly string[]): ParseResult {
  const tool = family === 'ipv4' ? 'iptables' : 'ip6tables';
  const spec: string[] = [];
  let table: string | undefined;
  let cmd: { letter: CommandLetter; chain: string | undefined; extra: string[] } | undefined;
  let i = 0;
  const fail = (message: string): ParseResult => ({ ok: false, message });

  const setCommand = (letter: CommandLetter, attached: string | undefined): string | undefined => {
    if (cmd !== undefined) return `only one command can be given, but both -${cmd.letter} and -${letter} are here`;
    let chain = attached;
    if (chain === undefined) {
      if (OPTIONAL_CHAIN.has(letter)) {
        if (isPositional(argv[i + 1])) chain = argv[++i];
      } else {
        chain = argv[++i];
        if (chain === undefined) return `option --${LONG_NAME[letter]} (-${letter}) needs a chain name`;
      }
    }
    const extra: string[] = [];
    // iptables takes the rule number (-I, -D, -R, -L, -Z), the new name (-E) or the policy (-P) positionally.
    if (letter === 'E' || letter === 'P') {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('-')) {
        return letter === 'E'
          ? '-E needs the old and the new chain name: -E OLD NEW'
          : '-P needs a chain and a policy: -P CHAIN ACCEPT|DROP';
      }
      extra.push(next);
      i++;
    } else if (letter === 'I' || letter === 'D' || letter === 'R' || letter === 'L' || letter === 'Z') {
      if (isPositional(argv[i + 1])) extra.push(argv[++i] as string);
    }
    cmd = { letter, chain, extra };
    return undefined;
  };

  const setTable = (name: string | undefined): string | undefined => {
    if (name === undefined) return 'option -t needs a table name';
    if (table !== undefined) return 'the table is given twice (-t); give it once';
    table = name;
    return undefined;
  };

  const familyFlag = (flag: '4' | '6'): string | undefined => {
    if ((flag === '6' && family === 'ipv4') || (flag === '4' && family === 'ipv6')) {
      return `-${flag} cannot be used with ${tool}: this is the ${family === 'ipv4' ? 'IPv4' : 'IPv6'} tool`;
    }
    return undefined;
  };

  for (; i < argv.length; i++) {
    const tok = argv[i] as string;
    if (tok.startsWith('--') && tok.length > 2) {
      const eq = tok.indexOf('=');
      const name = eq >= 0 ? tok.slice(2, eq) : tok.slice(2);
      const inline = eq >= 0 ? tok.slice(eq + 1) : undefined;
      const letter = LONG_COMMANDS[name];
      let err: string | undefined;
      if (letter !== undefined) err = setCommand(letter, inline);
      else if (name === 'table') err = setTable(inline ?? argv[++i]);
      else if (name === 'wait') {
        if (inline === undefined && isWaitValue(argv[i + 1])) i++;
      } else if (name === 'wait-interval' || name === 'modprobe') {
        if (inline === undefined) i++;
      } else if (name === 'ipv4') err = familyFlag('4');
      else if (name === 'ipv6') err = familyFlag('6');
      else if (IGNORED_LONG_FLAGS.has(name)) {
        // no effect on the ruleset
      } else if (name === 'help' || name === 'version') {
        err = `--${name} cannot be used in a rule file`;
      } else if (LONG_SPEC[name] !== undefined) {
        const short = LONG_SPEC[name] as string;
        spec.push(`-${short}`);
        if (short === 'c') {
          if (inline !== undefined) spec.push(inline, argv[++i] ?? '');
          else spec.push(argv[++i] ?? '', argv[++i] ?? '');
        } else if (short !== 'f') {
          const v = inline ?? argv[++i];
          if (v === undefined) return fail(`option --${name} needs a value`);
          spec.push(v);
        }
      } else if (FREE_TEXT_OPTIONS.has(name) && inline === undefined && i + 1 < argv.length) {
        spec.push(tok, argv[++i] as string);
      } else {
        spec.push(tok);
      }
      if (err !== undefined) return fail(err);
      continue;
    }
    if (tok.startsWith('-') && tok.length > 1 && tok !== '--') {
      // A cluster of short options, as getopt reads it: `-tnat`, `-vA INPUT`, `-ptcp`.
      for (let j = 1; j < tok.length; j++) {
        const c = tok[j] as string;
        const rest = tok.length > j + 1 ? tok.slice(j + 1) : undefined;
        let err: string | undefined;
        if ('ADCIRLSFZNXEP'.includes(c)) {
          err = setCommand(c as CommandLetter, rest);
          j = tok.length;
        } else if (c === 't') {
          err = setTable(rest ?? argv[++i]);
          j = tok.length;
        } else if (c === 'w' || c === 'W') {
          if (rest === undefined && isWaitValue(argv[i + 1])) i++;
          j = tok.length;
        } else if (c === '4' || c === '6') {
          err = familyFlag(c);
        } else if (c === 'v' || c === 'n' || c === 'x') {
          // no effect on the ruleset
        } else if (c === 'M') {
          if (rest === undefined) i++;
          j = tok.length;
        } else if (c === 'h' || c === 'V') {
          err = `-${c} cannot be used in a rule file`;
        } else if (SPEC_WITH_ARG.has(c)) {
          const v = rest ?? argv[++i];
          if (v === undefined) return fail(`option -${c} needs a value`);
          spec.push(`-${c}`, v);
          j = tok.length;
        } else if (c === 'c') {
          spec.push('-c', rest ?? argv[++i] ?? '', argv[++i] ?? '');
          j = tok.length;
        } else if (c === 'f') {
          spec.push('-f');
        } else {
          // Not a core option: an extension's, left for the kernel to validate.
          spec.push(j === 1 ? tok : `-${tok.slice(j)}`);
          j = tok.length;
        }
        if (err !== undefined) return fail(err);
      }
      continue;
    }
    spec.push(tok);
  }

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
