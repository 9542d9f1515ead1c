/**
 * Parses one `ipset` argument vector the way ipset 7 does (ipset.8, lib/ipset.c): the command by its
 * name or alias (`create`/`n`/`-N`, `add`/`a`/`-A`…), the global flags (`-exist`/`-!`, `-quiet`/`-q`,
 * output flags) anywhere, then the command's own words kept verbatim for the model.
 */

/** The ipset commands nfgit knows. */
export type IpsetOp =
  | 'create'
  | 'add'
  | 'del'
  | 'test'
  | 'destroy'
  | 'flush'
  | 'rename'
  | 'swap'
  | 'list'
  | 'save'
  | 'restore'
  | 'version'
  | 'help';

/** A parsed ipset call. */
export interface IpsetCall {
  readonly op: IpsetOp;
  /** The words after the command (set names, type, element, options). */
  readonly args: readonly string[];
  /** `-exist`/`-!`: no error for an existing set or element (create, add) or a missing element (del). */
  readonly exist: boolean;
  /** `-quiet`/`-q`: suppress the messages. */
  readonly quiet: boolean;
}

const COMMANDS: Readonly<Record<string, IpsetOp>> = {
  create: 'create',
  n: 'create',
  '-N': 'create',
  '-c': 'create',
  add: 'add',
  a: 'add',
  '-A': 'add',
  del: 'del',
  d: 'del',
  '-D': 'del',
  test: 'test',
  t: 'test',
  '-T': 'test',
  destroy: 'destroy',
  x: 'destroy',
  '-X': 'destroy',
  flush: 'flush',
  f: 'flush',
  '-F': 'flush',
  rename: 'rename',
  e: 'rename',
  '-E': 'rename',
  swap: 'swap',
  w: 'swap',
  '-W': 'swap',
  list: 'list',
  l: 'list',
  '-L': 'list',
  save: 'save',
  s: 'save',
  '-S': 'save',
  restore: 'restore',
  r: 'restore',
  '-R': 'restore',
  version: 'version',
  '-V': 'version',
  '-v': 'version',
  help: 'help',
  '-h': 'help',
  '-H': 'help',
};

/** Flags that only change how ipset prints (list, save); accepted and ignored. */
const OUTPUT_FLAGS = new Set(['-r', '-resolve', '-s', '-sorted', '-n', '-name', '-t', '-terse']);

/** Result of parsing: a call, or what ipset would say. */
export type IpsetParseResult = { readonly ok: true; readonly call: IpsetCall } | { readonly ok: false; readonly message: string };

/** Parses the arguments of one `ipset` call. */
export function parseIpset(argv: readonly string[]): IpsetParseResult {
  let op: IpsetOp | undefined;
  let exist = false;
  let quiet = false;
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '-exist' || a === '-!' || a === '--exist') {
      exist = true;
      continue;
    }
    if (a === '-q' || a === '-quiet' || a === '--quiet') {
      quiet = true;
      continue;
    }
    if (OUTPUT_FLAGS.has(a)) continue;
    if (a === '-o' || a === '-output') {
      i++;
      continue;
    }
    if (a === '-f' || a === '-file')
      return {
        ok: false,
        message: 'the -file option writes the output of list or save to a file: in a rule file, redirect it instead (ipset save > FILE)',
      };
    if (op === undefined) {
      const c = COMMANDS[a];
      if (c === undefined)
        return {
          ok: false,
          message: `unknown command or option "${a}"; the commands are create, add, del, test, destroy, flush, rename and swap`,
        };
      op = c;
      continue;
    }
    args.push(a);
  }
  if (op === undefined) return { ok: false, message: 'a command is missing: ipset create, add, del, test, destroy, flush, rename or swap' };
  return { ok: true, call: { op, args, exist, quiet } };
}
