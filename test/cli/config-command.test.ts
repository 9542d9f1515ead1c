import test from 'ava';
import { closeSync, fstatSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { withTempDir } from '../git/signing/tools.js';
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { nfgit } from '../agent/helpers/agent-env.js';
import { CLI } from '../helpers/paths.js';
import { SYSTEM_PATH } from '../apply/helpers/netns-apply.js';

/** A host's key and an allowed_signers file in dir, as an admin makes them. */
async function keys(dir: string): Promise<{ key: string; signers: string }> {
  const key = path.join(dir, 'signing_key');
  const kg = await nfgit(['keygen', '--key', key, '--host', 'fw1']);
  if (kg.exitCode !== 0) throw new Error(kg.stderr);
  const signers = path.join(dir, 'allowed_signers');
  writeFileSync(signers, `alice@example.org ${kg.stdout.trim().split(' ').slice(2).join(' ')}\n`);
  return { key, signers };
}

test('config check: a good configuration and its files say config OK with a summary, exit 0', async (t) => {
  await withTempDir('config-check', async (dir) => {
    const { key, signers } = await keys(dir);
    const config = path.join(dir, 'config.yaml');
    writeFileSync(
      config,
      [
        'repository:',
        `  url: ${dir}`,
        'host: fw1',
        'poll: { interval: 30s }',
        `signing: { key: ${key} }`,
        `trust: { allowedSigners: ${signers} }`,
        '',
      ].join('\n'),
    );
    const r = await nfgit(['config', 'check', '--config', config]);
    t.is(r.exitCode, 0, r.stderr);
    t.is(
      r.stdout,
      `config OK: ${config}: host fw1 follows main of ${dir} (rules in rules), applies to the host, polls every 30s, reconciles "*/10 * * * *" (repair); signing key ${key}; signed commits required, trusting 1 allowed signer(s)`,
    );
  });
});

test('config check: every problem of the file at once, each at its line, exit 2', async (t) => {
  await withTempDir('config-check', async (dir) => {
    const config = path.join(dir, 'config.yaml');
    writeFileSync(config, ['repository:', '  url: ssh://git@example.org/fw.git', 'poll:', '  interval: 30', 'colour: blue', ''].join('\n'));
    const r = await nfgit(['config', 'check', '--config', config]);
    t.is(r.exitCode, 2);
    t.is(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    t.regex(lines[0] ?? '', new RegExp(`^nfgit: ${config}:2: repository\\.url: SSH and git:// remotes are not supported`));
    t.true(
      lines.includes(
        `${config}:4: poll.interval: must be a duration with a unit (500ms, 30s, 5m, 2h, 1d, or a combination such as 1m30s), not the number 30`,
      ),
      r.stderr,
    );
    t.true(
      lines.some((l) => l.startsWith(`${config}:1: trust.allowedSigners: is required`)),
      r.stderr,
    );
    t.true(
      lines.some((l) => l.startsWith(`${config}:5: colour: is not a known key`)),
      r.stderr,
    );
  });
});

test('config check: the files it names are read: a missing key, trust file and token file are all reported, exit 2', async (t) => {
  await withTempDir('config-check', async (dir) => {
    const config = path.join(dir, 'config.yaml');
    const missing = (name: string) => path.join(dir, 'nowhere', name);
    writeFileSync(
      config,
      JSON.stringify({
        repository: { url: 'https://git.example.org/fw.git', tokenFile: missing('token') },
        signing: { key: missing('signing_key') },
        trust: { allowedSigners: missing('allowed_signers') },
      }),
    );
    const r = await nfgit(['config', 'check', '--config', config]);
    t.is(r.exitCode, 2, r.stderr);
    t.regex(
      r.stderr,
      new RegExp(`cannot load the signing key ${missing('signing_key')} \\(signing\\.key\\): .*Make one with: nfgit keygen`),
    );
    t.regex(r.stderr, new RegExp(`${missing('allowed_signers')}`));
    t.regex(r.stderr, new RegExp(`cannot read the token file ${missing('token')} \\(repository\\.tokenFile\\)`));
    // Nothing about the network: the check does not contact the server.
    t.notRegex(r.stderr, /git\.example\.org/);
  });
});

test('config check: a configuration file that cannot be read, exit 2', async (t) => {
  await withTempDir('config-check', async (dir) => {
    const r = await nfgit(['config', 'check', '--config', path.join(dir, 'none.yaml')]);
    t.is(r.exitCode, 2);
    t.regex(r.stderr, /cannot read the configuration file .*none\.yaml: it does not exist/);
  });
});

test('config check under systemd: a key or trust file under /root that cannot be read is said to be hidden by ProtectHome', async (t) => {
  await withTempDir('config-check', async (dir) => {
    const config = path.join(dir, 'config.yaml');
    const hidden = `/root/nfgit-test-absent-${path.basename(dir)}`;
    writeFileSync(
      config,
      JSON.stringify({
        repository: { url: dir },
        signing: { key: `${hidden}/signing_key` },
        trust: { allowedSigners: `${hidden}/allowed_signers` },
      }),
    );
    const r = await execa(process.execPath, [CLI, 'config', 'check', '--config', config], {
      env: { PATH: SYSTEM_PATH, LC_ALL: 'C', INVOCATION_ID: '0b3c5e0d6f8a4a8e9c1d2e3f4a5b6c7d' },
      extendEnv: false,
      reject: false,
    });
    t.is(r.exitCode, 2, r.stderr);
    t.regex(
      r.stderr,
      new RegExp(
        `cannot load the signing key ${hidden}/signing_key .*ProtectHome=yes, which hides /root and /home from it: move ${hidden}/signing_key to /etc/nfgit`,
      ),
    );
    t.regex(r.stderr, new RegExp(`ProtectHome=yes, which hides /root and /home from it: move ${hidden}/allowed_signers to /etc/nfgit`));
  });
});

test('config check under journald (ExecStartPre): every line of the problems is an error entry (<3>), so journalctl -p err shows them', async (t) => {
  await withTempDir('config-check', async (dir) => {
    const config = path.join(dir, 'config.yaml');
    writeFileSync(config, 'poll: { interval: 30 }\n');
    const errFile = path.join(dir, 'stderr');
    const fd = openSync(errFile, 'w');
    try {
      const st = fstatSync(fd, { bigint: true });
      const child = spawn(process.execPath, [CLI, 'config', 'check', '--config', config], {
        env: { PATH: SYSTEM_PATH, LC_ALL: 'C', JOURNAL_STREAM: `${st.dev}:${st.ino}` },
        stdio: ['ignore', 'ignore', fd],
      });
      const r = { exitCode: await new Promise<number | null>((resolve) => child.on('exit', resolve)) };
      t.is(r.exitCode, 2);
    } finally {
      closeSync(fd);
    }
    const lines = readFileSync(errFile, 'utf8').trim().split('\n');
    t.is(lines.length, 3, lines.join('\n'));
    t.true(
      lines.every((l) => l.startsWith(`<3>`)),
      lines.join('\n'),
    );
    t.is(
      lines[0],
      `<3>nfgit: ${config}:1: repository.url: is required: the https:// URL of the rules repository, or the absolute path of a local one`,
    );
  });
});

test('config check: rollout.allowedSigners is read: a missing file is reported with its key, exit 2', async (t) => {
  await withTempDir('config-check', async (dir) => {
    const { key, signers } = await keys(dir);
    const config = path.join(dir, 'config.yaml');
    const hostSigners = path.join(dir, 'nowhere', 'host_signers');
    writeFileSync(
      config,
      [
        'repository:',
        `  url: ${dir}`,
        'host: web1',
        `signing: { key: ${key} }`,
        `trust: { allowedSigners: ${signers} }`,
        `rollout: { ring: 1, after: { ring: canary }, allowedSigners: ${hostSigners} }`,
        '',
      ].join('\n'),
    );
    const r = await nfgit(['config', 'check', '--config', config]);
    t.is(r.exitCode, 2, r.stdout + r.stderr);
    t.true(r.stderr.includes(hostSigners), r.stderr);
    t.regex(r.stderr, /\(rollout\.allowedSigners\)/);
  });
});
