// Which variables the rule files call as commands with options (`$IPT -A …`, `${cmd} -t nat …`,
// `for ipt in iptables ip6tables; do $ipt -P …`), so that fast mode can record those calls with an
// alias named after the token: zsh expands an alias named `$IPT` wherever that token is a command,
// before any expansion (NOTES). A call through a variable otherwise costs a function call and its
// body, about 1.4x what running the files with no-op functions costs (README, Benchmarks).
// The alias records the variable's value with the call; the compiler treats the call as the tool's
// when the value names iptables, ip6tables or ipset, and runs the files again in exact mode when it
// names anything else (a function of the rule files, `sudo`, nothing). So a name found here that is
// not a tool at run time costs a second run, never a wrong record. Pure.

/**
 * A variable in command position (start of a line, or after `;`, `&`, `|`, `(`, `)` of a case
 * pattern, `{`, `!`, `do`, `then`, `else`, `elif`) followed by an option word: `$NAME -…` or
 * `${NAME} -…`. A name found where it is not a command costs nothing: zsh expands such an alias only
 * where its token is a command.
 */
const CALL = /(?:^|[;&|(){!]|\b(?:do|then|else|elif))[ \t]*\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))[ \t]+-/gm;

/** At most this many names (each is two aliases); a file with more runs them through the functions. */
export const MAX_VARIABLE_COMMANDS = 64;

/** The names of the variables the texts call as commands with options, sorted, at most MAX_VARIABLE_COMMANDS. */
export function variableCommands(texts: readonly string[]): string[] {
  const names = new Set<string>();
  for (const text of texts) {
    for (const m of text.matchAll(CALL)) names.add((m[1] ?? m[2]) as string);
  }
  return [...names].sort().slice(0, MAX_VARIABLE_COMMANDS);
}

/** The tools a variable's value may name for its call to be recorded as that tool's (prelude.zsh, kinds A4, A6, AS). */
const TOOL_KINDS: ReadonlyMap<string, string> = (() => {
  const kinds = new Map<string, string>();
  const dirs = ['', '/sbin/', '/usr/sbin/', '/bin/', '/usr/bin/', '/usr/local/sbin/', '/usr/local/bin/'];
  for (const dir of dirs) {
    for (const suffix of ['', '-legacy', '-nft']) {
      kinds.set(`${dir}iptables${suffix}`, 'A4');
      kinds.set(`${dir}ip6tables${suffix}`, 'A6');
    }
    kinds.set(`${dir}ipset`, 'AS');
  }
  return kinds;
})();

/** The alias record kind of a call through a variable whose value is `value`, or undefined when it is not a tool. */
export function variableToolKind(value: string): string | undefined {
  return TOOL_KINDS.get(value);
}
