import test from 'ava';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { withNamedNetns, inNetns, savesOf } from '../helpers/named-netns.js';
import { mustRun, runTool, withTempDir } from '../git/signing/tools.js';
import { logEntries, makeAgentWorld, nfgit, type AgentWorld } from './helpers/agent-env.js';
import { CLI } from '../helpers/paths.js';
import { SYSTEM_PATH } from '../apply/helpers/netns-apply.js';

// Day-two operations on real passes: pause and resume (nothing applied or repaired while paused, the
// pause reported in the log, status --local, a status tag and the metrics), a pause that runs out, a
// pin, the metrics textfile, and the hourly heartbeat the fleet view judges liveness by.

const BASE = { '10-base': 'iptables -A INPUT -i lo -j ACCEPT\nip6tables -A INPUT -i lo -j ACCEPT\n' };

/** Status tags of a host in the bare repository: name → message. */
async function hostTags(world: AgentWorld, host: string): Promise<Map<string, string>> {
  const out = await mustRun('git', ['--git-dir', world.repo.bare, 'for-each-ref', '--format=%(refname:short)', `refs/tags/nfgit/${host}/`]);
  const result = new Map<string, string>();
  for (const name of out.split('\n').filter((l) => l !== ''))
    result.set(name, await mustRun('git', ['--git-dir', world.repo.bare, 'tag', '-l', '--format=%(contents)', name]));
  return result;
}

/** The message of a host's current status (refs/nfgit/hosts/HOST): its newest report, a decision or a heartbeat. */
async function currentReport(world: AgentWorld, host: string): Promise<string> {
  const raw = await mustRun('git', ['--git-dir', world.repo.bare, 'cat-file', 'tag', `refs/nfgit/hosts/${host}`]);
  return raw.slice(raw.indexOf('\n\n') + 2).replace(/-----BEGIN SSH SIGNATURE-----[\s\S]*$/, '');
}

interface LocalJson {
  running: { commit: string } | null;
  branchHead: { commit: string; running: boolean } | null;
  lastPass: { result: string; summary: string } | null;
  failures: number;
  drift: { state: string } | null;
  paused: { by: string; reason: string | null; until: string | null } | null;
  pin: { configured: string; commit: string | null; ahead: string | null } | null;
  lastReport: { commit: string; paused: boolean } | null;
}

async function localStatus(stateDir: string): Promise<LocalJson> {
  const r = await nfgit(['status', '--local', '--json', '--state-dir', stateDir]);
  if (r.exitCode !== 0) throw new Error(`status --local: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as LocalJson;
}

function metric(text: string, name: string): string | undefined {
  return new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1];
}

test('pause: nothing applied or repaired while paused, reported in the log, status --local, a status tag and the metrics; resume and a pause that runs out', async (t) => {
  await withTempDir('agent-pause', async (dir) => {
    const world = await makeAgentWorld(dir);
    try {
      await withNamedNetns(1, async ([ns]) => {
        const prom = path.join(dir, 'textfile', 'nfgit.prom');
        mkdirSync(path.dirname(prom));
        const fw = await world.addHost('fw1', ns as string, { metrics: { textfile: prom } });
        const first = await world.repo.commit(BASE, { message: 'base' });
        let r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);

        // The metrics of a real pass: written atomically beside, every name there.
        let text = readFileSync(prom, 'utf8');
        t.is(metric(text, 'nfgit_last_pass_success'), '1');
        t.is(metric(text, 'nfgit_rules{family="ipv4"}'), '1');
        t.is(metric(text, 'nfgit_rules{family="ipv6"}'), '1');
        t.is(metric(text, 'nfgit_paused'), '0');
        t.is(metric(text, 'nfgit_consecutive_failures'), '0');
        t.is(metric(text, 'nfgit_drift_repairs_total'), '0');
        t.truthy(metric(text, 'nfgit_apply_duration_seconds'));
        t.truthy(metric(text, 'nfgit_pass_duration_seconds'));
        t.regex(metric(text, 'nfgit_running_commit_timestamp_seconds') ?? '', /^\d{10}$/);
        t.regex(text, new RegExp(`^nfgit_info\\{version="[^"]+",host="fw1",commit="${first}"\\} 1$`, 'm'));
        t.deepEqual(readdirSync(path.dirname(prom)), ['nfgit.prom'], 'no temporary file left beside the textfile');
        let local = await localStatus(fw.stateDir);
        t.is(local.running?.commit, first);
        t.deepEqual(local.branchHead, { ...local.branchHead, commit: first, running: true });
        t.is(local.lastPass?.result, 'ok');
        t.is(local.paused, null);

        // Pause, then block an address by hand; a new commit and a reconcile change nothing.
        r = await nfgit(['pause', '--state-dir', fw.stateDir, '--reason', 'blocking 203.0.113.7']);
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.regex(r.stdout, /paused by \S+ at .*until nfgit resume: blocking 203\.0\.113\.7/);
        await inNetns(ns as string, ['iptables', '-I', 'INPUT', '-s', '203.0.113.7', '-j', 'DROP']);
        const second = await world.repo.commit({ '20-ssh': 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n' }, { message: 'ssh' });
        r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        const paused = logEntries(r.stdout).find((e) => e.event === 'paused');
        t.is(paused?.level, 'warn', r.stdout);
        t.is(paused?.['reason'], 'blocking 203.0.113.7');
        t.false(
          logEntries(r.stdout).some((e) => ['applied', 'drift', 'repaired', 'new-commit'].includes(e.event)),
          r.stdout,
        );
        let saves = await savesOf(ns as string);
        t.regex(saves.ipv4, /-A INPUT -s 203\.0\.113\.7\/32 -j DROP/);
        t.notRegex(saves.ipv4, /--dport 22/);
        // The current status: a heartbeat for the running commit that says paused, by whom and why (no new decision tag).
        const heartbeat = await currentReport(world, 'fw1');
        t.regex(heartbeat, /^Heartbeat: yes$/m);
        t.regex(heartbeat, /^fw1: applied [0-9a-f]{12} \(paused\)$/m);
        t.regex(heartbeat, /^Paused-Reason: blocking 203\.0\.113\.7$/m);
        t.regex(heartbeat, /^Paused-Until: resume$/m);
        t.regex(heartbeat, new RegExp(`^Previous-Tag: nfgit/fw1/${first.slice(0, 12)} `, 'm'));
        t.false([...(await hostTags(world, 'fw1')).values()].some((m) => m.includes('Heartbeat: yes')));
        // The fleet view shows it.
        const fleet = await nfgit(['status', '--repo', world.repo.bare, '--allowed-signers', world.tagSigners, '--host', 'fw1']);
        t.is(fleet.exitCode, 0, fleet.stdout + fleet.stderr);
        t.regex(fleet.stdout, /^fw1 .* paused by \S+: blocking 203\.0\.113\.7$/m);
        t.regex(fleet.stdout, /^1 host: .*1 paused/m);
        t.regex(fleet.stdout, new RegExp(`^fw1 +${first.slice(0, 12)} `, 'm'));
        local = await localStatus(fw.stateDir);
        t.is(local.paused?.reason, 'blocking 203.0.113.7');
        t.is(local.branchHead?.commit, second);
        t.is(local.branchHead?.running, false);
        t.is(local.lastPass?.summary, 'paused');
        text = readFileSync(prom, 'utf8');
        t.is(metric(text, 'nfgit_paused'), '1');
        const human = await nfgit(['status', '--local', '--state-dir', fw.stateDir]);
        t.regex(human.stdout, /^paused +yes, by \S+ since .*until nfgit resume: blocking 203\.0\.113\.7$/m);
        // A second paused pass: no new report, and the event at debug, so not written at the default level (info).
        r = await fw.sync();
        t.is(
          logEntries(r.stdout).find((e) => e.event === 'paused'),
          undefined,
        );
        t.is(await currentReport(world, 'fw1'), heartbeat);

        // Resume: the next pass applies the new commit (the hand-made rule goes with the old ruleset).
        r = await nfgit(['resume', '--state-dir', fw.stateDir]);
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.regex(r.stdout, /^resumed/);
        t.false(existsSync(path.join(fw.stateDir, 'pause.json')));
        r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.true(logEntries(r.stdout).some((e) => e.event === 'applied' && e['commit'] === second));
        saves = await savesOf(ns as string);
        t.regex(saves.ipv4, /--dport 22/);
        t.notRegex(saves.ipv4, /203\.0\.113\.7/);
        r = await nfgit(['resume', '--state-dir', fw.stateDir]);
        t.regex(r.stdout, /not paused/);

        // A pause with --for runs out by itself at the next pass (logged), and drift is repaired again.
        r = await nfgit(['pause', '--state-dir', fw.stateDir, '--for', '1ms', '--no-wait']);
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        await inNetns(ns as string, ['iptables', '-F', 'INPUT']);
        r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        const events = logEntries(r.stdout).map((e) => e.event);
        t.true(events.includes('pause-ended'), events.join(','));
        t.true(events.includes('repaired'), events.join(','));
        t.false(existsSync(path.join(fw.stateDir, 'pause.json')));
        t.regex((await savesOf(ns as string)).ipv4, /--dport 22/);
        text = readFileSync(prom, 'utf8');
        t.is(metric(text, 'nfgit_drift_repairs_total'), '1');
        local = await localStatus(fw.stateDir);
        t.is(local.drift?.state, 'repaired');
      });
    } finally {
      await world.server.stop();
    }
  });
});

test('pause and resume as a user who cannot write the state directory: an environment error (exit 3) saying to run it as root', async (t) => {
  await withTempDir('agent-pause-user', async (dir) => {
    chmodSync(dir, 0o755);
    const stateDir = path.join(dir, 'state');
    mkdirSync(stateDir, { mode: 0o755 });
    chmodSync(stateDir, 0o755);
    for (const command of ['pause', 'resume']) {
      if (command === 'resume')
        writeFileSync(
          path.join(stateDir, 'pause.json'),
          JSON.stringify({ nfgitPause: 1, by: 'root', at: new Date().toISOString(), until: null, reason: null }),
          { mode: 0o644 },
        );
      const r = await runTool(
        'setpriv',
        ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, CLI, command, '--state-dir', stateDir],
        {
          env: { PATH: SYSTEM_PATH, LC_ALL: 'C' },
        },
      );
      t.is(r.code, 3, r.stdout + r.stderr);
      t.regex(
        r.stderr,
        new RegExp(
          `cannot write the state directory ${stateDir} \\(permission denied\\): run it as root, for example sudo nfgit ${command}`,
        ),
      );
    }
    t.true(existsSync(path.join(stateDir, 'pause.json')), 'the pause is still there');
  });
});

test('pin: the host goes to the pinned commit and no further, says the branch is ahead; a pin not on the branch is a clear configuration error', async (t) => {
  await withTempDir('agent-pin', async (dir) => {
    const world = await makeAgentWorld(dir);
    try {
      await withNamedNetns(1, async ([ns]) => {
        const fw = await world.addHost('fw1', ns as string);
        const first = await world.repo.commit(BASE, { message: 'base' });
        const second = await world.repo.commit({ '20-ssh': 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n' }, { message: 'ssh' });
        const third = await world.repo.commit({ '30-web': 'iptables -A INPUT -p tcp --dport 443 -j ACCEPT\n' }, { message: 'web' });
        const settings = JSON.parse(readFileSync(fw.config, 'utf8')) as Record<string, unknown>;
        const pinTo = (pin: string | undefined): void => writeFileSync(fw.config, JSON.stringify({ ...settings, pin }));

        // Pinned (abbreviated) to the second commit: applied, the third is not.
        pinTo(second.slice(0, 9));
        let r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.true(
          logEntries(r.stdout).some((e) => e.event === 'applied' && e['commit'] === second),
          r.stdout,
        );
        const pinned = logEntries(r.stdout).find((e) => e.event === 'pinned');
        t.is(pinned?.['head'], third);
        let saves = await savesOf(ns as string);
        t.regex(saves.ipv4, /--dport 22/);
        t.notRegex(saves.ipv4, /--dport 443/);
        r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.false(logEntries(r.stdout).some((e) => e.event === 'applied'));
        const local = JSON.parse((await nfgit(['status', '--local', '--json', '--config', fw.config])).stdout) as LocalJson;
        t.deepEqual(local.pin, { configured: second.slice(0, 9), commit: second, ahead: third });
        t.is(local.running?.commit, second);

        // Pinned back to the first commit (an admin's rollback): applied although it is older.
        pinTo(first);
        r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.true(
          logEntries(r.stdout).some((e) => e.event === 'applied' && e['commit'] === first),
          r.stdout,
        );
        t.notRegex((await savesOf(ns as string)).ipv4, /--dport 22/);

        // Not on the branch, or no such commit: exit 2, the pin named, nothing changed.
        await mustRun('git', ['--git-dir', world.repo.bare, 'branch', 'side', first]);
        const side = (
          await mustRun('git', ['--git-dir', world.repo.bare, 'commit-tree', '-p', first, '-m', 'side', `${first}^{tree}`])
        ).trim();
        await mustRun('git', ['--git-dir', world.repo.bare, 'update-ref', 'refs/heads/side', side]);
        for (const [pin, why] of [
          [
            'deadbeef00',
            /pin deadbeef00: no commit of main in \S+ starts with it; set pin \(in the configuration\) to a commit of main, or remove it/,
          ],
          [side, new RegExp(`pin ${side}: (commit ${side.slice(0, 12)} is not on main|no commit of main in \\S+ has this id)`)],
        ] as const) {
          pinTo(pin);
          r = await fw.sync();
          t.is(r.exitCode, 2, r.stdout + r.stderr);
          t.regex(r.stdout, why);
        }
        saves = await savesOf(ns as string);
        t.notRegex(saves.ipv4, /--dport 22/);

        // Unpinned: the branch head again.
        pinTo(undefined);
        r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.true(
          logEntries(r.stdout).some((e) => e.event === 'applied' && e['commit'] === third),
          r.stdout,
        );
      });
    } finally {
      await world.server.stop();
    }
  });
});

test('liveness: an idle agent refreshes its current status ref hourly with a heartbeat (no tag); the fleet view marks a silent host stale', async (t) => {
  await withTempDir('agent-alive', async (dir) => {
    const world = await makeAgentWorld(dir);
    try {
      await withNamedNetns(1, async ([ns]) => {
        const fw = await world.addHost('fw1', ns as string);
        const first = await world.repo.commit(BASE, { message: 'base' });
        let r = await fw.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        const pushes = (): number => world.server.requests.filter((q) => q.path.includes('receive-pack')).length;
        const before = pushes();
        r = await fw.sync();
        t.is(pushes(), before, 'an idle pass within the hour pushes nothing');

        // An hour later (the last report moved back in agent-status.json): one heartbeat, twice: still one.
        const file = path.join(fw.stateDir, 'agent-status.json');
        const age = (): void => {
          const rec = JSON.parse(readFileSync(file, 'utf8')) as { reported: { at: string } };
          rec.reported.at = new Date(Date.now() - 3_600_000 - 1000).toISOString();
          writeFileSync(file, JSON.stringify(rec));
        };
        for (let i = 0; i < 2; i++) {
          age();
          r = await fw.sync();
          t.is(r.exitCode, 0, r.stdout + r.stderr);
          t.true(
            logEntries(r.stdout).some((e) => e.event === 'tagged'),
            r.stdout,
          );
        }
        // Heartbeats are the current status ref alone: no tag per heartbeat, the decision kept.
        const tags = await hostTags(world, 'fw1');
        t.is([...tags.values()].filter((m) => m.includes('Heartbeat: yes')).length, 0, [...tags.keys()].join(','));
        t.true(tags.has(`nfgit/fw1/${first.slice(0, 12)}`), 'the decision is kept');
        t.regex(await currentReport(world, 'fw1'), /^Heartbeat: yes$/m);

        // The fleet view: fresh by default; stale when the limit is shorter than the report's age.
        let fleet = await nfgit(['status', '--repo', world.repo.bare, '--allowed-signers', world.tagSigners, '--json']);
        t.is(fleet.exitCode, 0, fleet.stderr);
        const host = (JSON.parse(fleet.stdout) as { hosts: Array<{ stale: boolean; lastSeen: string; running: { commit: string } }> })
          .hosts[0];
        t.is(host?.stale, false);
        t.is(host?.running.commit, first);
        fleet = await nfgit(['status', '--repo', world.repo.bare, '--allowed-signers', world.tagSigners, '--stale-after', '1ms']);
        t.regex(fleet.stdout, /^1 host: .*1 stale/m);
      });
    } finally {
      await world.server.stop();
    }
  });
});

test('pause waits for a pass in flight (the agent lock) before it returns, and says so', async (t) => {
  await withTempDir('agent-pause-wait', async (dir) => {
    const lockFile = path.join(dir, 'agent.lock');
    writeFileSync(lockFile, '');
    // A pass in flight: flock holds agent.lock until its stdin closes.
    const holder = spawn('flock', ['--exclusive', lockFile, '-c', 'echo locked; exec cat >/dev/null'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
      const child = spawn(process.execPath, [CLI, 'pause', '--state-dir', dir, '--reason', 'incident'], {
        env: { PATH: SYSTEM_PATH, LC_ALL: 'C' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      let stdout = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      // 'close', not 'exit': 'exit' can come before the last of stdout has been read.
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      await new Promise<void>((resolve) =>
        child.stderr.on('data', (b: Buffer) => {
          stderr += b.toString();
          if (stderr.includes('waiting for the pass in flight')) resolve();
        }),
      );
      // The pause is written before the wait, and the command has not returned.
      t.true(existsSync(path.join(dir, 'pause.json')));
      t.is(child.exitCode, null);
      holder.stdin.end();
      t.is(await exited, 0, stderr);
      t.regex(stdout, /paused by \S+ at .*: incident/);
    } finally {
      holder.kill();
    }
  });
});
