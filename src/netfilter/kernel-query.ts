// Answers a rule file's query (`iptables -L`, `-S`, `iptables-save`, `ipset list`, `ipset save`) with
// the real tool's own output: the ruleset the rule files have built so far is loaded into a scratch
// network namespace and the tool is run there with the rule file's arguments. The output is then
// exactly what the same script would see run for real (same format, canonical spellings, exit status).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runInScratchNetns } from '../util/sandbox.js';

/** What the queried tool did: its exit status and output. */
export interface QueryResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The state to load before the query: `ipset restore` input, and restore input for the tool's family. */
export interface QueryState {
  readonly ipsets: string;
  readonly restore: { readonly tool: string; readonly text: string } | undefined;
}

const SCRIPT = `sets=$1; rules=$2; tool=$3; shift 3
[ ! -s "$sets" ] || ipset restore -f "$sets" || { echo "nfgit: the sets built so far did not load" >&2; exit 125; }
[ -z "$tool" ] || "$tool-restore" "$rules" || { echo "nfgit: the rules built so far did not load" >&2; exit 125; }
exec "$@"`;

/** Runs `argv` (a netfilter tool and its arguments) in a scratch namespace holding `state`. */
export async function queryKernel(state: QueryState, argv: readonly string[]): Promise<QueryResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'nfgit-query-'));
  try {
    const sets = path.join(dir, 'sets');
    const rules = path.join(dir, 'rules');
    await writeFile(sets, state.ipsets);
    await writeFile(rules, state.restore?.text ?? '');
    const r = await runInScratchNetns(SCRIPT, [sets, rules, state.restore?.tool ?? '', ...argv], { timeoutMs: 60_000 });
    return { code: r.code ?? 1, stdout: r.stdout, stderr: r.stderr };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
