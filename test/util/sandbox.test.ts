import test from 'ava';
import type { ChildProcess } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { spawnInScratchNetns, startScratchShells } from '../../src/util/sandbox.js';
import { bytesOf } from '../../src/util/text-bytes.js';

// Shells started ahead in scratch namespaces (staging's, while the rule files run) run the script
// they are given as a shell spawned for it would, with the same input, in a namespace of their own.
// Serial: the shells started ahead are the module's, shared by the tests of this file.

/** Runs a child to its end: its exit code, stdout and stderr. */
function finish(child: ChildProcess): Promise<{ code: number | null; out: string; err: string }> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString('utf8')));
  child.stderr?.on('data', (b: Buffer) => (err += b.toString('utf8')));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

/** The network namespace a script ran in (its inode), and what it read from stdin. */
const SCRIPT = 'readlink /proc/self/ns/net; wc -c; exit 3';

test.serial('a shell started ahead runs the script with the input, in a namespace of its own, as a spawned one does', async (t) => {
  const { release } = startScratchShells(2);
  try {
    const input = 'x'.repeat(200_000);
    const a = await finish(spawnInScratchNetns(SCRIPT, input));
    const b = await finish(spawnInScratchNetns(SCRIPT, [bytesOf('abc'), bytesOf('\ndef\n')]));
    // Both taken: the third is spawned for its script.
    const c = await finish(spawnInScratchNetns(SCRIPT, ''));
    for (const r of [a, b, c]) t.is(r.code, 3, r.err);
    t.is(a.out.split('\n')[1]?.trim(), '200000');
    t.is(b.out.split('\n')[1]?.trim(), '8');
    t.is(c.out.split('\n')[1]?.trim(), '0');
    // Not this process's namespace; the two started ahead, alive at once, not each other's (a namespace's
    // inode number is reused once it is gone, so the third is not compared with them).
    const host = readlinkSync('/proc/self/ns/net');
    const [na, nb, nc] = [a, b, c].map((r) => r.out.split('\n')[0]);
    for (const ns of [na, nb, nc]) t.true(ns !== undefined && ns.startsWith('net:[') && ns !== host, ns);
    t.not(na, nb);
    const own = await finish(spawnInScratchNetns('exit 0', ''));
    t.is(own.code, 0);
  } finally {
    release();
  }
});

test.serial('shells not taken end when released; a script of several lines is never given to one', async (t) => {
  const { shells, release } = startScratchShells(1);
  const [shell] = shells;
  if (shell === undefined) return t.fail();
  const ended = finish(shell);
  const several = await finish(spawnInScratchNetns('echo one\necho two', ''));
  t.is(several.out, 'one\ntwo\n');
  t.is(shell.exitCode, null, 'still waiting');
  release();
  t.deepEqual(await ended, { code: 0, out: '', err: '' });
  // Released: the next script gets a shell of its own.
  const next = await finish(spawnInScratchNetns('echo $0', ''));
  t.is(next.out, 'nfgit-sandbox\n');
});
