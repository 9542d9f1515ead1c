import { type Command, InvalidArgumentError } from 'commander';
import type { CompileOptions } from '../compiler/compile.js';
import { parsePreserve, preserveCompileOptions } from '../netfilter/preserve.js';

// The flags every command that compiles rule files takes (compile, check, apply, diff).

/** The compile flags as commander parses them. */
export interface CompileFlags {
  rules: string;
  host?: string;
  var: Record<string, string>;
  timeout: number;
  json?: boolean;
  /** `--preserve PATTERN`, repeatable: chains of other software (see netfilter/preserve.ts). */
  preserve: string[];
  /** `--arg VALUE`, repeatable: the rule files' positional arguments. */
  arg: string[];
}

/** Collects a repeatable option into a list. */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** `--var NAME=VALUE`, repeatable, into a record. */
export const parseVar = (value: string, previous: Record<string, string>): Record<string, string> => {
  const eq = value.indexOf('=');
  if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(value.slice(0, eq))) {
    throw new InvalidArgumentError('expected NAME=VALUE with a shell variable name');
  }
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
};

/** A positive number of seconds. */
export const parseSeconds = (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of seconds');
  return n;
};

/** The compile options the flags ask for. */
export function compileOptions(flags: CompileFlags): CompileOptions {
  const spec = parsePreserve(flags.preserve, '--preserve');
  return {
    ...preserveCompileOptions(spec),
    rulesDir: flags.rules,
    vars: flags.var,
    args: flags.arg,
    timeoutMs: flags.timeout * 1000,
    ...(flags.host === undefined ? {} : { host: flags.host }),
  };
}

/** Adds --rules, --host, --var, --timeout, --preserve and --json to a command. */
export function withCompileFlags(cmd: Command, rulesRequired = true): Command {
  return (
    rulesRequired ? cmd.requiredOption('--rules <dir>', 'directory of rule files') : cmd.option('--rules <dir>', 'directory of rule files')
  )
    .option('--host <name>', 'value of NFGIT_HOST for the rule files (default: this host name)')
    .option('--var <name=value>', 'export a variable to the rule files (repeatable)', parseVar, {})
    .option(
      '--arg <value>',
      'a positional argument of every rule file, $1, $2… in order (repeatable; for scripts called as "firewall.sh start")',
      collect,
      [],
    )
    .option('--timeout <seconds>', 'wall-clock limit for running the rule files', parseSeconds, 60)
    .option(
      '--preserve <pattern>',
      'chains of other software to leave alone: DOCKER*, nat:DOCKER, or a preset @docker, @fail2ban, @kube-proxy, @crowdsec (repeatable)',
      collect,
      [],
    )
    .option('--json', 'print the result as JSON on stdout');
}
