// The rules of a commit of the followed branch, ready to compile as the agent would (git/commit-rules.ts
// fetches, verifies and extracts them into a temporary directory). For `nfgit diff
// --config` (what the branch head would change on this host) without applying anything.

import { lockStateDir } from '../apply/state-lock.js';
import { parsePreserve, preserveCompileOptions, type PreserveSpec } from '../netfilter/preserve.js';
import type { CompileOptions } from '../compiler/compile.js';
import { UsageError } from '../errors/errors.js';
import { fetchVerifyExtract } from '../git/commit-rules.js';
import { branchHead, ensureCommit, openRepository } from '../git/follower.js';
import { describeVerdict, loadTrust } from '../git/signing/commit-trust.js';
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
    ...preserveCompileOptions(preserve),
  };
}

/** A commit's rules in a temporary directory; remove() deletes it. */
export interface CommitRules {
  readonly commit: string;
  readonly compile: CompileOptions;
  remove(): Promise<void>;
}

/**
 * The branch head (or `commit`, a full id on the branch's history) through fetch → verify → extract:
 * refused unless its signature is trusted when signatures are required (untrusted rules are never
 * compiled). Holds the agent's lock meanwhile, so a running agent and this never write the
 * repository copy at once.
 */
export async function commitRules(config: AgentConfig, commit: string | undefined, lockWaitMs: number): Promise<CommitRules> {
  const trust = await loadTrust(config.trust);
  const lock = await lockStateDir(config.stateDir, 'nfgit diff', lockWaitMs, STATE_FILE.agentLock);
  try {
    const repo = await openRepository(config.repository, config.stateDir, config.repository.timeoutMs);
    const head = await branchHead(repo);
    const oid = commit ?? head;
    if (!/^[0-9a-f]{40}$/.test(oid)) throw new UsageError(`--commit ${oid}: give a full commit id (40 hex digits)`);
    await ensureCommit(repo, head);
    const outcome = await fetchVerifyExtract(repo, oid, { trust, rulesPath: config.repository.path, tempPrefix: 'nfgit-diff-' });
    switch (outcome.kind) {
      case 'extracted':
        return {
          commit: oid,
          compile: agentCompileOptions(config, outcome.rules.dir, parsePreserve(config.preserve)),
          remove: outcome.rules.remove,
        };
      case 'untrusted':
        throw new UsageError(`${describeVerdict(oid, outcome.verdict)}: nfgit does not compile it`);
      case 'refused':
        throw outcome.error ?? new UsageError(outcome.why);
      case 'unextractable':
        throw outcome.error;
    }
  } finally {
    lock.release();
  }
}
