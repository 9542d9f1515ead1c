import test, { type ExecutionContext } from 'ava';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cannotBoot, ensureRootfs, waitBooted, withContainer, type Container } from './container.js';
import {
  BARE,
  HOST,
  asGit,
  config,
  enable,
  forceMain,
  hostRuleset,
  installDeb,
  iptablesSave,
  must,
  property,
  timespanMs,
  push,
  put,
  serveRepository,
  statusTag,
  waitFor,
} from './nfgit-host.js';
import { buildDeb } from '../helpers/deb.js';
import { ROOT } from '../helpers/paths.js';
import { makeRulesRepo, type RulesRepo } from '../helpers/rules-repo.js';

// Issue 13, "What must show": the BUILT package installed and run under a real systemd, in a Debian 12
// container with its own network (container.ts), as an admin would (nfgit-host.ts): one container per
// group of scenarios, each scenario a named step that logs what it found: install, enable, signed and
// non-root pushes, an unsigned commit refused; then journald priorities, the repository's users still
// able to clone after the agent's tags (bug 4), pause/resume with status --local, the metrics file, and
// a broken configuration that does not restart-loop; and a reboot into the recorded namespace (bug 1).
// Where the machine cannot boot a container, the tests
// say why and pass, and the rest of the suite runs.

let why: string | undefined;
let deb: string | undefined;
const scratch: string[] = [];

test.before(async () => {
  why = await cannotBoot();
  if (why === undefined) {
    try {
      await ensureRootfs();
    } catch (err) {
      why = `cannot make the container's root file system: ${(err as Error).message}`;
    }
  }
  if (why !== undefined) {
    process.stderr.write(`nfgit: the systemd tests did not run: ${why}\n`);
    return;
  }
  deb = await buildDeb();
  scratch.push(path.dirname(deb));
});

test.after.always(async () => {
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});

/** The built package, or undefined (and logged) when no container can run here. */
function packageOrSkip(t: ExecutionContext): string | undefined {
  if (why !== undefined || deb === undefined) {
    t.log(`cannot boot a systemd container here: ${why ?? 'the package was not built'}`);
    t.pass();
    return undefined;
  }
  return deb;
}

/** Runs one scenario step and logs what it found and how long it took. */
async function step(t: ExecutionContext, name: string, body: () => Promise<string | void>): Promise<void> {
  const start = Date.now();
  const found = await body();
  t.log(`${name}: ok in ${((Date.now() - start) / 1000).toFixed(1)} s${found ? `: ${found}` : ''}`);
}

/**
 * A step of the group's second half: a failure is logged and fails the test at the end, but lets the
 * next steps run, so that one run says everything that is broken.
 */
async function later(t: ExecutionContext, area: string, name: string, body: () => Promise<string | void>): Promise<void> {
  try {
    await step(t, `${name} [${area}]`, body);
  } catch (err) {
    t.log(`${name} [${area}]: FAILED: ${(err as Error).message}`);
    laterFailures.push(`${name} [${area}]`);
  }
}

/** The `later` steps that failed. */
const laterFailures: string[] = [];

/** A temporary directory of this machine for the admin's rules repository (keys, working clone). */
async function adminRepo(): Promise<RulesRepo> {
  const dir = await mkdtemp(path.join(tmpdir(), 'nfgit-t-systemd-repo-'));
  scratch.push(dir);
  return makeRulesRepo(dir, 'firewall');
}

/** A rule file accepting a port, marked with a comment the checks look for in iptables-save. */
const rule = (port: number, mark: string): string => `iptables -A INPUT -p tcp --dport ${port} -j ACCEPT -m comment --comment ${mark}\n`;

const has = (mark: string) => (r: { code: number; stdout: string }) => r.code === 0 && r.stdout.includes(`--comment ${mark} `);

/** Installs the package (checking what dpkg did) and serves the repository; returns the install's findings. */
async function install(t: ExecutionContext, c: Container, pkg: string, repo: RulesRepo): Promise<void> {
  await step(t, 'dpkg -i the built package (Debian 12 nodejs)', async () => {
    const installed = await installDeb(c, pkg);
    t.is((await must(c, ['dpkg-query', '-W', '-f=${Status}', 'nfgit'])).trim(), 'install ok installed');
    // The bundle runs under Debian's own Node 18 (any warning it prints is logged for the package work).
    const version = await c.run(['nfgit', '--version']);
    const pkgVersion = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    t.is(version.code, 0, version.stderr);
    t.is(version.stdout.trim(), pkgVersion);
    if (version.stderr.trim() !== '') t.log(`nfgit --version under node ${installed.node} printed on stderr: ${version.stderr.trim()}`);
    t.regex(installed.output, /namespaces="git" ssh-ed25519 /, 'postinst prints the status-tag key line');
    // Nothing enabled at installation: the boot restore Conflicts= with other loaders (ufw, netfilter-persistent).
    t.is((await c.run(['systemctl', 'is-enabled', 'nfgit-restore'])).stdout.trim(), 'disabled');
    t.is((await c.run(['systemctl', 'is-enabled', 'nfgit'])).stdout.trim(), 'disabled');
    t.is((await c.run(['getent', 'group', 'nfgit'])).code, 0, 'postinst made the group nfgit');
    t.is((await must(c, ['stat', '-c', '%a %U', '/var/lib/nfgit'])).trim(), '700 root');
    return `node ${installed.node}`;
  });
  await step(t, 'a bare repository served by the user git, with the package hooks', async () => {
    await serveRepository(c, repo);
    t.is((await must(c, ['id', '-nG', 'git'])).trim().split(' ').sort().join(' '), 'git nfgit');
  });
}

test.serial(
  'the package under systemd: installed, enabled with a config, signed pushes applied (a non-root push triggers the pass), an unsigned commit refused',
  async (t) => {
    t.timeout(15 * 60_000);
    const pkg = packageOrSkip(t);
    if (pkg === undefined) return;
    const repo = await adminRepo();
    const before = await hostRuleset();
    await withContainer('agent', async (c) => {
      t.regex(await waitBooted(c), /^(running|degraded)$/, c.console().slice(-2000));
      await install(t, c, pkg, repo);

      const c1 = await repo.commit({ '10-ssh': rule(22, 'nfgit-c1') }, { push: false, message: 'ssh' });
      await step(t, 'a signed push, checked by pre-receive as git (nfgit check under Node 18, in a user namespace)', async () => {
        const r = await push(c, repo);
        t.is(r.code, 0, r.output);
        t.regex(r.output, /signed by trusted keys/);
        t.regex(r.output, /the rules pass nfgit check/);
      });

      // A poll interval far longer than the test: after the start pass, only the trigger can explain a pass.
      await step(t, 'systemctl enable --now nfgit applies main at start, and tags it', async () => {
        await enable(c, config({ poll: '1h' }));
        t.is((await c.run(['systemctl', 'is-enabled', 'nfgit-restore'])).stdout.trim(), 'enabled', 'Also=nfgit-restore.service');
        await waitFor(c, 'the first commit in the ruleset', iptablesSave(), has('nfgit-c1'));
        t.is(await property(c, 'nfgit', 'ActiveState'), 'active');
        const tag = await waitTag(c, c1);
        t.regex(tag, /^Result: applied$/m);
        return `tag nfgit/${HOST}/${c1.slice(0, 12)}`;
      });

      await step(t, 'the status tag verifies: nfgit status, signature good, head applied', async () => {
        await must(c, [
          'sh',
          '-c',
          `printf '${HOST}@nfgit namespaces="git" %s\\n' "$(cut -d' ' -f1,2 /etc/nfgit/signing_key.pub)" > /etc/nfgit/status_signers`,
        ]);
        const status = JSON.parse(
          await must(c, ['nfgit', 'status', '--repo', BARE, '--allowed-signers', '/etc/nfgit/status_signers', '--json']),
        ) as { hosts: Array<{ host: string; running: { commit: string; signature: string }; headApplied: boolean }> };
        t.is(status.hosts[0]?.host, HOST);
        t.is(status.hosts[0]?.running.commit, c1);
        t.is(status.hosts[0]?.running.signature, 'good');
        t.true(status.hosts[0]?.headApplied);
      });

      await step(t, "a non-root push triggers a pass through the group nfgit's /run/nfgit", async () => {
        t.is((await must(c, ['stat', '-c', '%a %U:%G', '/run/nfgit'])).trim(), '770 root:nfgit');
        await must(c, ['systemctl', 'reload', 'nfgit']);
        t.is((await must(c, ['stat', '-c', '%a %U:%G', '/run/nfgit'])).trim(), '770 root:nfgit', 'a reload keeps the group');
        const c2 = await repo.commit({ '20-web': rule(80, 'nfgit-c2') }, { push: false, message: 'web' });
        const r = await push(c, repo);
        t.is(r.code, 0, r.output);
        t.regex(r.output, /asked the local nfgit agent to sync/);
        await waitFor(c, 'the pushed commit in the ruleset', iptablesSave(), has('nfgit-c2'));
        t.regex(await waitTag(c, c2), /^Result: applied$/m);
      });

      const c3 = await repo.commit({ '30-tls': rule(443, 'nfgit-c3') }, { push: false, message: 'unsigned', sign: false });
      await step(t, 'an unsigned commit: refused by pre-receive, and by the agent when main is moved past the hooks', async () => {
        const r = await push(c, repo);
        t.not(r.code, 0, r.output);
        t.regex(r.output, /is not signed/);
        await forceMain(c, repo);
        t.is((await asGit(c, ['touch', '/run/nfgit/trigger'])).code, 0, 'the git user may create the trigger');
        t.regex(await waitTag(c, c3), /^Result: untrusted$/m);
        const rules = await must(c, iptablesSave());
        t.true(rules.includes('nfgit-c2') && !rules.includes('nfgit-c3'), rules);
        const journal = await must(c, ['journalctl', '-u', 'nfgit', '-o', 'cat', '--no-pager']);
        t.true(
          journal.split('\n').some((l) => l.includes('untrusted') && l.includes(c3.slice(0, 7))),
          `the journal names the refused commit:\n${journal}`,
        );
      });

      await laterSteps(t, c, repo, c3);
      if (laterFailures.length > 0) throw new Error(`steps failed: ${laterFailures.join('; ')}`);
    });
    t.is(await hostRuleset(), before, "this machine's own firewall is untouched");
  },
);

/**
 * The day-two steps of the first group (see `later`), in the order they must run.
 * They check with node:assert, which throws without failing the ava test at once, so that each step
 * runs and reports even when one before it failed.
 */
async function laterSteps(t: ExecutionContext, c: Container, repo: RulesRepo, c3: string): Promise<void> {
  await later(t, 'journal', 'journalctl -p warning -u nfgit shows the refused commit', async () => {
    const warnings = await must(c, ['journalctl', '-p', 'warning', '-u', 'nfgit', '-o', 'cat', '--no-pager']);
    assert.ok(warnings.includes(c3.slice(0, 7)), `no warning names ${c3.slice(0, 7)}:\n${warnings}`);
  });

  await later(t, 'bug4', 'the git user can still clone the repository the agent wrote its tags into (UMask=0077)', async () => {
    const r = await asGit(c, ['git', 'clone', '-q', BARE, '/home/git/clone']);
    assert.equal(r.code, 0, r.stderr);
  });

  await later(t, 'ops', 'nfgit pause holds the ruleset (no apply, no repair), status --local says so, resume applies', async () => {
    await must(c, ['nfgit', 'pause', '--reason', 'incident 42']);
    const c4 = await repo.commit({ '30-tls': rule(443, 'nfgit-c4') }, { push: false, message: 'tls' });
    assert.equal((await push(c, repo)).code, 0);
    await must(c, ['iptables', '-I', 'INPUT', '-s', '192.0.2.66', '-j', 'DROP']);
    const local = await waitFor(c, 'status --local to see the paused pass', ['nfgit', 'status', '--local', '--json'], (r) =>
      r.stdout.includes(c4),
    );
    assert.match(local, /"paused":\s*\{[^}]*"reason":\s*"incident 42"/);
    const rules = await must(c, iptablesSave());
    assert.ok(!rules.includes('nfgit-c4'), 'nothing applied while paused');
    assert.ok(rules.includes('192.0.2.66'), "the admin's hand-made rule is not repaired away while paused");
    await must(c, ['nfgit', 'resume']);
    // resume starts no pass by itself: a reload is "do everything now" (fetch, decide, repair drift).
    await must(c, ['systemctl', 'reload', 'nfgit']);
    await waitFor(c, 'the held commit after resume', iptablesSave(), has('nfgit-c4'));
    assert.ok(!(await must(c, iptablesSave())).includes('192.0.2.66'), 'once resumed, the ruleset is the commit again');
  });

  await later(t, 'ops', 'the metrics textfile is written after a pass', async () => {
    await put(
      c,
      '/etc/nfgit/config.yaml',
      config({ poll: '1h', extra: ['metrics:', '  textfile: /var/lib/prometheus/node-exporter/nfgit.prom'] }),
    );
    await must(c, ['install', '-d', '/var/lib/prometheus/node-exporter']);
    await put(c, '/etc/systemd/system/nfgit.service.d/metrics.conf', '[Service]\nReadWritePaths=/var/lib/prometheus/node-exporter\n');
    await must(c, ['systemctl', 'daemon-reload']);
    await must(c, ['systemctl', 'restart', 'nfgit']);
    const prom = await waitFor(c, 'the metrics file', ['cat', '/var/lib/prometheus/node-exporter/nfgit.prom'], (r) => r.code === 0);
    assert.match(prom, /^nfgit_/m);
    assert.match(prom, /^nfgit_paused 0$/m);
  });

  // Last: it leaves the agent stopped.
  await later(t, 'journal', 'a broken config: systemctl restart fails, and the unit stays failed (no restart loop)', async () => {
    await put(c, '/etc/nfgit/config.yaml', 'repository:\n  url: 42\nno-such-key: true\n');
    const restart = await c.run(['systemctl', 'restart', 'nfgit']);
    assert.notEqual(restart.code, 0, 'systemctl restart reports the failure');
    await waitFor(
      c,
      'the unit to fail',
      ['systemctl', 'show', '-p', 'ActiveState', '--value', 'nfgit'],
      (r) => r.stdout.trim() === 'failed',
    );
    // A restart would come RestartSec after the failure: look at it again well past that.
    const restartMs = timespanMs(await property(c, 'nfgit', 'RestartUSec'));
    await new Promise((resolve) => setTimeout(resolve, restartMs * 1.5 + 1000));
    assert.equal(await property(c, 'nfgit', 'ActiveState'), 'failed');
    assert.equal(await property(c, 'nfgit', 'NRestarts'), '0');
    const check = await c.run(['nfgit', 'config', 'check', '--config', '/etc/nfgit/config.yaml']);
    assert.equal(check.code, 2, check.stderr);
  });
}

/** Waits for this host's status tag on a commit and returns its message. */
async function waitTag(c: Container, commit: string): Promise<string> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const tag = await statusTag(c, commit);
    if (tag !== undefined) return tag;
    if (Date.now() > deadline) {
      const journal = await c.run(['journalctl', '--no-pager', '-o', 'cat', '-n', '30', '-u', 'nfgit']);
      throw new Error(`no status tag for ${commit}; the agent's journal:\n${journal.stdout}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

/** A unit of the test (not of the package) making the named namespace `fw` early at every boot. */
const NETNS_UNIT = `[Unit]
Description=nfgit test: the network namespace fw that nfgit applies to
DefaultDependencies=no
Before=nfgit-restore.service network-pre.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/ip netns add fw
[Install]
WantedBy=nfgit-restore.service
`;

test.serial(
  'a reboot restores the last ruleset before network-pre.target, into the network namespace it was applied to (bug 1)',
  async (t) => {
    t.timeout(15 * 60_000);
    const pkg = packageOrSkip(t);
    if (pkg === undefined) return;
    const repo = await adminRepo();
    await withContainer('reboot', async (c) => {
      t.regex(await waitBooted(c), /^(running|degraded)$/, c.console().slice(-2000));
      await install(t, c, pkg, repo);
      await repo.commit({ '10-ssh': rule(22, 'nfgit-ns1') }, { push: false, message: 'ssh' });
      t.is((await push(c, repo)).code, 0);

      await step(t, 'the agent applies to the named namespace fw (config netns: fw), made at boot by a unit', async () => {
        await put(c, '/etc/systemd/system/nfgit-test-netns.service', NETNS_UNIT);
        await must(c, ['systemctl', 'daemon-reload']);
        await must(c, ['systemctl', 'enable', '--now', 'nfgit-test-netns.service']);
        await enable(c, config({ poll: '1h', extra: ['netns: fw'] }));
        await waitFor(c, 'the ruleset in the namespace fw', iptablesSave('fw'), has('nfgit-ns1'));
        t.false((await must(c, iptablesSave())).includes('nfgit-ns1'), "not in the container's own namespace");
      });

      await step(t, 'reboot with only the boot unit enabled: the ruleset is back in fw before network-pre.target', async () => {
        // The agent stays off after the reboot, so what is loaded is the boot unit's doing.
        await must(c, ['systemctl', 'disable', '--now', 'nfgit']);
        // Disabling nfgit disables its Also= too: the boot restore alone, as on a host whose rules are applied by hand.
        await must(c, ['systemctl', 'enable', 'nfgit-restore']);
        await c.reboot();
        t.regex(await waitBooted(c), /^(running|degraded)$/, c.console().slice(-2000));
        t.is(await property(c, 'nfgit', 'ActiveState'), 'inactive');
        t.is(await property(c, 'nfgit-restore', 'ActiveState'), 'active');
        t.is(await property(c, 'nfgit-restore', 'Result'), 'success');
        const restored = Number(await property(c, 'nfgit-restore', 'ActiveEnterTimestampMonotonic'));
        const networkPre = Number(await property(c, 'network-pre.target', 'ActiveEnterTimestampMonotonic'));
        t.true(restored > 0 && networkPre > 0, `restore ${restored}, network-pre ${networkPre}`);
        t.true(restored <= networkPre, `nfgit-restore was active at ${restored} µs, network-pre.target at ${networkPre} µs`);
        const inNs = await must(c, iptablesSave('fw'));
        t.true(inNs.includes('--comment nfgit-ns1 '), inNs);
        const own = await must(c, iptablesSave());
        t.false(own.includes('nfgit-ns1'), `the namespace's ruleset landed in the container's own namespace:\n${own}`);
        return `nfgit-restore active ${((networkPre - restored) / 1000).toFixed(1)} ms before network-pre.target`;
      });
    });
  },
);
