import test from 'ava';
import { execa } from 'execa';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CLI, ROOT } from '../helpers/paths.js';
import { withRulesDir } from '../helpers/rules-dir.js';

const nfgit = (args: string[], options: { cwd?: string } = {}) =>
  execa('node', [CLI, ...args], { reject: false, cwd: options.cwd ?? ROOT });

test('compile writes rules.v4, rules.v6 and plan.json', (t) =>
  withRulesDir(
    { '10-a': 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT\nip6tables -P INPUT DROP\nmain sysctl -w net.ipv4.ip_forward=1\n' },
    async (dir) => {
      const out = await mkdtemp(path.join(tmpdir(), 'nfgit-out-'));
      try {
        const r = await nfgit(['compile', '--rules', dir, '--out', out]);
        t.is(r.exitCode, 0, r.stderr);
        t.regex(r.stdout, /IPv4: 1 rule\(s\)/);
        t.true((await readFile(path.join(out, 'rules.v4'), 'utf8')).includes('-A INPUT -p tcp --dport 22 -j ACCEPT\n'));
        t.true((await readFile(path.join(out, 'rules.v6'), 'utf8')).includes(':INPUT DROP [0:0]\n'));
        const plan = JSON.parse(await readFile(path.join(out, 'plan.json'), 'utf8'));
        t.is(plan.families.ipv4.rules, 1);
        t.regex(plan.families.ipv4.digest, /^sha256:[0-9a-f]{64}$/);
        t.deepEqual(plan.hostCommands, [{ argv: ['sysctl', '-w', 'net.ipv4.ip_forward=1'], at: `${dir}/10-a:3`, calledFrom: [] }]);
        t.deepEqual(plan.families.ipv4.sourceMap, [[5, `${dir}/10-a:1`]]);
      } finally {
        await rm(out, { recursive: true, force: true });
      }
    },
  ));

test('check accepts the bundled example', async (t) => {
  const r = await nfgit(['check', '--rules', 'rules']);
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, /^rules: OK/);
});

test('check prints FILE:LINE: message for each bad rule, with the helper call chain, and exits 1', (t) =>
  withRulesDir(
    {
      '00-helpers': 'allow() {\n  iptables -A INPUT -p tcp --dport $1 -j ACCEPT\n}\n',
      '10-good': 'allow 22\n',
      '20-web': 'allow 80\niptables -A INPUT -p tcp --dporrt 443 -j ACCEPT\nallow 99999\n',
    },
    async (dir) => {
      const r = await nfgit(['check', '--rules', path.relative(ROOT, dir)]);
      t.is(r.exitCode, 1);
      const rel = path.relative(ROOT, dir);
      t.is(
        r.stderr,
        [
          `${rel}/20-web:2: iptables: unknown option "--dporrt"`,
          `${rel}/00-helpers:2: iptables: invalid port/service \`99999' specified`,
          `  called from ${rel}/20-web:3`,
        ].join('\n'),
      );
    },
  ));

test('--json reports errors as data', (t) =>
  withRulesDir({ '10-a': 'iptables -A NOPE -j ACCEPT\n' }, async (dir) => {
    const r = await nfgit(['compile', '--rules', dir, '--out', '/nonexistent', '--json']);
    t.is(r.exitCode, 1);
    const out = JSON.parse(r.stdout);
    t.is(out.ok, false);
    t.is(out.errors[0].at, `${dir}/10-a:1`);
    t.is(out.errors[0].code, 'RuleError');
  }));

test('usage errors exit 2', async (t) => {
  const r = await nfgit(['compile', '--rules', 'rules']);
  t.is(r.exitCode, 2);
  t.regex(r.stderr, /--out/);
});

test('check works for a user who is not root, through a user namespace', (t) =>
  withRulesDir(
    {
      '10-a':
        'iptables -N WEB\niptables -A INPUT -p tcp --dport 80 -j WEB\niptables -D INPUT -p tcp -m tcp --dport 80 -j WEB\nip6tables -A INPUT -p ipv6-icmp -j ACCEPT\n',
    },
    async (dir) => {
      await chmod(dir, 0o755);
      const r = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'node', CLI, 'check', '--rules', dir], {
        reject: false,
        cwd: '/',
      });
      t.is(r.exitCode, 0, r.stderr);
      t.regex(r.stdout, /OK/);
    },
  ));

test('--version and --help', async (t) => {
  const v = await nfgit(['--version']);
  t.is(v.exitCode, 0);
  t.regex(v.stdout, /^\d+\.\d+\.\d+$/);
  const h = await nfgit(['check', '--help']);
  t.is(h.exitCode, 0);
  t.regex(h.stdout, /--rules <dir>/);
});

test('a signal to nfgit ends the sandbox and everything in it', (t) =>
  withRulesDir({ '10-slow': 'iptables -A INPUT -j ACCEPT\nsleep 31.25 &\nsleep 31.5\n' }, async (dir) => {
    // A private TMPDIR: other tests running meanwhile make compile directories of their own.
    const tmp = await mkdtemp(path.join(tmpdir(), 'nfgit-signal-'));
    const child = execa('node', [CLI, 'check', '--rules', dir], { reject: false, env: { TMPDIR: tmp } });
    for (let i = 0; i < 100; i++) {
      const r = await execa('pgrep', ['-f', 'sleep 31.5'], { reject: false });
      if (r.exitCode === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    child.kill('SIGTERM');
    const r = await child;
    t.is(r.exitCode, 143);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const left = await execa('pgrep', ['-f', 'sleep 31\\.(25|5)'], { reject: false });
    t.is(left.stdout, '', 'processes of the sandbox were left behind');
    const dirs = await readdir(tmp);
    await rm(tmp, { recursive: true, force: true });
    t.deepEqual(dirs, [], 'the compile directory was left behind');
  }));

test('keygen makes a host key and prints an allowed_signers line that ssh-keygen accepts', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'nfgit-keygen-'));
  try {
    const key = path.join(dir, 'etc', 'signing_key');
    const r = await nfgit(['keygen', '--key', key, '--host', 'fw1']);
    t.is(r.exitCode, 0, r.stderr);
    t.regex(r.stdout, /^fw1@nfgit namespaces="git" ssh-ed25519 AAAA[A-Za-z0-9+/=]+$/);
    await writeFile(path.join(dir, 'allowed_signers'), r.stdout + '\n');
    await writeFile(path.join(dir, 'data'), 'status tag payload\n');
    await execa('ssh-keygen', ['-Y', 'sign', '-n', 'git', '-f', key, path.join(dir, 'data')]);
    const v = await execa(
      'ssh-keygen',
      ['-Y', 'verify', '-f', path.join(dir, 'allowed_signers'), '-I', 'fw1@nfgit', '-n', 'git', '-s', path.join(dir, 'data.sig')],
      { inputFile: path.join(dir, 'data'), reject: false },
    );
    t.is(v.exitCode, 0, v.stderr);
    const again = await nfgit(['keygen', '--key', key, '--host', 'fw1']);
    t.is(again.exitCode, 2);
    t.regex(again.stderr, /already exists: nfgit keygen does not overwrite a key/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
