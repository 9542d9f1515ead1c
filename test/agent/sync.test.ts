import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { withNamedNetns, inNetns, savesOf } from '../helpers/named-netns.js';
import { mustRun, runTool, withTempDir } from '../git/signing/tools.js';
import { logEntries, makeAgentWorld, type AgentWorld } from './helpers/agent-env.js';

const GOOD = {
  '10-base': 'iptables -P INPUT DROP\nip6tables -P INPUT DROP\niptables -A INPUT -i lo -j ACCEPT\nip6tables -A INPUT -i lo -j ACCEPT\n',
  '20-ssh': 'for p in 22 2222; do\n  both -A INPUT -p tcp --dport $p -j ACCEPT\ndone\n',
  '05-helpers': 'both() { iptables "$@"; ip6tables "$@"; }\n',
};
const BAD = { '30-web': 'iptables -A INPUT -p tcp --dport 80 -j ACCEPT\n\niptables -A INPUT -p tcp --dporrt 443 -j ACCEPT\n' };

/** Status tags in the bare repository (name → message body). */
async function tags(world: AgentWorld): Promise<Map<string, string>> {
  const out = await mustRun('git', ['--git-dir', world.repo.bare, 'for-each-ref', '--format=%(refname:short)', 'refs/tags/nfgit/']);
  const names = out.split('\n').filter((l) => l !== '');
  const result = new Map<string, string>();
  for (const name of names)
    result.set(name, await mustRun('git', ['--git-dir', world.repo.bare, 'tag', '-l', '--format=%(contents)', name]));
  return result;
}

/** Trailers of a tag message as stock git reads them. */
async function trailers(message: string): Promise<Record<string, string[]>> {
  const body = message.split('-----BEGIN SSH SIGNATURE-----')[0] ?? '';
  const out = await mustRun('git', ['interpret-trailers', '--parse'], { input: body });
  const result: Record<string, string[]> = {};
  for (const line of out.split('\n').filter((l) => l !== '')) {
    const colon = line.indexOf(':');
    const k = line.slice(0, colon);
    (result[k] ??= []).push(line.slice(colon + 1).trim());
  }
  return result;
}

test('the agent follows a token-protected HTTPS remote: applies signed commits, refuses bad and unsigned ones, survives an outage and a stall, repairs drift, never goes backwards', async (t) => {
  await withTempDir('agent-e2e', async (dir) => {
    const world = await makeAgentWorld(dir);
    try {
      await withNamedNetns(1, async ([ns]) => {
        // More decisions than the default tags.keep: step 8 looks for the first one.
        const fw1 = await world.addHost('fw1', ns as string, { tags: { keep: 50 } });

        // 1. A good signed commit is applied and tagged; stock git verifies the tag.
        const good = await world.repo.commit(GOOD, { message: 'ssh for everyone' });
        let r = await fw1.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        const applied = await savesOf(ns as string);
        t.regex(applied.ipv4, /-A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT/);
        t.regex(applied.ipv6, /:INPUT DROP/);
        let all = await tags(world);
        const goodTag = `nfgit/fw1/${good.slice(0, 12)}`;
        t.true(all.has(goodTag), [...all.keys()].join(','));
        const tv = await runTool('git', [
          '--git-dir',
          world.repo.bare,
          '-c',
          `gpg.ssh.allowedSignersFile=${world.tagSigners}`,
          'tag',
          '-v',
          goodTag,
        ]);
        t.is(tv.code, 0, tv.stderr);
        t.regex(tv.stderr, /Good "git" signature for fw1@nfgit/);
        const tr = await trailers(all.get(goodTag) ?? '');
        t.deepEqual(tr['Result'], ['applied']);
        t.deepEqual(tr['Commit'], [good]);
        t.deepEqual(tr['Host'], ['fw1']);
        t.regex((tr['Rules-IPv4'] ?? [])[0] ?? '', /^3 /);
        // The same change counts as apply prints and diff shows.
        t.deepEqual(tr['Change-IPv4'], ['+3 -0']);
        t.deepEqual(tr['Change-IPv6'], ['+3 -0']);
        t.deepEqual(tr['Apply-Path'], ['full: no earlier apply is recorded']);

        // 2. Nothing new: no push, no new tag.
        const pushesBefore = world.server.requests.filter((q) => q.path.includes('receive-pack')).length;
        r = await fw1.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.is(world.server.requests.filter((q) => q.path.includes('receive-pack')).length, pushesBefore);
        t.is((await tags(world)).size, 1);

        // 3. A rules error: refused, host unchanged, tag with the file and line.
        const bad = await world.repo.commit(BAD, { message: 'web (typo)' });
        r = await fw1.sync();
        t.is(r.exitCode, 1, r.stdout + r.stderr);
        t.deepEqual(await savesOf(ns as string), applied);
        all = await tags(world);
        const badTr = await trailers(all.get(`nfgit/fw1/${bad.slice(0, 12)}`) ?? '');
        t.deepEqual(badTr['Result'], ['refused']);
        t.regex((badTr['Error'] ?? []).join('\n'), /rules\/30-web:3/);
        t.deepEqual(badTr['Previous'], [good]);
        // Deciding once: the next pass neither applies nor tags it again.
        r = await fw1.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.true(logEntries(r.stdout).some((e) => e.event === 'held'));

        // 4. An unsigned commit (that fixes the rules) is not applied.
        const unsigned = await world.repo.commit(
          { '30-web': 'iptables -A INPUT -p tcp --dport 443 -j ACCEPT\n' },
          { sign: false, message: 'unsigned fix' },
        );
        r = await fw1.sync();
        t.is(r.exitCode, 1, r.stdout + r.stderr);
        t.deepEqual(await savesOf(ns as string), applied);
        const untr = await trailers((await tags(world)).get(`nfgit/fw1/${unsigned.slice(0, 12)}`) ?? '');
        t.deepEqual(untr['Result'], ['untrusted']);
        t.regex((untr['Error'] ?? []).join(' '), /not signed/);

        // 5. The server down, then stalling: exit 3, nothing changes; back up: the new commit is applied.
        const fixed = await world.repo.commit({ '30-web': 'iptables -A INPUT -p tcp --dport 443 -j ACCEPT\n' }, { message: 'web, signed' });
        await world.server.stop();
        r = await fw1.sync();
        t.is(r.exitCode, 3, r.stdout + r.stderr);
        t.regex(r.stdout, /cannot reach .*ECONNREFUSED/);
        await world.server.start();
        world.server.setMode('stall');
        const started = Date.now();
        r = await fw1.sync();
        t.is(r.exitCode, 3, r.stdout + r.stderr);
        t.regex(r.stdout, /stopped answering/);
        t.true(Date.now() - started < 30_000);
        t.deepEqual(await savesOf(ns as string), applied);
        world.server.setMode('ok');
        r = await fw1.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        const withWeb = await savesOf(ns as string);
        t.regex(withWeb.ipv4, /--dport 443 -j ACCEPT/);
        t.true((await tags(world)).has(`nfgit/fw1/${fixed.slice(0, 12)}`));
        // Only the difference was applied, and the log and the tag say so.
        t.like(
          logEntries(r.stdout).find((e) => e.event === 'apply-path'),
          { path: 'incremental' },
        );
        const fixedTr = await trailers((await tags(world)).get(`nfgit/fw1/${fixed.slice(0, 12)}`) ?? '');
        t.regex((fixedTr['Apply-Path'] ?? [])[0] ?? '', /^incremental \d+$/);

        // 6. Drift: someone flushes INPUT by hand; the next sync puts the rules back.
        await inNetns(ns as string, ['iptables', '-F', 'INPUT']);
        r = await fw1.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        const entries = logEntries(r.stdout);
        t.true(
          entries.some((e) => e.event === 'drift'),
          r.stdout,
        );
        t.true(
          entries.some((e) => e.event === 'repaired'),
          r.stdout,
        );
        t.deepEqual(await savesOf(ns as string), withWeb);

        // 7. The server takes no pushes for a while: the commit is applied all the same, its tag waits
        // in the agent's copy and goes out at the next pass.
        world.server.setMode('no-push');
        const next = await world.repo.commit({ '40-dns': 'both -A INPUT -p udp --dport 53 -j ACCEPT\n' }, { message: 'dns' });
        r = await fw1.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.true(
          logEntries(r.stdout).some((e) => e.event === 'tag-failed'),
          r.stdout,
        );
        t.false((await tags(world)).has(`nfgit/fw1/${next.slice(0, 12)}`));
        world.server.setMode('ok');
        r = await fw1.sync();
        t.is(r.exitCode, 0, r.stdout + r.stderr);
        t.true((await tags(world)).has(`nfgit/fw1/${next.slice(0, 12)}`));
        const withDns = await savesOf(ns as string);

        // 8. Never backwards: a force-push of an older commit is refused and reported.
        await world.repo.git(['push', '-q', '-f', 'origin', `${good}:refs/heads/main`]);
        r = await fw1.sync();
        t.is(r.exitCode, 1, r.stdout + r.stderr);
        t.regex(r.stdout, /never goes backwards/);
        t.deepEqual(await savesOf(ns as string), withDns);
        const state = JSON.parse(readFileSync(`${fw1.stateDir}/agent.json`, 'utf8')) as { applied: { commit: string } };
        t.is(state.applied.commit, next);
        // The refusal is a new decision about an old commit: a second tag beside the first, which stays.
        const backTr = await trailers((await tags(world)).get(`nfgit/fw1/${good.slice(0, 12)}.2`) ?? '');
        t.deepEqual(backTr['Result'], ['refused']);
        t.deepEqual((await trailers((await tags(world)).get(goodTag) ?? ''))['Result'], ['applied']);
        t.true(existsSync(`${fw1.stateDir}/repo.git`));
      });
    } finally {
      await world.server.stop();
    }
  });
});
