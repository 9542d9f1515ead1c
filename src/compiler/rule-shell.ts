// Which shell runs a rules directory. Rule files are sourced into one shell, in order, so they share
// variables and functions: a directory runs in one shell. Its first line (`#!/bin/bash`,
// `#!/usr/bin/env bash`, `#!/bin/sh`, `#!/bin/zsh`) says which shell a file was written for:
// - a directory with a zsh file, or with no `#!` line at all, runs in zsh (as nfgit always did);
// - otherwise, a directory with a bash file runs in bash; its sh files are sourced in bash's POSIX mode;
// - a directory of sh files (and files without `#!`) runs in bash's POSIX mode;
// - zsh and bash files in one directory cannot share one shell: an error naming both.
// Pure.

/** The shell a rule file names on its first line. */
export type NamedShell = 'zsh' | 'bash' | 'sh';

/** What a first line says: a shell, no `#!` line, or an interpreter nfgit does not run. */
export type Shebang = { readonly shell: NamedShell } | { readonly shell: undefined } | { readonly other: string };

/** The shells nfgit knows by the interpreter's name (`/bin/dash` is sh, as is `/bin/ash`). */
const SHELLS: Readonly<Record<string, NamedShell>> = { zsh: 'zsh', bash: 'bash', sh: 'sh', dash: 'sh', ash: 'sh' };

/** Reads the interpreter of a `#!` line: the program, or for `/usr/bin/env [-S] NAME`, NAME. */
export function shebang(firstLine: string): Shebang {
  if (!firstLine.startsWith('#!')) return { shell: undefined };
  const words = firstLine
    .slice(2)
    .trim()
    .split(/\s+/)
    .filter((w) => w !== '');
  let program = words[0] ?? '';
  if (program.endsWith('/env') || program === 'env') {
    const rest = words.slice(1).filter((w) => !w.startsWith('-'));
    program = rest[0] ?? '';
  }
  const name = program.slice(program.lastIndexOf('/') + 1);
  const shell = SHELLS[name];
  return shell === undefined ? { other: program === '' ? firstLine.trim() : program } : { shell };
}

/** How the directory runs: the shell, and per file whether it is sourced as bash or as POSIX sh. */
export type ShellChoice =
  | { readonly ok: true; readonly shell: 'zsh' }
  | { readonly ok: true; readonly shell: 'bash'; readonly modes: readonly ('bash' | 'sh')[] }
  | { readonly ok: false; readonly file: string; readonly message: string };

/** Chooses the directory's shell from its files' first lines (in order; `name` is for messages). */
export function chooseShell(files: ReadonlyArray<{ readonly name: string; readonly firstLine: string }>): ShellChoice {
  const named = files.map((f) => ({ name: f.name, said: shebang(f.firstLine) }));
  for (const f of named) {
    if ('other' in f.said) {
      return {
        ok: false,
        file: f.name,
        message: `this rule file is for ${f.said.other} (its first line): nfgit sources rule files into zsh, bash or sh; write it for one of them, or keep it out of the rules (.nfgitignore)`,
      };
    }
  }
  const first = (shell: NamedShell): string | undefined => named.find((f) => 'shell' in f.said && f.said.shell === shell)?.name;
  const zsh = first('zsh');
  const bash = first('bash');
  if (zsh !== undefined && bash !== undefined) {
    return {
      ok: false,
      file: bash,
      message: `this rule file is for bash and ${zsh} is for zsh: rule files are sourced into one shell, in order, and share variables and functions, so a directory runs in one shell; give them all the same first line (#!/bin/bash or #!/bin/zsh)`,
    };
  }
  if (zsh !== undefined || (bash === undefined && first('sh') === undefined)) return { ok: true, shell: 'zsh' };
  const fallback: 'bash' | 'sh' = bash === undefined ? 'sh' : 'bash';
  return {
    ok: true,
    shell: 'bash',
    modes: named.map((f) =>
      'shell' in f.said && f.said.shell === 'sh' ? 'sh' : 'shell' in f.said && f.said.shell === 'bash' ? 'bash' : fallback,
    ),
  };
}
