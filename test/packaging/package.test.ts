// The Debian package (npm run package, packaging/build-deb.sh): built once, checked with lintian,
// installed into a scratch root with dpkg itself, and its bundled nfgit run from a directory where
// no node_modules can be found. Runs as root (staging needs network namespaces).
//
// Installing into a scratch root: `dpkg --root=DIR` chroots into DIR to run the maintainer scripts,
// which needs a whole system there; `--force-script-chrootless` runs them on the host with
// DPKG_ROOT=DIR instead, which is why the maintainer scripts prefix their paths with $DPKG_ROOT.

import test from 'ava';
import { execa } from 'execa';
import { cpSync, existsSync, lstatSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/agent/config.js';
import { ROOT } from '../helpers/paths.js';
import { buildDeb } from '../helpers/deb.js';

interface Built {
  deb: string;
  root: string;
  installOutput: string;
}

let built: Built | undefined;
const scratch: string[] = [];

const dpkgRoot = (root: string, args: string[]) =>
  execa('dpkg', [`--root=${root}`, '--force-depends', '--force-not-root', '--force-script-chrootless', ...args], {
    reject: false,
    all: true,
  });

test.before(async () => {
  const deb = await buildDeb();
  scratch.push(path.dirname(deb));
  const root = await mkdtemp(path.join(tmpdir(), 'nfgit-t-pkgroot-'));
  scratch.push(root);
  // The minimal dpkg database dpkg --root needs.
  await mkdir(path.join(root, 'var/lib/dpkg/info'), { recursive: true });
  await mkdir(path.join(root, 'var/lib/dpkg/updates'), { recursive: true });
  await writeFile(path.join(root, 'var/lib/dpkg/status'), '');
  const i = await dpkgRoot(root, ['-i', deb]);
  if (i.exitCode !== 0) throw new Error(`dpkg -i failed:\n${i.all}`);
  built = { deb, root, installOutput: i.all ?? '' };
});

test.after.always(async () => {
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});

const get = (): Built => {
  if (built === undefined) throw new Error('the package was not built');
  return built;
};

/** Whether a path exists, a dangling symbolic link included. */
const present = (file: string): boolean => lstatSync(file, { throwIfNoEntry: false }) !== undefined;

const mode = (file: string): string => (statSync(file).mode & 0o7777).toString(8).padStart(4, '0');

test.serial('npm run package prints the .deb path on its last line, with the fields and conffile', async (t) => {
  const { deb } = get();
  const version = (JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  t.is(path.basename(deb), `nfgit_${version}-1_all.deb`);
  t.true(existsSync(deb));
  const fields = await execa('dpkg-deb', ['-f', deb, 'Package', 'Architecture', 'Depends', 'Recommends']);
  t.is(
    fields.stdout,
    'Package: nfgit\nArchitecture: all\nDepends: nodejs (>= 18.19), zsh, iptables, iproute2, git\nRecommends: nftables, ipset',
  );
  t.is((await execa('dpkg-deb', ['-I', deb, 'conffiles'])).stdout.trim(), '/etc/nfgit/config.yaml');
});

test.serial('lintian --pedantic reports nothing (what it would, packaging/debian/lintian-overrides justifies)', async (t) => {
  if ((await execa('sh', ['-c', 'command -v lintian'], { reject: false })).exitCode !== 0) {
    t.pass('lintian is not installed');
    return;
  }
  const r = await execa('lintian', ['--pedantic', '-I', '-E', get().deb], { reject: false, all: true });
  const tags = (r.all ?? '').split('\n').filter((l) => /^[EWIPXO]: /.test(l));
  t.deepEqual(tags, [], r.all);
});

test.serial('dpkg installs the files with their modes; postinst makes the state directory and the key, and enables no unit', async (t) => {
  const { root, installOutput } = get();
  const expected: Array<[string, string]> = [
    ['usr/bin/nfgit', '0755'],
    ['usr/lib/nfgit/nfgit.mjs', '0644'],
    ['usr/lib/nfgit/chunks', '0755'],
    ['usr/lib/systemd/system/nfgit.service', '0644'],
    ['usr/lib/systemd/system/nfgit-restore.service', '0644'],
    ['usr/lib/systemd/system/nfgit-keygen.service', '0644'],
    ['usr/share/man/man8/nfgit.8.gz', '0644'],
    ['usr/share/man/man5/nfgit.yaml.5.gz', '0644'],
    ['usr/share/bash-completion/completions/nfgit', '0644'],
    ['usr/share/zsh/vendor-completions/_nfgit', '0644'],
    ['etc/nfgit/config.yaml', '0644'],
    ['usr/share/nfgit/hooks', '0755'],
    ['usr/share/doc/nfgit/copyright', '0644'],
    ['usr/share/doc/nfgit/changelog.Debian.gz', '0644'],
    ['var/lib/nfgit', '0700'],
    ['etc/nfgit/signing_key', '0600'],
    ['etc/nfgit/signing_key.pub', '0644'],
  ];
  for (const [file, m] of expected) t.is(mode(path.join(root, file)), m, file);
  // The bundle's chunks (code splitting: the daemon loads only its own): modules, not programs.
  const chunks = readdirSync(path.join(root, 'usr/lib/nfgit/chunks'));
  t.true(chunks.length > 0 && chunks.every((c) => c.endsWith('.mjs')), chunks.join(' '));
  for (const c of chunks) t.is(mode(path.join(root, 'usr/lib/nfgit/chunks', c)), '0644', c);
  t.is(
    await readFile(path.join(root, 'usr/bin/nfgit'), 'utf8'),
    "#!/bin/sh\n# nfgit is an ES module bundle run by Debian's Node.js (the package's nodejs dependency), never\n" +
      '# whatever `node` comes first on PATH; `nfgit hooks install` takes its hooks from here.\n' +
      'NFGIT_HOOKS_DIR=${NFGIT_HOOKS_DIR:-/usr/share/nfgit/hooks}\nexport NFGIT_HOOKS_DIR\nexec /usr/bin/node /usr/lib/nfgit/nfgit.mjs "$@"\n',
  );
  // Every hook in the tree at build time is shipped, executable ones executable.
  const hooks = existsSync(path.join(ROOT, 'hooks')) ? readdirSync(path.join(ROOT, 'hooks')).sort() : [];
  t.deepEqual(readdirSync(path.join(root, 'usr/share/nfgit/hooks')).sort(), hooks);
  for (const h of hooks)
    t.is(
      mode(path.join(root, 'usr/share/nfgit/hooks', h)),
      (statSync(path.join(ROOT, 'hooks', h)).mode & 0o111) !== 0 ? '0755' : '0644',
      h,
    );
  // The printed allowed_signers line is the key's.
  const pub = (await readFile(path.join(root, 'etc/nfgit/signing_key.pub'), 'utf8')).trim().split(' ');
  t.true(installOutput.includes(`  ${pub[2]} namespaces="git" ${pub[0]} ${pub[1]}\n`), installOutput);
  t.regex(installOutput, /systemctl enable --now nfgit/);
  // No unit is enabled: the boot restore conflicts with ufw and the like, and comes with the agent.
  t.false(present(path.join(root, 'etc/systemd/system/multi-user.target.wants/nfgit-restore.service')));
  t.false(present(path.join(root, 'etc/systemd/system/multi-user.target.wants/nfgit.service')));
  // The default configuration is valid as shipped.
  const config = await loadConfig(path.join(root, 'etc/nfgit/config.yaml'));
  t.true(config.trust.requireSignedCommits);
  t.is(config.stateDir, '/var/lib/nfgit');
});

/** Runs the installed bundle from a directory with no node_modules above it, and no NODE_PATH. */
async function bundled(args: string[]) {
  const dir = await mkdtemp(path.join(tmpdir(), 'nfgit-t-bundle-'));
  scratch.push(dir);
  const bundle = path.join(dir, 'nfgit.mjs');
  await copyFile(path.join(get().root, 'usr/lib/nfgit/nfgit.mjs'), bundle);
  cpSync(path.join(get().root, 'usr/lib/nfgit/chunks'), path.join(dir, 'chunks'), { recursive: true });
  for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) {
    if (existsSync(path.join(d, 'node_modules'))) throw new Error(`${d}/node_modules would be reachable`);
  }
  return execa('node', [bundle, ...args], { cwd: '/', env: { NODE_PATH: '' }, reject: false });
}

test.serial("the bundled nfgit --version prints package.json's version without node_modules", async (t) => {
  const version = (JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const r = await bundled(['--version']);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, version);
});

test.serial('the bundled nfgit check passes on the example rules (compile sandbox and staging)', async (t) => {
  const r = await bundled(['check', '--rules', path.join(ROOT, 'rules')]);
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, /rules: OK, both families load in a scratch namespace/);
});

test.serial('systemctl enable nfgit also enables the boot restore (Also=); disable takes both back', async (t) => {
  const { root } = get();
  const wants = path.join(root, 'etc/systemd/system/multi-user.target.wants');
  const e = await execa('systemctl', [`--root=${root}`, 'enable', 'nfgit.service'], { reject: false, all: true });
  t.is(e.exitCode, 0, e.all);
  t.is(readlinkSync(path.join(wants, 'nfgit.service')), '/usr/lib/systemd/system/nfgit.service');
  t.is(readlinkSync(path.join(wants, 'nfgit-restore.service')), '/usr/lib/systemd/system/nfgit-restore.service');
  const d = await execa('systemctl', [`--root=${root}`, 'disable', 'nfgit.service'], { reject: false, all: true });
  t.is(d.exitCode, 0, d.all);
  t.false(present(path.join(wants, 'nfgit.service')));
  t.false(present(path.join(wants, 'nfgit-restore.service')));
});

test.serial('purge removes the state directory and the signing key, and leaves no file behind', async (t) => {
  const { root } = get();
  const r = await dpkgRoot(root, ['--purge', 'nfgit']);
  t.is(r.exitCode, 0, r.all);
  t.false(existsSync(path.join(root, 'var/lib/nfgit')));
  t.false(existsSync(path.join(root, 'etc/nfgit')));
  t.false(existsSync(path.join(root, 'usr/lib/nfgit')));
  t.false(present(path.join(root, 'etc/systemd/system/multi-user.target.wants/nfgit-restore.service')));
});
