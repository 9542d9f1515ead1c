// The rules of a commit of the followed branch, ready to compile as the agent would: fetched,
// signature verified, extracted from git objects into a temporary directory. For `nfgit diff
// --config` (what the branch head would change on this host) without applying anything.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { lockStateDir } from '../apply/state-lock.js';
import { parsePreserve, reservedChainProblem, preserveHint, type PreserveSpec } from '../netfilter/preserve.js';
import type { CompileOptions } from '../compiler/compile.js';
import { UsageError } from '../errors/errors.js';
import { branchHead, ensureCommit, extractRules, openRepository, readRawCommit } from '../git/follower.js';
import { describeVerdict, loadTrust, verifyCommit } from '../git/signing/commit-trust.js';
import { onExit } from '../util/exit-hooks.js';
import { STATE_FILE } from '../util/state-layout.js';
import type { AgentConfig } from './config.js';

/** How the agent compiles a commit's rules extracted to rulesDir: its host, vars and preserved chains; files named by their repository path. */
export function agentCompileOptions(config: AgentConfig, rulesDir: string, preserve: PreserveSpec): CompileOptions {
  return {
    rulesDir,
    displayDir: config.repository.path,
    host: config.host,
    vars: config.vars,
    args: config.args,
    reservedChain: (table, chain) => reservedChainProblem(preserve, table, chain),
    foreignChainHint: preserveHint,
  };
}

/** A commit's rules in a temporary directory; remove() deletes it. */
export interface CommitRules {
  readonly commit: string;
  readonly compile: CompileOptions;
  remove(): Promise<void>;
}

/**
 * Fetches the branch head (or `commit`, a full id on the branch's history), refuses it unless its
 * signature is trusted when signatures are required (untrusted rules are never compiled), and
 * extracts its rules directory. Holds the agent's lock meanwhile, so a running agent and this never
 * write the repository copy at once.
 */
export async function commitRules(config: AgentConfig, commit: string | undefined, lockWaitMs: number): Promise<CommitRules> {
  const trust = await loadTrust(config.trust);
  const lock = await lockStateDir(config.stateDir, 'nfgit diff', lockWaitMs, STATE_FILE.agentLock);
  let dir: string | undefined;
  const dropExit = onExit(() => {
    if (dir !== undefined) void rm(dir, { recursive: true, force: true });
  });
  try {
    const repo = await openRepository(config.repository, config.stateDir, config.repository.timeoutMs);
    const head = await branchHead(repo);
    const oid = commit ?? head;
    if (!/^[0-9a-f]{40}$/.test(oid)) throw new UsageError(`--commit ${oid}: give a full commit id (40 hex digits)`);
    await ensureCommit(repo, head);
    if (oid !== head) await ensureCommit(repo, oid);
    const verdict = await verifyCommit(await readRawCommit(repo, oid), trust);
    if (!verdict.trusted) throw new UsageError(`${describeVerdict(oid, verdict)}: nfgit does not compile it`);
    dir = await mkdtemp(path.join(tmpdir(), 'nfgit-diff-'));
    const rulesDir = path.join(dir, 'rules');
    await extractRules(repo, oid, config.repository.path, rulesDir);
    const created = dir;
    return {
      commit: oid,
      compile: agentCompileOptions(config, rulesDir, parsePreserve(config.preserve)),
      remove: async () => {
        dropExit();
        await rm(created, { recursive: true, force: true });
      },
    };
  } catch (err) {
    dropExit();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    throw err;
  } finally {
    lock.release();
  }
}
