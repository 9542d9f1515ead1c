import test from 'ava';
import { existsSync, readlinkSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { compile } from '../helpers/compile.js';
import { firstError } from '../helpers/first-error.js';
import { withRulesDir } from '../helpers/rules-dir.js';
import { leftovers } from '../helpers/processes.js';
import { CLI, ROOT } from '../helpers/paths.js';
import { SYSTEM_PATH } from '../apply/helpers/netns-apply.js';
import { inPrivateMounts } from '../helpers/private-mounts.js';
import { jailFailure } from '../../src/compiler/jail.js';

// Issue 11, item 6 and 7 (BRIEF invariant 5): rule files are code from the repository. Each test
// tries an escape from the compile jail (src/compiler/jail.ts) and checks that it fails.

const root = process.getuid?.() === 0;

/** What the rule files printed, from a compile that must succeed. */
async function output(files: Record<string, string>, host = 'jailhost'): Promise<string> {
  return withRulesDir(files, async (dir) => (await compile({ rulesDir: dir, host })).output);
}

test('rule files run as nobody (root only inside their user namespace), with the --host name, seeing only their own processes', async (t) => {
  const out = await output({
    '10-who':
      'print -r -- "uid=$(id -u) map=${$(</proc/self/uid_map)//[[:space:]]##/ } host=$(hostname) uname=$(uname -n) procs=$(ls /proc | grep -c "^[0-9]")"\n',
  });
  const m = /uid=(\d+) map=(.*) host=(\S+) uname=(\S+) procs=(\d+)/.exec(out);
  t.truthy(m, out);
  if (m === null) return;
  t.is(m[1], '0');
  if (root) t.is(m[2]?.trim().split(/\s+/).join(' '), '0 65534 1', 'root inside is nobody outside');
  t.is(m[3], 'jailhost');
  t.is(m[4], 'jailhost');
  t.true(Number(m[5]) < 10, `the jail sees ${m[5]} processes: only its own`);
});

test('rule files cannot read root-only files (the state directory, keys), write outside their private /tmp, or write /proc/sys', async (t) => {
  const secretDir = await mkdtemp(path.join(tmpdir(), 'nfgit-secret-'));
  const escape = path.join(tmpdir(), `nfgit-escape-${randomBytes(4).toString('hex')}`);
  try {
    await chmod(secretDir, 0o700);
    await writeFile(path.join(secretDir, 'last-good.json'), '{"secret": true}', { mode: 0o600 });
    const out = await output({
      '10-try': [
        `cat ${secretDir}/last-good.json 2>/dev/null && print read-secret || print no-secret`,
        `print x > ${escape} && print wrote-tmp || print no-tmp`,
        `{ print x > /etc/nfgit-escape } 2>/dev/null && print wrote-etc || print no-etc`,
        `{ print 1 > /proc/sys/net/ipv4/ip_forward } 2>/dev/null && print wrote-sysctl || print no-sysctl`,
        '',
      ].join('\n'),
    });
    if (root) t.regex(out, /no-secret/);
    t.regex(out, /wrote-tmp/, 'its own /tmp is writable');
    t.false(existsSync(escape), 'but it is private: the host /tmp has no such file');
    t.regex(out, /no-etc/);
    t.regex(out, /no-sysctl/);
    t.false(existsSync('/etc/nfgit-escape'));
  } finally {
    await rm(secretDir, { recursive: true, force: true });
    await rm(escape, { force: true });
  }
});

test('rule files cannot reach the host network namespace: nsenter and a host-only server on 127.0.0.1', async (t) => {
  let connections = 0;
  const server: Server = createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    const out = await output({
      '10-try': [
        'zmodload zsh/net/tcp',
        `ztcp 127.0.0.1 ${port} 2>/dev/null && print connected || print no-connect`,
        'nsenter -t $PPID -n -m true 2>/dev/null && print nsenter-ppid || print no-nsenter-ppid',
        'print -r -- "own $(readlink /proc/self/ns/net)"',
        'for p in /proc/[0-9]*; do print -r -- "seen $(readlink $p/ns/net 2>/dev/null)"; done',
        '',
      ].join('\n'),
    });
    t.regex(out, /no-connect/);
    t.regex(out, /no-nsenter-ppid/);
    // Every process it can name, and so every namespace nsenter -t could enter, is in its own network namespace.
    const own = /^own (net:\[\d+\])$/m.exec(out)?.[1];
    t.truthy(own, out);
    t.not(own, readlinkSync('/proc/self/ns/net'), 'not the host network namespace');
    const seen = [...out.matchAll(/^seen (.*)$/gm)].map((m) => m[1]).filter((n) => n !== '');
    t.true(seen.length > 0, out);
    t.deepEqual([...new Set(seen)], [own]);
    t.is(connections, 0, 'the host-only server was never reached');
  } finally {
    server.close();
  }
});

test('a process a rule file leaves behind (setsid, a subshell) is killed when the rule files end, and does not hold the compile', async (t) => {
  const out = await output({
    '10-bg':
      'setsid sleep 4141 >/dev/null 2>&1 &\n( sleep 4142 & )\nsetsid sh -c "sleep 4143" &\niptables -A INPUT -j ACCEPT\nprint done\n',
  });
  t.regex(out, /done/);
  t.deepEqual(await leftovers('sleep 414[123]'), []);
});

test("a rule file writing a sysctl outside main is an error at its line (the jail's /proc/sys is read-only)", (t) =>
  withRulesDir({ '10-fwd': 'iptables -A FORWARD -j ACCEPT\necho 1 > /proc/sys/net/ipv4/ip_forward\n' }, async (dir) => {
    const msg = await firstError(compile({ rulesDir: dir }));
    t.regex(msg, /10-fwd:2: .*read-only file system: \/proc\/sys\/net\/ipv4\/ip_forward/);
  }));

test("data files beside the rule files are readable whatever their mode; NFGIT_RULES_DIR names the jail's copy", async (t) => {
  const out = await withRulesDir({ '10-read': 'print -r -- "$NFGIT_RULES_DIR $(cat $NFGIT_RULES_DIR/lists/blocked)"\n' }, async (dir) => {
    await mkdir(path.join(dir, 'lists'), { mode: 0o700 });
    await writeFile(path.join(dir, 'lists', 'blocked'), '192.0.2.1\n', { mode: 0o600 });
    return (await compile({ rulesDir: dir })).output;
  });
  t.regex(out, /^\/run\/nfgit\/rules 192\.0\.2\.1$/m);
});

test.serial('the jail reads its files under a umask of 077 (as in the git hooks)', async (t) => {
  const old = process.umask(0o077);
  try {
    t.regex(await output({ '10-a': 'iptables -A INPUT -j ACCEPT\nprint ok\n' }), /^ok$/m);
  } finally {
    process.umask(old);
  }
});

test('host-only lines outside main (a sysctl, a write to /proc/sys, modprobe) fail at their line and say how to write them', async (t) => {
  for (const [line, hint] of [
    ['echo 1 > /proc/sys/net/ipv4/ip_forward', /main sysctl -w net\.ipv4\.ip_forward=1/],
    ['sysctl -w net.ipv4.ip_forward=1', /main sysctl -w/],
    ['main echo 1 > /proc/sys/net/ipv4/ip_forward', /main sh -c 'echo 1 > \/proc\/sys\/net\/ipv4\/ip_forward'/],
    ['modprobe nf_conntrack_ftp', /main modprobe nf_conntrack_ftp/],
  ] as const) {
    const msg = await withRulesDir({ '10-host': `iptables -A INPUT -j ACCEPT\n${line}\n` }, (dir) =>
      firstError(compile({ rulesDir: dir })),
    );
    t.regex(msg, /10-host:2: a command failed with exit status \d+ \(it said: [^)]*\): /, line);
    t.regex(msg, hint, line);
    t.notRegex(msg, /\/run\/nfgit/, "the jail's paths are not shown");
  }
});

test('the jail works when the temporary directory is a nosuid,nodev tmpfs (Debian 13, systemd-nspawn, PrivateTmp)', async (t) => {
  // In the jail's user namespace, the flags of the mount holding the compile directory are locked: a
  // read-only remount that left out nosuid,nodev was refused and every compile failed (issue 13,
  // found in a Debian 12 container). A private mount namespace keeps the tmpfs from this machine.
  if (!root) {
    t.pass('needs root (a mount namespace)');
    return;
  }
  const rules = path.join(ROOT, 'rules');
  const r = await inPrivateMounts(
    'd=$(mktemp -d) && mount -t tmpfs -o nosuid,nodev nfgit-tmp "$d" && TMPDIR=$d exec "$@"',
    [process.execPath, CLI, 'check', '--rules', rules],
    { PATH: SYSTEM_PATH },
  );
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, /OK, both families load in a scratch namespace/);
});

// Found under systemd (issue 13): a unit without CAP_SETUID (or without user namespaces in
// RestrictNamespaces=) makes setpriv or unshare fail, and the message blamed the kernel alone.
test('a jail that cannot be created under a systemd unit names the unit settings as well as the kernel ones', (t) => {
  const setpriv = 'setpriv: setresuid failed: Operation not permitted\n';
  t.regex(
    jailFailure(setpriv, true)?.message ?? '',
    /CapabilityBoundingSet= with CAP_SETUID CAP_SETGID and RestrictNamespaces= with user pid/,
  );
  t.regex(jailFailure(setpriv, true)?.message ?? '', /kernel\.unprivileged_userns_clone/);
  t.notRegex(jailFailure(setpriv, false)?.message ?? '', /CapabilityBoundingSet/);
  t.is(jailFailure('zsh: something else\n', true), undefined);
});
