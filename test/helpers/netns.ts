import { readFileSync } from 'node:fs';
import path from 'node:path';
import { runInScratchNetns } from '../../src/util/sandbox.js';
import { listRuleFiles } from '../../src/compiler/rule-files.js';
import { chooseShell } from '../../src/compiler/rule-shell.js';

/** iptables-save and ip6tables-save of a namespace after some action. */
export interface SavedRulesets {
  readonly ipv4: string;
  readonly ipv6: string;
}

const SAVE_BOTH = `iptables-save && printf '\\n@@nfgit-v6@@\\n' && ip6tables-save`;

function split(stdout: string): SavedRulesets {
  const [ipv4 = '', ipv6 = ''] = stdout.split('\n@@nfgit-v6@@\n');
  return { ipv4, ipv6 };
}

/** The seed's second method, as the oracle: runs the rule files with the REAL iptables in a fresh namespace, then saves. */
export async function realRun(absDir: string, host = 'testhost'): Promise<SavedRulesets> {
  const files = await listRuleFiles(absDir);
  const choice = chooseShell(files.map((f) => ({ name: f, firstLine: readFileSync(f, 'latin1').split('\n')[0] ?? '' })));
  if (!choice.ok) throw new Error(`no shell for ${absDir}: ${choice.message}`);
  if (choice.shell === 'bash')
    return realBashRun(
      absDir,
      host,
      files.map((f, i) => [choice.modes[i] ?? 'bash', path.resolve(f)]),
    );
  const script = `cd "$1" && env -i LC_ALL=C PATH="$PATH" HOME=/nonexistent NFGIT_HOST="$2" NFGIT_RULES_DIR="$1" zsh -fc '
emulate -R zsh; setopt errexit
main() { : }
for f in "$1"/*(N.on); do
  [[ \${f:t} =~ "^[.a-zA-Z0-9_-]+\\$" && \${f:t} != .* ]] || continue
  . $f
done' nfgit-oracle "$1" >&2 && ${SAVE_BOTH}`;
  const r = await runInScratchNetns(script, [absDir, host], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`the real run of ${absDir} failed (${r.code}): ${r.stderr.slice(-2000)}`);
  return split(r.stdout);
}

/**
 * The same for a bash directory: the files sourced in order into one bash with errexit, sh files in
 * POSIX mode (as rule-shell.ts decides), with no positional parameters.
 */
async function realBashRun(absDir: string, host: string, files: string[][]): Promise<SavedRulesets> {
  const script = `cd "$1" && h=$2 && shift 2 && env -i LC_ALL=C PATH="$PATH" HOME=/nonexistent NFGIT_HOST="$h" NFGIT_RULES_DIR="$PWD" bash --norc --noprofile -c '
set -e
main() { :; }
__o_files=("$@")
set --
for (( __o_i = 0; __o_i < \${#__o_files[@]}; __o_i += 2 )); do
  if [[ \${__o_files[__o_i]} == sh ]]; then set -o posix; fi
  . "\${__o_files[__o_i+1]}"
  set +o posix
done' nfgit-oracle "$@" >&2 && ${SAVE_BOTH}`;
  const r = await runInScratchNetns(script, [absDir, host, ...files.flat()], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`the real bash run of ${absDir} failed (${r.code}): ${r.stderr.slice(-2000)}`);
  return split(r.stdout);
}

/** Loads restore input for both families into a fresh namespace and saves it back. */
export async function loadAndSave(ipv4: string, ipv6: string): Promise<SavedRulesets> {
  const script = `iptables-restore "$1" && ip6tables-restore "$2" && ${SAVE_BOTH}`;
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const dir = await mkdtemp(path.join(tmpdir(), 'nfgit-test-'));
  try {
    await writeFile(path.join(dir, 'v4'), ipv4);
    await writeFile(path.join(dir, 'v6'), ipv6);
    const r = await runInScratchNetns(script, [path.join(dir, 'v4'), path.join(dir, 'v6')], { timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(`loading nfgit's output failed (${r.code}): ${r.stderr.slice(-2000)}`);
    return split(r.stdout);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Normalizes iptables-save output for comparison: drops comments and counters, drops tables that are
 * empty with default policies (nft creates a table on first touch, so "absent" and "empty" are the same
 * ruleset), sorts tables and user chains by name, keeping the order of rules within each chain.
 */
export function normalizeSave(text: string): string {
  const tables = new Map<string, { decls: string[]; rules: Map<string, string[]> }>();
  let cur: { decls: string[]; rules: Map<string, string[]> } | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      cur = { decls: [], rules: new Map() };
      tables.set(line.slice(1), cur);
    } else if (line === 'COMMIT') {
      cur = undefined;
    } else if (cur !== undefined && line.startsWith(':')) {
      cur.decls.push(line.replace(/ \[\d+:\d+\]$/, ''));
    } else if (cur !== undefined && line.startsWith('-A ')) {
      const chain = line.split(' ')[1] as string;
      const body = line.replace(/^\[\d+:\d+\] /, '');
      const list = cur.rules.get(chain) ?? [];
      list.push(body);
      cur.rules.set(chain, list);
    } else {
      throw new Error(`unexpected line in iptables-save output: ${line}`);
    }
  }
  const out: string[] = [];
  for (const name of [...tables.keys()].sort()) {
    const t = tables.get(name) as { decls: string[]; rules: Map<string, string[]> };
    const empty = t.rules.size === 0 && t.decls.every((d) => / ACCEPT$/.test(d));
    if (empty) continue;
    out.push(`*${name}`, ...[...t.decls].sort());
    for (const chain of [...t.rules.keys()].sort()) out.push(...(t.rules.get(chain) as string[]));
    out.push('COMMIT');
  }
  return out.join('\n');
}
