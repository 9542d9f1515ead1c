// The ipset edge: the one parser of `ipset save` text and every ipset command line (save, restore,
// destroy), so that the transaction (apply/) and the comparisons (set-diff) share them.
import { SandboxError } from '../errors/errors.js';
import { ipsetMissing, parseIpsetRestoreError } from './stage-ipsets.js';
import { describeTarget, runInTarget, type Target } from './target.js';
import type { ProcessResult } from '../util/run-process.js';

/** One set of an `ipset save` or of nfgit's rendering: its create words after the name, and its add lines' words. */
export interface SavedSet {
  readonly name: string;
  readonly type: string;
  readonly family: string | undefined;
  /** `TYPE options…` as written (quoted words kept as they are). */
  readonly create: string;
  /** The words after the set's name of each add line, in order. */
  readonly adds: readonly string[];
}

/** Parses `ipset save` output (and nfgit's own restore input, which has the same form), in order. */
export function parseIpsetSave(text: string): SavedSet[] {
  const sets = new Map<string, { name: string; type: string; family: string | undefined; create: string; adds: string[] }>();
  for (const line of text.split('\n')) {
    const m = /^(create|add) (\S+) (.*)$/.exec(line.trim());
    if (m === null) continue;
    const [, kind, name, rest] = m as unknown as [string, string, string, string];
    if (kind === 'create') {
      const words = rest.split(' ');
      const fi = words.indexOf('family');
      sets.set(name, { name, type: words[0] ?? '', family: fi >= 0 ? words[fi + 1] : undefined, create: rest, adds: [] });
    } else {
      sets.get(name)?.adds.push(rest);
    }
  }
  return [...sets.values()];
}

/** Runs ipset in the target; a missing ipset (spawn's ENOENT on the host) is the shell's 127, as in a namespace. */
async function runIpset(target: Target, argv: readonly string[], options: { input?: string } = {}): Promise<ProcessResult> {
  try {
    return await runInTarget(target, argv, options);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return { code: 127, signal: undefined, stdout: '', stderr: 'ipset: not found', timedOut: false };
  }
}

/** `ipset save` of the target. */
export async function saveSets(target: Target): Promise<string> {
  const r = await runIpset(target, ['ipset', 'save']);
  if (r.code !== 0)
    throw (
      ipsetMissing(r.code, r.stderr) ??
      new SandboxError(`ipset save failed in ${describeTarget(target)}: ${r.stderr.trim() || `exit status ${r.code}`}`)
    );
  return r.stdout;
}

/** Runs ipset restore input in the target; `what` says what it was doing, for the message. */
export async function restoreSets(target: Target, script: string, what: string): Promise<void> {
  if (script === '') return;
  const r = await runIpset(target, ['ipset', 'restore'], { input: script });
  if (r.code !== 0)
    throw (
      ipsetMissing(r.code, r.stderr) ??
      new SandboxError(`ipset restore failed while ${what} in ${describeTarget(target)}: ${parseIpsetRestoreError(r.stderr).message}`)
    );
}

/** Destroys one set of the target; the tool's error output when it could not (a set in use, say). */
export async function destroySet(target: Target, name: string): Promise<{ readonly ok: boolean; readonly stderr: string }> {
  const r = await runIpset(target, ['ipset', 'destroy', name]);
  return { ok: r.code === 0, stderr: r.stderr };
}
