import { existsSync } from 'node:fs';
import path from 'node:path';
import { SandboxError } from '../errors/errors.js';
import { TOOL, type Family } from '../compiler/parse-argv.js';
import { hasRules } from './save-text.js';
import { runInTarget, type Target } from './target.js';
import { shellWord } from '../util/waiting-shells.js';

/** Which iptables the host uses, and the save/restore tools that go with it. */
export interface Backend {
  readonly kind: 'nf_tables' | 'legacy';
  /** The real `nft`, to delete a table that a failed apply created (undefined: not on this host). */
  readonly nft: string | undefined;
}

/** The save and restore commands for a family (the ones on PATH, checked against the backend). */
export function saveTool(family: Family): string {
  return `${TOOL[family]}-save`;
}
/** See saveTool. */
export function restoreTool(family: Family): string {
  return `${TOOL[family]}-restore`;
}

/**
 * Runs every probe in one process in the target (each through `ip netns exec` would be a process of
 * its own, and each spawn from a large nfgit process costs milliseconds of its main thread): for each,
 * its standard output and exit status, by name; undefined for all when the shell itself cannot run.
 */
async function probe(
  target: Target,
  commands: ReadonlyArray<readonly [name: string, argv: readonly string[]]>,
  /** More of the script, after the commands (it may call `probe NAME COMMAND...` itself). */
  more: readonly string[] = [],
): Promise<Map<string, { out: string; code: number }>> {
  const script = [
    'probe() { name=$1; shift; printf \'\\n@@nfgit-probe %s\\n\' "$name"; "$@" 2>/dev/null; printf \'\\n@@nfgit-status %s\\n\' "$?"; }',
    ...commands.map(([name, argv]) => `probe ${shellWord(name)} ${argv.map(shellWord).join(' ')} </dev/null`),
    ...more,
  ].join('\n');
  const found = new Map<string, { out: string; code: number }>();
  let r;
  try {
    r = await runInTarget(target, ['sh', '-c', script], { timeoutMs: 60_000 });
  } catch {
    return found;
  }
  const re = /\n@@nfgit-probe ([^\n]*)\n([\s\S]*?)\n@@nfgit-status (\d+)\n/g;
  for (const m of r.stdout.matchAll(re)) found.set(m[1] as string, { out: m[2] as string, code: Number(m[3]) });
  return found;
}

/** The version line a probe printed, if it ran and succeeded. */
function versionIn(found: Map<string, { out: string; code: number }>, name: string): string | undefined {
  const p = found.get(name);
  return p === undefined || p.code !== 0 ? undefined : p.out.trim();
}

/**
 * The candidates for `nft`, in order: the first that is nftables' own wins (npx puts node_modules/.bin
 * first on PATH, where an unrelated program called nft may live).
 */
function nftCandidates(): string[] {
  const dirs = [...new Set([...(process.env['PATH'] ?? '').split(':').filter((d) => d.startsWith('/')), '/usr/sbin', '/sbin'])];
  return dirs.map((dir) => path.join(dir, 'nft')).filter((file) => existsSync(file));
}

function kindOf(version: string | undefined): 'nf_tables' | 'legacy' | undefined {
  if (version === undefined) return undefined;
  if (version.includes('(nf_tables)')) return 'nf_tables';
  if (version.includes('(legacy)')) return 'legacy';
  return undefined;
}

/**
 * Detects the backend of `iptables` (Debian alternatives: iptables-nft or iptables-legacy), checks that
 * the save and restore tools on PATH are the same one, and refuses a host where the other backend
 * also has rules loaded: two rulesets would both filter packets, and nfgit would manage only one.
 */
export async function detectBackend(target: Target, families: readonly Family[]): Promise<Backend> {
  const other = (kind: string): string => (kind === 'nf_tables' ? 'legacy' : 'nft');
  const tools = families.flatMap((f) => [saveTool(f), restoreTool(f)]);
  const nfts = nftCandidates();
  // The other backend's save tools, for rules it has loaded (both backends may be installed; each
  // prints its own tables): in the same process, chosen there by what `iptables --version` says.
  const otherSaves = [
    `case "$(iptables --version 2>/dev/null)" in *'(nf_tables)'*) other=legacy ;; *'(legacy)'*) other=nft ;; *) other= ;; esac`,
    ...families.map((f) => `[ -z "$other" ] || probe ${shellWord(`other-save ${f}`)} "${TOOL[f]}-$other-save" </dev/null`),
  ];
  const found = await probe(
    target,
    [
      ['iptables', ['iptables', '--version']],
      ...nfts.map((file): [string, string[]] => [file, [file, '--version']]),
      ...tools.map((tool): [string, string[]] => [tool, [tool, '--version']]),
    ],
    otherSaves,
  );
  const main = versionIn(found, 'iptables');
  const nft = nfts.find((file) => /^nftables v\d/.test(versionIn(found, file) ?? ''));
  const versions = tools.map((tool) => versionIn(found, tool));
  const kind = kindOf(main);
  if (kind === undefined) {
    throw new SandboxError(
      main === undefined
        ? 'iptables is not installed or does not run (install the iptables package)'
        : `cannot tell the backend of iptables from "${main}"`,
    );
  }
  tools.forEach((tool, i) => {
    const v = versions[i];
    if (v === undefined) {
      const hint = tool.startsWith('ip6') ? '; on a host without IPv6, use --ipv4-only' : '';
      throw new SandboxError(`${tool} is missing or does not run${hint}`);
    }
    const k = kindOf(v);
    if (k !== undefined && k !== kind) {
      throw new SandboxError(
        `${tool} is the ${k} backend but iptables is ${kind}: point both at the same backend (update-alternatives --config iptables)`,
      );
    }
  });
  const others = families.map((family) => {
    const tool = `${TOOL[family]}-${other(kind)}-save`;
    const r = found.get(`other-save ${family}`);
    return { family, tool, loaded: r !== undefined && r.code === 0 && hasRules(r.out) };
  });
  for (const { family, tool, loaded } of others) {
    if (!loaded) continue;
    throw new SandboxError(
      `both iptables backends have rules loaded (${kind} is the one in use, but ${tool} shows rules too): packets pass both rulesets, and nfgit manages only the ${kind} one. Flush the ${other(kind)} rules (${TOOL[family]}-${other(kind)} -F; -X; for every table) or switch backends, then retry`,
    );
  }
  return { kind, nft: kind === 'nf_tables' ? nft : undefined };
}
