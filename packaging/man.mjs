// Generates nfgit's manual pages and shell completion from one source, so they cannot drift from
// `--help`:  node packaging/man.mjs OUT_DIR   (run by build-deb.sh)
//
//   OUT_DIR/nfgit.8        every command, argument and option, as commander's --help shows them
//   OUT_DIR/nfgit.yaml.5   the configuration keys: the README's "Configuration" table
//   OUT_DIR/nfgit.bash     bash completion (/usr/share/bash-completion/completions/nfgit)
//   OUT_DIR/_nfgit         zsh completion (/usr/share/zsh/vendor-completions/_nfgit)
//
// The program is the one src/cli/main.ts builds: main.ts is bundled (esbuild, as the package's
// bundle) behind a module that replaces commander's parseAsync with one that hands the finished
// program over instead of running a command. So a command added to main.ts is documented without
// any change here, and the descriptions and defaults are the ones `nfgit CMD --help` prints.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { bundleDefines } from './bundle-options.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The commander program of src/cli/main.ts, built but not run. */
export async function loadProgram() {
  const dir = mkdtempSync(path.join(tmpdir(), 'nfgit-man-'));
  try {
    const out = path.join(dir, 'program.mjs');
    await build({
      stdin: {
        contents: [
          "import { Command } from 'commander';",
          // main.ts ends with `process.exitCode = await run(process.argv)` then process.exit(): run builds
          // the program and calls parseAsync, which here only records the program; the exit is skipped.
          'Command.prototype.parseAsync = async function () { globalThis.__nfgitProgram = this; return this; };',
          'const __nfgitExit = process.exit;',
          'process.exit = () => {};',
          "await import('./src/cli/main.ts');",
          'process.exit = __nfgitExit;',
          'process.exitCode = 0;',
          'export const program = globalThis.__nfgitProgram;',
        ].join('\n'),
        resolveDir: root,
        sourcefile: 'man-entry.mjs',
        loader: 'js',
      },
      outfile: out,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node18.19',
      banner: {
        js: "import { createRequire as __nfgitCreateRequire } from 'node:module'; const require = __nfgitCreateRequire(import.meta.url);",
      },
      define: bundleDefines(root),
      logLevel: 'warning',
    });
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => [s, process.listeners(s)]);
    const { program } = await import(pathToFileURL(out).href);
    // main.ts's signal handlers are for a running command, not for this script.
    for (const [s, before] of signals) for (const l of process.listeners(s)) if (!before.includes(l)) process.off(s, l);
    if (program === undefined) throw new Error('src/cli/main.ts did not build a commander program');
    return program;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every command below program (depth first), with its words (`hooks install`). */
export function walk(program) {
  const all = [];
  const visit = (cmd, words) => {
    const help = cmd.createHelp();
    for (const sub of help.visibleCommands(cmd)) {
      if (sub.name() === 'help') continue;
      const w = [...words, sub.name()];
      all.push({ cmd: sub, words: w });
      visit(sub, w);
    }
  };
  visit(program, []);
  return all;
}

/** The options --help lists for a command (its help option included), with --help's descriptions. */
export function optionsOf(cmd) {
  const help = cmd.createHelp();
  return help
    .visibleOptions(cmd)
    .map((o) => ({
      flags: o.flags,
      long: o.long,
      short: o.short,
      takesValue: o.required || o.optional,
      description: help.optionDescription(o),
    }));
}

// ---- troff ---------------------------------------------------------------------------------------

/** Text for a troff line: backslashes, hyphens as minus signs, and no request at its start. */
function roff(text) {
  const t = text.replace(/\\/g, '\\e').replace(/-/g, '\\-');
  return /^[.']/.test(t) ? `\\&${t}` : t;
}

/** Markdown inline text (the README table) to troff: `code` bold, [text](link) as text, **x** bold. */
function markdownRoff(text) {
  let t = text.replace(/\[([^\]]+)\]\([^)]+\)/g, '$1').replace(/\\\|/g, '|');
  const parts = t.split(/(`[^`]+`|\*\*[^*]+\*\*)/);
  return roff(
    parts
      .map((p) => {
        if (p.startsWith('`') && p.endsWith('`')) return `\u0001B${p.slice(1, -1)}\u0001R`;
        if (p.startsWith('**') && p.endsWith('**')) return `\u0001B${p.slice(2, -2)}\u0001R`;
        return p;
      })
      .join(''),
  ).replace(/\u0001([BR])/g, '\\f$1');
}

function header(name, section, title) {
  const version = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version;
  return [`.TH ${name.toUpperCase()} ${section} "" "nfgit ${version}" "${title}"`, '.nh', '.ad l'];
}

/** nfgit(8). */
export function manPage(program) {
  const lines = [...header('nfgit', 8, 'System Administration')];
  lines.push('.SH NAME', `nfgit \\- ${roff(program.description())}`);
  lines.push('.SH SYNOPSIS');
  const commands = walk(program);
  for (const { cmd, words } of commands) {
    if (
      cmd
        .createHelp()
        .visibleCommands(cmd)
        .some((c) => c.name() !== 'help')
    )
      continue;
    lines.push(`.B nfgit ${roff(words.join(' '))}`, `${roff(cmd.usage())}`, '.br');
  }
  lines.push('.B nfgit', '\\-\\-version | \\-\\-help');
  lines.push(
    '.SH DESCRIPTION',
    'nfgit follows a git repository of firewall rule files (zsh scripts calling iptables and ip6tables), checks that each new commit is signed by a trusted key, compiles the rules in a jail, validates both families in a throwaway network namespace, applies IPv4 and IPv6 as one transaction with a journal, and reports back into git with a signed status tag per host.',
    '.PP',
    'The agent is configured by',
    '.BR nfgit.yaml (5)',
    'and runs as',
    '.BR nfgit.service .',
    'The full documentation, with the security model and the rule-file language, is',
    '.IR /usr/share/doc/nfgit/README.md.gz .',
    '.SH GLOBAL OPTIONS',
  );
  for (const o of optionsOf(program)) lines.push('.TP', `.B ${roff(o.flags)}`, roff(o.description));
  lines.push('.SH COMMANDS');
  for (const { cmd, words } of commands) {
    lines.push(`.SS "nfgit ${roff(words.join(' '))} ${roff(cmd.usage())}"`, roff(cmd.description()));
    const help = cmd.createHelp();
    for (const a of help.visibleArguments(cmd)) lines.push('.TP', `.I ${roff(help.argumentTerm(a))}`, roff(help.argumentDescription(a)));
    for (const o of optionsOf(cmd)) lines.push('.TP', `.B ${roff(o.flags)}`, roff(o.description));
  }
  lines.push(
    '.SH EXIT STATUS',
    '.TP',
    '.B 0',
    'Success.',
    '.TP',
    '.B 1',
    'The rules are wrong, a commit was refused, or (diff, status) something differs.',
    '.TP',
    '.B 2',
    'A usage or configuration error: fix the command line or the configuration.',
    '.TP',
    '.B 3',
    'A temporary or environment failure (git server, lock, sandbox, disk): retry later or fix the host.',
    '.TP',
    '.B 70',
    'A bug in nfgit.',
    '.SH FILES',
    '.TP',
    '.I /etc/nfgit/config.yaml',
    'The agent configuration, see',
    '.BR nfgit.yaml (5).',
    '.TP',
    '.I /etc/nfgit/signing_key',
    "This host's status-tag signing key (nfgit keygen).",
    '.TP',
    '.I /var/lib/nfgit',
    'The state directory: journal, last good ruleset, locks, the agent state.',
    '.TP',
    '.I /run/nfgit/trigger',
    'Created by a post-receive hook to make the agent sync now.',
    '.SH SEE ALSO',
    '.BR nfgit.yaml (5),',
    '.BR iptables (8),',
    '.BR ip\\-netns (8),',
    '.BR systemd.exec (5)',
  );
  return lines.join('\n') + '\n';
}

/** The README's configuration table: [key, default, meaning] rows (markdown). */
export function configRows(readme) {
  const start = readme.indexOf('\n## Configuration');
  if (start < 0) throw new Error('README.md has no "## Configuration" section');
  const end = readme.indexOf('\n## ', start + 1);
  const rows = [];
  for (const line of readme.slice(start, end < 0 ? undefined : end).split('\n')) {
    const m = /^\| `([^`]+)` \| (.*?) \| (.*) \|$/.exec(line);
    if (m !== null) rows.push([m[1], m[2], m[3]]);
  }
  if (rows.length === 0) throw new Error("README.md's Configuration section has no table");
  return rows;
}

/** nfgit.yaml(5). */
export function configPage(readme) {
  const lines = [...header('nfgit.yaml', 5, 'File Formats')];
  lines.push(
    '.SH NAME',
    'nfgit.yaml \\- configuration of the nfgit agent',
    '.SH SYNOPSIS',
    '.I /etc/nfgit/config.yaml',
    '.SH DESCRIPTION',
    'One YAML file (JSON is valid YAML) read by',
    '.B nfgit sync',
    'and',
    '.B nfgit run',
    '(\\-\\-config FILE), validated at start: unknown keys are errors, and every problem is reported at once as FILE: path.to.key: message. Durations have a unit (500ms, 30s, 5m, 1m30s). Every key but',
    '.B repository.url',
    'has a default. Keys are written nested: repository.url is',
    '.RS',
    '.nf',
    'repository:',
    '  url: https://git.example.net/fw.git',
    '.fi',
    '.RE',
    '.SH KEYS',
  );
  for (const [key, def, meaning] of configRows(readme)) {
    lines.push('.TP', `.B ${roff(key)}`, `Default: ${markdownRoff(def)}.`, '.br', markdownRoff(meaning));
  }
  lines.push('.SH SEE ALSO', '.BR nfgit (8)');
  return lines.join('\n') + '\n';
}

// ---- completion ----------------------------------------------------------------------------------

/** Whether an option's value is a file or directory (completed with file names). */
const fileValued = (flags) => /<(file|dir|url\|path)>/i.test(flags);

/** bash completion: command words, then the options of the command typed so far. */
export function bashCompletion(program) {
  const commands = walk(program);
  const top = commands.filter((c) => c.words.length === 1).map((c) => c.words[0]);
  const cases = [];
  for (const { cmd, words } of commands) {
    const subs = cmd
      .createHelp()
      .visibleCommands(cmd)
      .filter((c) => c.name() !== 'help')
      .map((c) => c.name());
    const opts = optionsOf(cmd).flatMap((o) => [o.long, o.short].filter(Boolean));
    const files = optionsOf(cmd)
      .filter((o) => fileValued(o.flags))
      .map((o) => o.long);
    cases.push(`        '${words.join(' ')}') words_='${[...subs, ...opts].join(' ')}'; files_='${files.join(' ')}' ;;`);
  }
  const known = `|${commands.map((c) => c.words.join(' ')).join('|')}|`;
  return `# bash completion for nfgit, generated from its command definitions by packaging/man.mjs.
_nfgit() {
    local cur prev words_ files_ path_ i
    cur=\${COMP_WORDS[COMP_CWORD]}
    prev=\${COMP_WORDS[COMP_CWORD-1]}
    # The command typed so far: the words before the cursor that extend a known command.
    path_=
    for ((i = 1; i < COMP_CWORD; i++)); do
        case '${known}' in
            *"|\${path_:+$path_ }\${COMP_WORDS[i]}|"*) path_=\${path_:+$path_ }\${COMP_WORDS[i]} ;;
        esac
    done
    words_='${top.join(' ')} --help --version'
    files_=
    case $path_ in
${cases.join('\n')}
    esac
    case " $files_ " in
        *" $prev "*)
            COMPREPLY=($(compgen -f -- "$cur"))
            return
            ;;
    esac
    COMPREPLY=($(compgen -W "$words_" -- "$cur"))
}
complete -F _nfgit nfgit
`;
}

/** A zsh single-quoted string. */
const zq = (s) => `'${s.replace(/'/g, "'\\''")}'`;

/** zsh completion (_arguments per command). */
export function zshCompletion(program) {
  const commands = walk(program);
  const spec = (o) => {
    const desc = o.description.replace(/[[\]:\\]/g, (c) => `\\${c}`).replace(/\s+/g, ' ');
    const names = [o.short, o.long].filter(Boolean);
    const head = names.length > 1 ? `(${names.join(' ')})'{${names.join(',')}}'` : names[0];
    const value = o.takesValue
      ? `:${o.flags.replace(/^.*?[<[]([^>\]]+)[>\]].*$/, '$1').replace(/[:]/g, '')}:${fileValued(o.flags) ? '_files' : ' '}`
      : '';
    return `'${head}[${desc.replace(/'/g, "'\\''")}]${value}'`;
  };
  const fns = [];
  const dispatch = (cmd, words) => {
    const subs = cmd
      .createHelp()
      .visibleCommands(cmd)
      .filter((c) => c.name() !== 'help');
    const fn = `_nfgit_${['cmd', ...words].join('_').replace(/[^A-Za-z0-9_]/g, '_')}`;
    if (subs.length > 0) {
      fns.push(`${fn}() {
  local -a cmds
  cmds=(
${subs.map((s) => `    ${zq(`${s.name()}:${s.description().replace(/\s+/g, ' ')}`.replace(/^([^:]*):/, (m, n) => `${n}:`))}`).join('\n')}
  )
  _arguments -C ${optionsOf(cmd).map(spec).join(' ')} '1: :->cmd' '*:: :->args'
  case $state in
    cmd) _describe -t commands 'nfgit command' cmds ;;
    args)
      case $words[1] in
${subs.map((s) => `        ${s.name()}) ${`_nfgit_${['cmd', ...words, s.name()].join('_').replace(/[^A-Za-z0-9_]/g, '_')}`} ;;`).join('\n')}
      esac ;;
  esac
}`);
      for (const s of subs) dispatch(s, [...words, s.name()]);
    } else {
      const args = cmd.createHelp().visibleArguments(cmd);
      const rest = args.length > 0 ? ` '*:${args[0].name()}:_files'` : '';
      fns.push(`${fn}() {
  _arguments ${optionsOf(cmd).map(spec).join(' ')}${rest}
}`);
    }
  };
  dispatch(program, []);
  return `#compdef nfgit
# zsh completion for nfgit, generated from its command definitions by packaging/man.mjs.
${fns.join('\n\n')}

_nfgit_cmd "$@"
`;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = process.argv[2];
  if (outDir === undefined) {
    process.stderr.write('usage: node packaging/man.mjs OUT_DIR\n');
    process.exit(2);
  }
  const program = await loadProgram();
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'nfgit.8'), manPage(program));
  writeFileSync(path.join(outDir, 'nfgit.yaml.5'), configPage(readme));
  writeFileSync(path.join(outDir, 'nfgit.bash'), bashCompletion(program));
  writeFileSync(path.join(outDir, '_nfgit'), zshCompletion(program));
}
