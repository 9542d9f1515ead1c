import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NfgitErrors, RuleError, SandboxError } from '../errors/errors.js';
import type { RenderedIpsets } from '../compiler/render-ipset.js';
import { onExit } from '../util/exit-hooks.js';
import { runInScratchNetns } from '../util/sandbox.js';

/** What `ipset restore` said: the input line it blames (if any) and the message. */
export interface IpsetRestoreFailure {
  readonly line: number | undefined;
  readonly message: string;
}

/**
 * The error for an `ipset` that is not installed (a shell's 127, "not found"), or undefined: the
 * host's environment, not the rules, is what is wrong (exit 3), and the message names the package.
 */
export function ipsetMissing(code: number | null, stderr: string): SandboxError | undefined {
  if (code !== 127 && !/ipset: (not found|No such file)|exec of "ipset" failed: No such file/.test(stderr)) return undefined;
  return new SandboxError(
    'the rules use ipset sets, and the ipset command is not installed on this host (or not on PATH): install it (apt-get install ipset) and run nfgit again',
  );
}

/** Reads ipset restore's stderr: `ipset v7.17: Error in line N: MESSAGE`. */
export function parseIpsetRestoreError(stderr: string): IpsetRestoreFailure {
  const text = stderr.trim();
  const m = /Error in line (\d+): (.*)/.exec(text);
  if (m !== null) return { line: Number(m[1]), message: (m[2] as string).trim() };
  return { line: undefined, message: text.replace(/^ipset v[\d.]+:\s*/, '') || 'ipset restore failed without saying why' };
}

/**
 * Loads the sets alone into a throwaway namespace, so the kernel validates every type, option and
 * element; maps a failure back to the `ipset` call through the source map. Throws NfgitErrors.
 */
export async function stageIpsets(ipsets: RenderedIpsets): Promise<void> {
  if (ipsets.text === '') return;
  const r = await runInScratchNetns('exec ipset restore', [], { input: ipsets.text });
  if (r.code === 0) return;
  const missing = ipsetMissing(r.code, r.stderr);
  if (missing !== undefined) throw missing;
  const f = parseIpsetRestoreError(r.stderr);
  const trace = f.line === undefined ? [] : (ipsets.sourceMap.get(f.line) ?? []);
  throw new NfgitErrors([new RuleError(`ipset: ${f.message}`, { trace })]);
}

/**
 * Stages the sets, then runs `fn` with a shell prefix that loads them into a staging namespace before
 * its rules (sets are per network namespace, and a rule matching a missing set is refused). The prefix
 * is empty when there are no sets; the file it reads is removed afterwards.
 */
export async function withIpsetFile<T>(ipsets: RenderedIpsets | undefined, fn: (pre: string) => Promise<T>): Promise<T> {
  if (ipsets === undefined || ipsets.text === '') return fn('');
  await stageIpsets(ipsets);
  const dir = await mkdtemp(path.join(tmpdir(), 'nfgit-ipsets-'));
  const drop = onExit(() => rmSync(dir, { recursive: true, force: true }));
  try {
    const file = path.join(dir, 'ipsets');
    await writeFile(file, ipsets.text);
    // Readable from a user namespace too (non-root staging).
    await chmod(dir, 0o755);
    return await fn(`ipset restore -file '${file}' || exit 97; `);
  } finally {
    drop();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The kernel's form of the sets (`ipset save` after loading them into a throwaway namespace): what the
 * target will show once they are applied. Run after staging, which reports bad sets at their line.
 */
export async function savedIpsets(ipsets: RenderedIpsets): Promise<string> {
  if (ipsets.text === '') return '';
  const r = await runInScratchNetns('ipset restore || exit $?; exec ipset save', [], { input: ipsets.text });
  if (r.code !== 0)
    throw (
      ipsetMissing(r.code, r.stderr) ??
      new SandboxError(`loading the sets into a scratch namespace to read them back failed: ${parseIpsetRestoreError(r.stderr).message}`)
    );
  return r.stdout;
}
