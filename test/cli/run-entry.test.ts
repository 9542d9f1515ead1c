import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../helpers/paths.js';
import { parseRunArgs } from '../../src/cli/run-args.js';

// Issue 15: the idle `nfgit run` held 81-84 MiB, most of it modules it loaded once and never needed
// between passes: zod and yaml (the configuration), isomorphic-git, node-cron (and ICU through its
// Intl.DateTimeFormat), commander, the compiler and the apply. The daemon's process loads what
// run-command.ts imports, statically; everything else runs in child processes.

const DIST = path.join(ROOT, 'dist/src');

/** The modules a built module loads when it is imported: its static imports, followed (dynamic `import()` is not). */
function staticGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\s+(?:[^'";]*?\sfrom\s*)?'([^']+)'/gm)) {
      const spec = m[1] ?? '';
      if (spec.startsWith('.')) visit(path.resolve(path.dirname(file), spec));
      else if (!spec.startsWith('node:')) packages.add(spec);
    }
  };
  visit(entry);
  return { files, packages };
}

test('nfgit run: the daemon process loads no zod, yaml, isomorphic-git, node-cron, commander or openpgp, nor the compiler, the apply or the pass', (t) => {
  // main.ts imports nothing statically: `run` goes to run-command.js, every other command to program.js.
  t.deepEqual([...staticGraph(path.join(DIST, 'cli/main.js')).files], [path.join(DIST, 'cli/main.js')]);
  const { files, packages } = staticGraph(path.join(DIST, 'cli/run-command.js'));
  // isomorphic-git's Node HTTP client is one small file apart from isomorphic-git (the idle poll's ls-refs goes through it).
  t.deepEqual([...packages].sort(), ['https-proxy-agent', 'isomorphic-git/http/node'], 'the packages the daemon loads');
  const rel = [...files].map((f) => path.relative(DIST, f));
  t.deepEqual(
    rel.filter((f) => /^(compiler|apply|netfilter|hooks)\//.test(f)),
    [],
    'modules of the compiler, the apply, netfilter or hooks',
  );
  for (const heavy of [
    'agent/sync.js',
    'agent/config.js',
    'agent/pass-report.js',
    'git/follower.js',
    'cli/program.js',
    'cli/agent-commands.js',
  ])
    t.false(rel.includes(heavy), `${heavy} is loaded`);
  // The walk itself finds the daemon's modules (a walk that found nothing would pass the checks above).
  for (const needed of ['agent/daemon.js', 'agent/idle-poll.js', 'git/branch-look.js', 'agent/notify.js'])
    t.true(rel.includes(needed), needed);
  t.true(rel.every((f) => existsSync(path.join(DIST, f))));
});

test('nfgit run: its flags are read without commander; anything else is left to the command line', (t) => {
  t.deepEqual(parseRunArgs(['--config', 'a.yaml']), { config: 'a.yaml', lockTimeout: 600, preserve: [] });
  t.deepEqual(
    parseRunArgs([
      '--config=a.yaml',
      '--log-format',
      'json',
      '--log-level=debug',
      '--retry',
      '--allow-rewrite',
      '--lock-timeout',
      '5',
      '--preserve',
      'DOCKER*',
      '--preserve=@fail2ban',
    ]),
    {
      config: 'a.yaml',
      logFormat: 'json',
      logLevel: 'debug',
      retry: true,
      allowRewrite: true,
      lockTimeout: 5,
      preserve: ['DOCKER*', '@fail2ban'],
    },
  );
  for (const args of [
    [],
    ['--help'],
    ['--config'],
    ['--config', 'a.yaml', '--log-format', 'xml'],
    ['--config', 'a.yaml', '--log-level', 'loud'],
    ['--config', 'a.yaml', '--lock-timeout', '-1'],
    ['--config', 'a.yaml', '--lock-timeout', 'soon'],
    ['--config', 'a.yaml', '--no-reconcile'],
    ['--config', 'a.yaml', '--retry=yes'],
    ['--config', 'a.yaml', 'extra'],
  ])
    t.is(parseRunArgs(args), undefined, args.join(' '));
});

test('nfgit run: a configuration that cannot be used fails it at start as before: the error logged, exit 2', async (t) => {
  const { execa } = await import('execa');
  const missing = path.join(ROOT, 'test/agent/fixtures/no-such-config.yaml');
  const r = await execa(process.execPath, [path.join(DIST, 'cli/main.js'), 'run', '--config', missing, '--log-format', 'json'], {
    reject: false,
  });
  t.is(r.exitCode, 2, r.stderr);
  const line = JSON.parse(r.stdout.trim()) as { event: string; message: string; code: string };
  t.is(line.event, 'failed');
  t.is(line.code, 'UsageError');
  t.is(line.message, `nfgit: cannot read the configuration file ${missing}: it does not exist`);
});
