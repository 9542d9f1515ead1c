// The bundled nfgit (packaging/bundle.mjs) on Debian 12's own nodejs (18.19+; issue 13): the package
// depends on `nodejs (>= 18.19)`, so its main paths must run there, not only on the Node 20 the
// project is developed with. Debian 12's node is taken from the cached Debian 12 root file system of
// the systemd tests (test/systemd/container.ts, debootstrap with `nodejs`), never installed over this
// machine's node.
//
// How the commands run there: `unshare --mount --net --pid` gives a private mount namespace (every
// mount below disappears with it, on every path), an empty network namespace (the "host" that apply
// and sync change: this machine's firewall is never touched) and its own /proc. Inside, an overlay
// on the cached root (its writable layer on a tmpfs, so the cache is never changed) becomes the root
// with pivot_root, not chroot: the kernel refuses user namespaces to a chrooted process, and nfgit's
// compile jail is one. The test's files are bind-mounted at /t.

import test from 'ava';
import { execa } from 'execa';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from '../helpers/paths.js';
import { makeRulesRepo } from '../helpers/rules-repo.js';
import { ensureRootfs, ROOTFS } from '../systemd/container.js';

const SCRIPT = String.raw`
set -eu
dir=$1; root=$2
mount -t tmpfs nfgit-deb12 "$dir/ov"
mkdir "$dir/ov/upper" "$dir/ov/work" "$dir/ov/m"
m=$dir/ov/m
mount -t overlay -o "lowerdir=$root,upperdir=$dir/ov/upper,workdir=$dir/ov/work" nfgit-deb12 "$m"
mount -t proc proc "$m/proc"
mount -t sysfs sysfs "$m/sys"
mount --rbind /dev "$m/dev"
mount -t tmpfs tmpfs "$m/run"
mount -t tmpfs tmpfs "$m/tmp"
mkdir "$m/t" "$m/.old"
mount --bind "$dir/files" "$m/t"
cd "$m"
pivot_root . .old
exec /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C HOME=/root /bin/sh -c 'umount -l /.old && ip link set lo up && eval "$1"' sh "$3"
`;

interface Deb12 {
  /** The test's directory: dir/files is /t inside. */
  readonly dir: string;
  /** Runs a shell snippet inside Debian 12 (a fresh network namespace each time). */
  sh(snippet: string): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** Starts a shell snippet inside Debian 12 and returns the running process. */
  start(snippet: string): ReturnType<typeof execa>;
}

let deb12: Deb12 | undefined;
let why: string | undefined;

/** Why this machine cannot run Debian 12's node, or undefined. */
async function unavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (mounts and namespaces)';
  for (const tool of ['unshare', 'pivot_root', 'mount']) {
    if ((await execa('sh', ['-c', `command -v ${tool}`], { reject: false })).exitCode !== 0) return `${tool} is not installed`;
  }
  if (!existsSync(path.join(ROOTFS, 'usr/bin/node'))) {
    if ((await execa('sh', ['-c', 'command -v debootstrap'], { reject: false })).exitCode !== 0)
      return `${ROOTFS} is absent and debootstrap is not installed to make it (apt-get install debootstrap)`;
    try {
      await ensureRootfs();
    } catch (err) {
      return `cannot make ${ROOTFS}: ${(err as Error).message}`;
    }
    if (!existsSync(path.join(ROOTFS, 'usr/bin/node'))) return `${ROOTFS} has no /usr/bin/node (an old cache: remove it to remake it)`;
  }
  return undefined;
}

test.before(async () => {
  why = await unavailable();
  if (why !== undefined) return;
  const dir = mkdtempSync(path.join(tmpdir(), 'nfgit-t-deb12-'));
  mkdirSync(path.join(dir, 'ov'));
  mkdirSync(path.join(dir, 'files'));
  // The entry, files/nfgit.mjs, and its chunks in files/chunks.
  const b = await execa('node', [path.join(ROOT, 'packaging/bundle.mjs'), path.join(dir, 'files')], { reject: false, all: true });
  if (b.exitCode !== 0) throw new Error(`bundle failed: ${b.all}`);
  cpSync(path.join(ROOT, 'rules'), path.join(dir, 'files/rules'), { recursive: true });
  const start = (snippet: string) =>
    execa('unshare', ['--mount', '--net', '--pid', '--fork', '--propagation', 'private', 'sh', '-c', SCRIPT, 'sh', dir, ROOTFS, snippet], {
      reject: false,
      timeout: 300_000,
    });
  deb12 = {
    dir,
    start,
    async sh(snippet) {
      const r = await start(snippet);
      return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
    },
  };
});

test.after.always(() => {
  // The mounts died with their namespaces; only the files are left.
  if (deb12 !== undefined) rmSync(deb12.dir, { recursive: true, force: true });
});

const get = (t: { log: (s: string) => void; pass: () => void }): Deb12 | undefined => {
  if (why !== undefined) {
    t.log(`Debian 12's node is not available here: ${why}`);
    process.stderr.write(`nfgit: the Debian 12 nodejs test did not run: ${why}\n`);
    t.pass();
    return undefined;
  }
  return deb12;
};

test.serial("Debian 12's node is older than 20, and runs the bundle's --version", async (t) => {
  const d = get(t);
  if (d === undefined) return;
  const r = await d.sh('node --version && node /t/nfgit.mjs --version');
  t.is(r.exitCode, 0, r.stderr);
  const [nodeVersion, version] = r.stdout.trim().split('\n');
  t.regex(nodeVersion ?? '', /^v18\.(19|[2-9]\d)\./, 'the Node.js the package depends on (>= 18.19)');
  t.is(version, (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
});

test.serial('check, apply and restore-last of a rules directory under Debian 12 (compile jail, staging, the transaction)', async (t) => {
  const d = get(t);
  if (d === undefined) return;
  const check = await d.sh('node /t/nfgit.mjs check --rules /t/rules');
  t.is(check.exitCode, 0, check.stderr);
  t.regex(check.stdout, /OK, both families load in a scratch namespace/);
  const apply = await d.sh(
    'node /t/nfgit.mjs apply --rules /t/rules --state-dir /t/apply-state && iptables -S INPUT && ip6tables -S INPUT',
  );
  t.is(apply.exitCode, 0, apply.stderr);
  t.regex(apply.stdout, /^applied \/t\/rules/m);
  t.regex(apply.stdout, /^-P INPUT DROP$/m, 'the rules landed in the scratch network namespace');
  t.regex(apply.stdout, /^-A INPUT .*-j SSH_LIMIT$/m);
  t.true(statSync(path.join(d.dir, 'files/apply-state')).isDirectory());
  // A fresh network namespace is a host after a reboot: restore-last loads the recorded ruleset.
  const restore = await d.sh('node /t/nfgit.mjs restore-last --state-dir /t/apply-state && iptables -S INPUT');
  t.is(restore.exitCode, 0, restore.stderr);
  t.regex(restore.stdout, /^-P INPUT DROP$/m);
});

test.serial('keygen, sync of a signed commit from a local bare repository, and status under Debian 12', async (t) => {
  const d = get(t);
  if (d === undefined) return;
  const files = path.join(d.dir, 'files');
  const repo = await makeRulesRepo(files);
  const rules: Record<string, string> = {};
  for (const f of readdirSync(path.join(ROOT, 'rules'))) rules[f] = readFileSync(path.join(ROOT, 'rules', f), 'utf8');
  const commit = await repo.commit(rules);
  // Paths as seen inside (/t is dir/files).
  const inside = (p: string): string => path.join('/t', path.relative(files, p));
  const config = {
    repository: { url: inside(repo.bare), branch: 'main', path: 'rules', timeout: '10s' },
    host: 'deb12',
    netns: null,
    stateDir: '/t/state',
    trigger: '/t/run/trigger',
    poll: { interval: '1h' },
    reconcile: { schedule: '0 0 1 1 *', mode: 'repair' },
    signing: { key: '/t/host/signing_key' },
    trust: { requireSignedCommits: true, allowedSigners: inside(repo.allowedSigners) },
  };
  writeFileSync(path.join(files, 'config.yaml'), JSON.stringify(config, null, 2));

  const kg = await d.sh('node /t/nfgit.mjs keygen --key /t/host/signing_key --host deb12');
  t.is(kg.exitCode, 0, kg.stderr);
  t.regex(kg.stdout, /^deb12@nfgit namespaces="git" ssh-ed25519 /m);
  writeFileSync(path.join(files, 'tag_signers'), kg.stdout);

  const sync = await d.sh('node /t/nfgit.mjs sync --config /t/config.yaml --log-format json && iptables -S INPUT');
  t.is(sync.exitCode, 0, sync.stdout + sync.stderr);
  t.true(sync.stdout.includes(commit.slice(0, 12)), sync.stdout);
  t.regex(sync.stdout, /^-P INPUT DROP$/m, 'the signed commit was applied to the scratch network namespace');

  // The daemon: its first pass, node-cron's schedule (node-cron's package says Node >= 20), and a
  // pass started by the trigger file (fs.watch) for a second signed commit; SIGTERM stops it.
  // /t/stop is a FIFO: the snippet waits on it until the test has seen what it expects.
  const stop = path.join(files, 'stop');
  await execa('mkfifo', [stop]);
  const run = d.start(
    'node /t/nfgit.mjs run --config /t/config.yaml --log-format json & pid=$!; read x < /t/stop; kill -TERM $pid; wait $pid; echo "exit=$?"; iptables -S INPUT',
  );
  let out = '';
  const waiters: Array<() => void> = [];
  run.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    for (const w of waiters) w();
  });
  const ended = run.then(() => {
    throw new Error(`nfgit run ended early:\n${out}`);
  });
  const seen = (text: string): Promise<void> =>
    Promise.race([
      ended,
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (out.includes(text)) resolve();
        };
        waiters.push(check);
        check();
      }),
    ]);
  let second = '';
  try {
    await seen('"event":"started"');
    // The first pass finds the commit applied by sync above: no change.
    second = await repo.commit({ ...rules, '60-extra': 'iptables -A INPUT -p tcp --dport 8443 -j ACCEPT\n' });
    writeFileSync(path.join(files, 'run/trigger'), '');
    await seen(second.slice(0, 12));
    await seen('"event":"applied"');
  } finally {
    // O_RDWR: opening never blocks, even if the reader is gone.
    writeFileSync(stop, 'stop\n', { flag: 'r+' });
  }
  const r = await run;
  t.regex(String(r.stdout), /^exit=0$/m, out + String(r.stderr));
  t.regex(String(r.stdout), /^-A INPUT -p tcp -m tcp --dport 8443 -j ACCEPT$/m, 'the second commit was applied');

  const status = await d.sh('node /t/nfgit.mjs status --repo /t/fw.git --allowed-signers /t/tag_signers --json');
  t.is(status.exitCode, 0, status.stderr);
  t.true(status.stdout.includes('"deb12"'), status.stdout);
  t.true(status.stdout.includes(second), status.stdout);
});
