// Manual pages and shell completion (packaging/man.mjs, issue 13): generated from the program's own
// command definitions, they must name every command and option that `--help` shows. The oracle here
// is the built CLI's --help output, read as a user would, not the generator's walk of commander.

import test from 'ava';
import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CLI, ROOT } from '../helpers/paths.js';

interface Generated {
  man8: string;
  man5: string;
  bash: string;
  zsh: string;
  dir: string;
}

let gen: Generated | undefined;

test.before(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nfgit-t-man-'));
  const r = await execa('node', [path.join(ROOT, 'packaging/man.mjs'), dir], { reject: false, all: true });
  if (r.exitCode !== 0) throw new Error(`packaging/man.mjs failed: ${r.all}`);
  const read = (f: string): string => readFileSync(path.join(dir, f), 'utf8');
  gen = { man8: read('nfgit.8'), man5: read('nfgit.yaml.5'), bash: read('nfgit.bash'), zsh: read('_nfgit'), dir };
});

test.after.always(() => {
  if (gen !== undefined) rmSync(gen.dir, { recursive: true, force: true });
});

const get = (): Generated => {
  if (gen === undefined) throw new Error('not generated');
  return gen;
};

const help = async (words: string[]): Promise<string> => (await execa('node', [CLI, ...words, '--help'])).stdout;

/** The commands and the options that `nfgit … --help` lists, walking sub-commands. */
async function fromHelp(words: string[] = []): Promise<Array<{ words: string[]; options: string[] }>> {
  const text = await help(words);
  const section = (name: string): string[] => {
    const m = new RegExp(`^${name}:\\n((?:  .*\\n?)*)`, 'm').exec(text);
    return m?.[1]?.split('\n') ?? [];
  };
  const options = section('Options')
    .map((l) => /^ {2}(?:-\w, )?(--[\w-]+)/.exec(l)?.[1])
    .filter((o): o is string => o !== undefined);
  const subs = section('Commands')
    .map((l) => /^ {2}([a-z][\w-]*)/.exec(l)?.[1])
    .filter((c): c is string => c !== undefined && c !== 'help');
  const all = [{ words, options }];
  for (const s of subs) all.push(...(await fromHelp([...words, s])));
  return all;
}

/** troff's escapes undone, for searching: \- is -, \e is \, font changes dropped. */
const plain = (roff: string): string =>
  roff
    .replace(/\\-/g, '-')
    .replace(/\\e/g, '\\')
    .replace(/\\f[BIRP]/g, '')
    .replace(/\\&/g, '');

test('nfgit(8) and both completions name every command and every option that --help lists', async (t) => {
  const { man8, bash, zsh } = get();
  const page = plain(man8);
  const commands = await fromHelp();
  t.true(commands.length > 10, JSON.stringify(commands));
  for (const { words, options } of commands) {
    const name = words.join(' ');
    if (words.length > 0) {
      t.true(page.includes(`.SS "nfgit ${name} `), `nfgit(8) has no section for ${name}`);
      t.true(bash.includes(`'${name}')`), `bash completion lacks ${name}`);
      t.true(zsh.includes(`_nfgit_cmd_${words.join('_').replace(/-/g, '_')}()`), `zsh completion lacks ${name}`);
    }
    // The command's own section: from its .SS to the next.
    const start = words.length === 0 ? page.indexOf('.SH GLOBAL OPTIONS') : page.indexOf(`.SS "nfgit ${name} `);
    const end = page.indexOf('.S', start + 4);
    const own = page.slice(start, end < 0 ? undefined : end);
    const bashCase = new RegExp(`'${name}'\\) words_='([^']*)'`).exec(bash)?.[1] ?? '';
    for (const o of options) {
      t.true(own.includes(`.B ${o}`) || own.includes(`, ${o}`), `nfgit(8) lacks ${o} of ${name || 'nfgit'}`);
      if (words.length > 0) {
        t.true(bashCase.split(' ').includes(o), `bash completion lacks ${o} of ${name}`);
        t.true(zsh.includes(o), `zsh completion lacks ${o} of ${name}`);
      }
    }
  }
});

test("nfgit.yaml(5) has every key of the README's configuration table and of the shipped config.yaml", (t) => {
  const page = plain(get().man5);
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Configuration'), readme.indexOf('\n## ', readme.indexOf('\n## Configuration') + 1));
  const keys = [...section.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1] as string);
  t.true(keys.length > 20);
  for (const k of keys) t.true(page.includes(`.B ${k}\n`), k);
  // Top-level keys of the packaged configuration (each documented as itself or as a prefix).
  const shipped = readFileSync(path.join(ROOT, 'packaging/config.yaml'), 'utf8');
  for (const m of shipped.matchAll(/^([a-zA-Z]+):/gm)) {
    t.true(
      keys.some((k) => k === m[1] || k.startsWith(`${m[1]}.`)),
      `${m[1]} of packaging/config.yaml is not in the README table`,
    );
  }
});

test('man renders both pages without warnings', async (t) => {
  const { dir } = get();
  if ((await execa('sh', ['-c', 'command -v man'], { reject: false })).exitCode !== 0) {
    t.pass('man is not installed');
    return;
  }
  for (const f of ['nfgit.8', 'nfgit.yaml.5']) {
    const r = await execa('man', ['--warnings', '-E', 'UTF-8', '-l', path.join(dir, f)], {
      reject: false,
      env: { LC_ALL: 'C.UTF-8', MANWIDTH: '80', MAN_DISABLE_SECCOMP: '1' },
    });
    t.is(r.exitCode, 0, r.stderr);
    t.is(r.stderr, '', f);
    t.regex(r.stdout, /nfgit/);
  }
});

test('the bash completion loads and completes commands, sub-commands and options; zsh parses its file', async (t) => {
  const { dir } = get();
  const complete = (words: string[]): Promise<string> =>
    execa('bash', [
      '-c',
      `source ${path.join(dir, 'nfgit.bash')} && complete -p nfgit && COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}) && COMP_CWORD=${words.length - 1} && _nfgit && echo "\${COMPREPLY[*]}"`,
    ]).then((r) => r.stdout);
  t.regex(await complete(['nfgit', 'rest']), /^complete -F _nfgit nfgit\nrestore-last$/);
  t.regex(await complete(['nfgit', 'hooks', '']), /\ninstall --help -h$/);
  t.regex(await complete(['nfgit', 'sync', '--config', 'x', '--ret']), /\n--retry$/);
  if ((await execa('sh', ['-c', 'command -v zsh'], { reject: false })).exitCode === 0) {
    const z = await execa('zsh', ['-n', path.join(dir, '_nfgit')], { reject: false, all: true });
    t.is(z.exitCode, 0, z.all);
  }
});
