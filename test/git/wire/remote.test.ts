import test from 'ava';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fetchInto, fetchObjects, listRefs, pushRefs, wireCounters, wireRemote, ProtocolError } from '../../../src/git/wire/remote.js';
import { objectId, readPack, applyDelta } from '../../../src/git/wire/pack-read.js';
import { writePack } from '../../../src/git/wire/pack-write.js';
import { startGitServer } from '../../helpers/git-server.js';
import { makeRulesRepo } from '../../helpers/rules-repo.js';
import { mustRun, withTempDir } from '../signing/tools.js';

const ZERO = '0'.repeat(40);

/** A tag object's content, as git writes one (unsigned). */
function tagText(object: string, name: string, message: string): Buffer {
  return Buffer.from(`object ${object}\ntype commit\ntag ${name}\ntagger nfgit <fw1@nfgit> 1700000000 +0000\n\n${message}\n`);
}

test('ls-refs lists only the prefixes asked for; a fetch sends what is wanted minus what the client has', async (t) => {
  await withTempDir('wire', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const first = await repo.commit({ '10-base': 'iptables -P INPUT ACCEPT\n' });
    await repo.git(['tag', 'nfgit/fw1/one', first]);
    await repo.git(['tag', 'nfgit/fw10/one', first]);
    await repo.git(['push', '-q', 'origin', '--tags']);
    const second = await repo.commit({ '20-web': 'iptables -A INPUT -p tcp --dport 80 -j ACCEPT\n' });
    const server = await startGitServer({ root: dir, token: 't0ken' });
    try {
      const remote = wireRemote(`${server.url}/fw.git`, { credentials: { username: 'nfgit', password: 't0ken' } });
      const refs = await listRefs(remote, ['refs/tags/nfgit/fw1/', 'refs/heads/main']);
      t.deepEqual([...refs.keys()].sort(), ['refs/heads/main', 'refs/tags/nfgit/fw1/one']);
      t.is(refs.get('refs/heads/main'), second);

      // The whole history, into a fresh bare repository, then only what is new.
      const copy = path.join(dir, 'copy.git');
      await mustRun('git', ['init', '-q', '--bare', copy]);
      const all = await fetchInto(remote, copy, { wants: [first] });
      t.true(all >= 3);
      const fresh = await fetchInto(remote, copy, { wants: [second], haves: [first] });
      // Without the have, the same want brings both commits' objects again.
      const whole = path.join(dir, 'whole.git');
      await mustRun('git', ['init', '-q', '--bare', whole]);
      const full = await fetchInto(remote, whole, { wants: [second] });
      t.true(fresh < full, `only the new commit's objects: ${fresh} of ${full}`);
      t.is(full, all + fresh, 'with the have, nothing the copy had came again');
      t.is((await mustRun('git', ['--git-dir', copy, 'cat-file', '-t', second])).trim(), 'commit');
      await mustRun('git', ['--git-dir', copy, 'fsck', '--no-dangling', second]);

      // In memory, shallow: the commit without its parent.
      const objs = await fetchObjects(remote, { wants: [second], depth: 1 });
      t.truthy(objs.get(second));
      t.false(objs.has(first));
      for (const [oid, o] of objs) t.is(objectId(o.type, o.content), oid);

      // No credentials: refused, as an HTTP status the error mapping knows.
      const anon = wireRemote(`${server.url}/fw.git`);
      const err = await t.throwsAsync(listRefs(anon, ['refs/heads/']));
      t.is((err as { data?: { statusCode?: number } }).data?.statusCode, 401);
      t.true(wireCounters(remote).requests >= 4);
    } finally {
      await server.stop();
    }
  });
});

test('a push sends its commands without the ref advertisement: create, update with the old value, stale old values refused, delete', async (t) => {
  await withTempDir('wire-push', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const head = await repo.commit({ '10-base': 'iptables -P INPUT ACCEPT\n' });
    // Many refs of other hosts: the push must not read them.
    const refs = Array.from({ length: 2000 }, (_, i) => `create refs/tags/nfgit/h${i}/x ${head}`).join('\n') + '\n';
    await mustRun('git', ['--git-dir', repo.bare, 'update-ref', '--stdin'], { input: refs });
    const server = await startGitServer({ root: dir, token: 't0ken' });
    try {
      const remote = wireRemote(`${server.url}/fw.git`, { credentials: { username: 'nfgit', password: 't0ken' } });
      const a = { type: 'tag' as const, content: tagText(head, 'nfgit/fw1/a', 'first') };
      const b = { type: 'tag' as const, content: tagText(head, 'nfgit/fw1/b', 'second') };
      const aid = objectId(a.type, a.content);
      const bid = objectId(b.type, b.content);
      const before = wireCounters(remote).received;
      const r1 = await pushRefs(
        remote,
        [
          { ref: 'refs/tags/nfgit/fw1/a', old: null, new: aid },
          { ref: 'refs/nfgit/hosts/fw1', old: null, new: aid },
        ],
        [a],
      );
      t.true([...r1.values()].every((r) => r.ok));
      t.true(wireCounters(remote).received - before < 1000, 'the answer is a short report, not 2,000 refs');
      t.is((await mustRun('git', ['--git-dir', repo.bare, 'rev-parse', 'refs/nfgit/hosts/fw1'])).trim(), aid);
      t.is((await mustRun('git', ['--git-dir', repo.bare, 'cat-file', 'tag', aid])).includes('first'), true);

      // A stale old value: refused, and atomically nothing else moves.
      const r2 = await pushRefs(
        remote,
        [
          { ref: 'refs/tags/nfgit/fw1/b', old: null, new: bid },
          { ref: 'refs/nfgit/hosts/fw1', old: ZERO.replace(/0$/, '1'), new: bid },
        ],
        [b],
      );
      t.false([...r2.values()].every((r) => r.ok));
      t.is((await mustRun('git', ['--git-dir', repo.bare, 'rev-parse', 'refs/nfgit/hosts/fw1'])).trim(), aid);
      await t.throwsAsync(mustRun('git', ['--git-dir', repo.bare, 'rev-parse', '--verify', '-q', 'refs/tags/nfgit/fw1/b']));

      // Move and delete (a delete-only push carries no pack).
      const r3 = await pushRefs(remote, [{ ref: 'refs/nfgit/hosts/fw1', old: aid, new: bid }], [b]);
      t.true(r3.get('refs/nfgit/hosts/fw1')?.ok);
      const r4 = await pushRefs(remote, [{ ref: 'refs/tags/nfgit/fw1/a', old: aid, new: null }], []);
      t.true(r4.get('refs/tags/nfgit/fw1/a')?.ok);
      await t.throwsAsync(mustRun('git', ['--git-dir', repo.bare, 'rev-parse', '--verify', '-q', 'refs/tags/nfgit/fw1/a']));
      t.false(
        server.requests.some((r) => r.path.includes('service=git-receive-pack')),
        'no ref advertisement was asked for',
      );
    } finally {
      await server.stop();
    }
  });
});

test('packs: written packs read back; deltas apply; a pack cut short or altered is an error', (t) => {
  const objs = [
    { type: 'blob' as const, content: randomBytes(3000) },
    { type: 'tag' as const, content: tagText('a'.repeat(40), 'x', 'hello') },
  ];
  const pack = writePack(objs);
  const read = readPack(pack);
  t.is(read.size, 2);
  for (const o of objs) t.deepEqual(read.get(objectId(o.type, o.content))?.content, o.content);
  t.throws(() => readPack(pack.subarray(0, pack.length - 5)));
  const altered = Buffer.from(pack);
  altered[20] = (altered[20] ?? 0) ^ 1;
  t.throws(() => readPack(altered));
  // base "hello world", delta: copy 0..6 ("hello "), insert "there"
  const delta = Buffer.from([11, 11, 0x90, 6, 5, ...Buffer.from('there')]);
  t.is(applyDelta(Buffer.from('hello world'), delta).toString(), 'hello there');
  t.throws(() => applyDelta(Buffer.from('short'), delta));
});

test('an answer cut short is an error, never a shorter answer', async (t) => {
  await withTempDir('wire-cut', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const head = await repo.commit({ '10-base': 'iptables -P INPUT ACCEPT\n' });
    const server = await startGitServer({ root: dir });
    try {
      server.setMode('truncate');
      const remote = wireRemote(`${server.url}/fw.git`);
      await t.throwsAsync(listRefs(remote, ['refs/heads/']), { instanceOf: ProtocolError });
      await t.throwsAsync(fetchObjects(remote, { wants: [head] }), { instanceOf: ProtocolError });
    } finally {
      await server.stop();
    }
  });
});

test('a request git http-backend refuses for its size (over 10 MiB) is an error, never an empty answer', async (t) => {
  await withTempDir('wire-big', async (dir) => {
    const repo = await makeRulesRepo(dir);
    const head = await repo.commit({ '10-base': 'iptables -P INPUT ACCEPT\n' });
    const server = await startGitServer({ root: dir });
    try {
      const remote = wireRemote(`${server.url}/fw.git`);
      // 230,000 wants of 50 bytes: 11.5 MB of request body.
      const wants = [head, ...Array.from({ length: 230_000 }, (_, i) => i.toString(16).padStart(40, 'a'))];
      const err = await t.throwsAsync(fetchObjects(remote, { wants }), { instanceOf: ProtocolError });
      t.regex(err?.message ?? '', /empty answer to a request of \d+ bytes/);
    } finally {
      await server.stop();
    }
  });
});

test("every request has a connection of its own: never Node's global keep-alive agent, whose reused sockets race a server closing idle ones", async (t) => {
  const { createServer } = await import('node:http');
  let connections = 0;
  const oid = 'a'.repeat(40);
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/x-git-upload-pack-result' });
      const line = `${oid} refs/heads/main\n`;
      res.end(`${(line.length + 4).toString(16).padStart(4, '0')}${line}0000`);
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as { port: number };
    const remote = wireRemote(`http://127.0.0.1:${port}/fw.git`);
    for (let i = 0; i < 3; i++) t.is((await listRefs(remote, ['refs/heads/main'])).get('refs/heads/main'), oid);
    t.is(connections, 3);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
