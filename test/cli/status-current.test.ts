import test from 'ava';
import { execa } from 'execa';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeDecision } from '../git/helpers/write-decision.js';
import { statusRecord } from '../git/helpers/status-record.js';
import type { HostKey } from '../../src/git/signing/openssh-key.js';
import { startGitServer } from '../helpers/git-server.js';
import { CLI } from '../helpers/paths.js';
import { makeRulesRepo } from '../helpers/rules-repo.js';
import { mustRun, withTempDir } from '../git/signing/tools.js';
import { hostKey } from '../helpers/host-key.js';

// `nfgit status` on a repository with current status refs (refs/nfgit/hosts/HOST): the summary line,
// the filters, --history, --json, and a clone that fetched the refs.

const nfgit = (args: string[], cwd: string, columns = '100') =>
  execa('node', [CLI, ...args], { reject: false, cwd, env: { HOME: cwd, GIT_CONFIG_GLOBAL: '/dev/null', COLUMNS: columns } });

/** Three hosts on a bare repository: web1 at the head, web2 refused it (a long, multi-line error), db1 behind. */
async function fleet(dir: string) {
  const repo = await makeRulesRepo(dir);
  const c1 = await repo.commit({ '10-base': 'iptables -P INPUT ACCEPT\n' });
  const c2 = await repo.commit({ '10-base': 'iptables -P INPUT DROP\n' });
  const signers = path.join(dir, 'allowed_signers');
  writeFileSync(signers, '');
  const keys = Object.fromEntries(['web1', 'web2', 'db1'].map((h) => [h, hostKey(dir, h, signers)]));
  await writeDecision(repo.bare, statusRecord('web1', c1, 0), keys['web1'] as HostKey);
  await writeDecision(repo.bare, statusRecord('web1', c2, 5, { previous: c1 }), keys['web1'] as HostKey);
  const long = `rules/10-base:1: ${'a very long explanation '.repeat(8)}`;
  const w2 = await writeDecision(repo.bare, statusRecord('web2', c1, 1), keys['web2'] as HostKey);
  await writeDecision(
    repo.bare,
    statusRecord('web2', c2, 6, { result: 'refused', previous: c1, errors: [`${long}\n  called from rules/00-init:2`] }),
    keys['web2'] as HostKey,
  );
  await writeDecision(repo.bare, statusRecord('db1', c1, 2), keys['db1'] as HostKey);

  return { repo, c1, c2, signers, keys, long, w2 };
}

test('nfgit status from current refs: summary line, columns, --host, --failed, --stale, --json, --history', async (t) => {
  await withTempDir('status-current', async (dir) => {
    const { repo, c1, signers, long, w2 } = await fleet(dir);
    const all = await nfgit(['status', '--repo', repo.bare, '--allowed-signers', signers, '--stale-after', '100000d'], dir, '120');
    t.is(all.exitCode, 0, all.stderr);
    t.is(all.stderr, '');
    const lines = all.stdout.split('\n');
    t.regex(lines[1] ?? '', /^HOST +RUNS +HEAD +REPORT +SEEN \(UTC\) +SIGNATURE +DETAIL$/);
    t.regex(all.stdout, /^db1 +[0-9a-f]{12} +no +applied +2025-03-01 12:02 +good$/m);
    t.regex(all.stdout, /^web2 +[0-9a-f]{12} +no +refused [0-9a-f]{12} +2025-03-01 12:06 +good +rules\/10-base:1: a very long .*…$/m);
    t.true(
      lines.every((l) => l.length <= 120),
      all.stdout,
    );
    t.regex(all.stdout, /^3 hosts: 1 at head, 1 refused, 1 behind$/m);

    // --host: errors whole; --failed; --stale.
    const web = await nfgit(['status', '--repo', repo.bare, '--host', 'web*', '--failed'], dir);
    t.is(web.exitCode, 0, web.stderr);
    t.deepEqual(
      web.stdout
        .split('\n')
        .filter((l) => /^(web|db)\w* /.test(l))
        .map((l) => l.split(' ')[0]),
      ['web2'],
    );
    t.true(web.stdout.includes(long.trimEnd()));
    t.regex(web.stdout, /^web2: error: rules\/10-base:1: .*\n {4}called from rules\/00-init:2$/m);
    const stale = await nfgit(['status', '--repo', repo.bare, '--stale', '1h', '--json'], dir);
    t.is(JSON.parse(stale.stdout).hosts.length, 3);

    // --json: the new fields, the whole error.
    const json = await nfgit(['status', '--repo', repo.bare, '--json', '--allowed-signers', signers], dir);
    const out = JSON.parse(json.stdout) as {
      source: string;
      summary: Record<string, number>;
      hosts: Array<{ host: string; runs: string; category: string; report: { errors: string[]; previousTag: { name: string } } }>;
    };
    t.is(out.source, 'current');
    t.like(out.summary, { hosts: 3, 'at-head': 1, refused: 1, behind: 1 });
    const web2 = out.hosts.find((h) => h.host === 'web2');
    t.like(web2, { runs: c1, category: 'refused' });
    t.deepEqual(web2?.report.errors, [`${long}\n  called from rules/00-init:2`]);
    t.is(web2?.report.previousTag.name, w2.name);

    // --history walks web2's reports.
    const hist = await nfgit(['status', '--repo', repo.bare, '--host', 'web2', '--history', '--allowed-signers', signers], dir);
    t.is(hist.exitCode, 0, hist.stderr);
    t.regex(hist.stdout, /^2025-03-01 12:06 UTC +refused +[0-9a-f]{12} +nfgit\/web2\/[0-9a-f]{12} +good +current +rules\/10-base:1: /m);
    t.regex(hist.stdout, /^2025-03-01 12:01 UTC +applied +[0-9a-f]{12} +nfgit\/web2\/[0-9a-f]{12} +good +link$/m);
    const badHist = await nfgit(['status', '--repo', repo.bare, '--host', 'web*', '--history'], dir);
    t.is(badHist.exitCode, 2);
    t.regex(badHist.stderr, /--history shows one host: name it with --host HOST/);

    const histJson = JSON.parse((await nfgit(['status', '--repo', repo.bare, '--host', 'web2', '--history', '--json'], dir)).stdout) as {
      host: string;
      history: Array<{ via: string; tag: string; result: string }>;
    };
    t.like(histJson, { host: 'web2' });
    t.deepEqual(
      histJson.history.map((e) => [e.via, e.result]),
      [
        ['current', 'refused'],
        ['link', 'applied'],
      ],
    );
    t.is(histJson.history[1]?.tag, w2.name);
  });
});

test('nfgit status from current refs: a forged report fails the status; over HTTP; a clone told to fetch the refs', async (t) => {
  await withTempDir('status-current-forged', async (dir) => {
    const { repo, c1, signers, keys } = await fleet(dir);
    // db1's key speaking for web1: not believed, exit 1 for the hosts read (--host chooses those; --failed, --stale only hide lines).
    const c3 = await repo.commit({ '10-base': 'iptables -P OUTPUT DROP\n' });
    await writeDecision(repo.bare, statusRecord('web1', c3, 9), keys['db1'] as HostKey);
    const forged = await nfgit(['status', '--repo', repo.bare, '--allowed-signers', signers, '--stale', '100000d'], dir);
    t.is(forged.exitCode, 1, forged.stderr);
    t.regex(forged.stdout, /^web1 /m);
    const others = await nfgit(['status', '--repo', repo.bare, '--allowed-signers', signers, '--host', 'db*'], dir);
    t.is(others.exitCode, 0, others.stderr);
    const shown = await nfgit(
      ['status', '--repo', repo.bare, '--allowed-signers', signers, '--failed', '--stale-after', '100000d'],
      dir,
      '160',
    );
    t.regex(shown.stdout, /^web1 +\(none\) +no +- +- +wrong-host +not believed: signature wrong-host$/m);
    t.regex(
      shown.stdout,
      /^web1: ignored nfgit\/web1\/[0-9a-f]{12}: signature wrong-host: signed by .*, which allowed_signers lists for db1@nfgit, not web1@nfgit$/m,
    );
    t.regex(shown.stdout, /^2 hosts: 1 refused, 1 signature failure$/m);
    t.is(shown.exitCode, 1);

    // Over HTTP: one listing and one fetch (the adapter until the wire module lands).
    const server = await startGitServer({ root: dir });
    try {
      const http = await nfgit(
        ['status', '--json', '--repo', `${server.url}/fw.git`, '--allowed-signers', signers, '--host', 'web2,db1'],
        dir,
      );
      t.is(http.exitCode, 0, http.stderr);
      const h = JSON.parse(http.stdout) as { head: string; hosts: Array<{ host: string; runs: string }> };
      t.is(h.head, c3);
      t.deepEqual(
        h.hosts.map((x) => [x.host, x.runs]),
        [
          ['db1', c1],
          ['web2', c1],
        ],
      );
    } finally {
      await server.stop();
    }

    // A clone: git clone does not fetch refs/nfgit/*; the tag view and the hint, then the refs fetched as the hint says.
    const clone = path.join(dir, 'clone');
    await mustRun('git', ['clone', '-q', repo.bare, clone]);
    await mustRun('git', ['-C', clone, 'fetch', '-q', '--tags']);
    const before = await nfgit(['status'], clone);
    t.regex(before.stderr, /no current status refs .* git fetch origin '\+refs\/nfgit\/\*:refs\/nfgit\/\*'/);
    await mustRun('git', ['-C', clone, 'fetch', '-q', 'origin', '+refs/nfgit/*:refs/nfgit/*']);
    const after = await nfgit(['status', '--json'], clone);
    t.is(after.stderr, '');
    t.is((JSON.parse(after.stdout) as { source: string }).source, 'current');
  });
});
