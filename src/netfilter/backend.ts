import { existsSync } from 'node:fs';
import path from 'node:path';
import { SandboxError } from '../errors/errors.js';
import { TOOL, type Family } from '../compiler/parse-argv.js';
import { hasRules } from './save-text.js';
import { runInTarget, type Target } from './target.js';

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

async function versionOf(target: Target, tool: string): Promise<string | undefined> {
  try {
    const r = await runInTarget(target, [tool, '--version'], { timeoutMs: 30_000 });
    return r.code === 0 ? r.stdout.trim() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The first `nft` on PATH (then /usr/sbin, /sbin) that is nftables' own: npx puts node_modules/.bin
 * first on PATH, where an unrelated program called nft may live.
 */
async function findNft(target: Target): Promise<string | undefined> {
  const dirs = [...new Set([...(process.env['PATH'] ?? '').split(':').filter((d) => d.startsWith('/')), '/usr/sbin', '/sbin'])];
  for (const dir of dirs) {
    const file = path.join(dir, 'nft');
    if (!existsSync(file)) continue;
    if (/^nftables v\d/.test((await versionOf(target, file)) ?? '')) return file;
  }
  return undefined;
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
  // Every probe at once: each is a process (through ip netns exec), and they do not depend on each other.
  const [main, nft, ...versions] = await Promise.all([
    versionOf(target, 'iptables'),
    findNft(target),
    ...tools.map((tool) => versionOf(target, tool)),
  ]);
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
  const others = await Promise.all(
    families.map(async (family) => {
      const tool = `${TOOL[family]}-${other(kind)}-save`;
      const r = await runInTarget(target, [tool], { timeoutMs: 60_000 }).catch(() => undefined);
      return { family, tool, loaded: r !== undefined && r.code === 0 && hasRules(r.stdout) };
    }),
  );
  for (const { family, tool, loaded } of others) {
    if (!loaded) continue;
    throw new SandboxError(
      `both iptables backends have rules loaded (${kind} is the one in use, but ${tool} shows rules too): packets pass both rulesets, and nfgit manages only the ${kind} one. Flush the ${other(kind)} rules (${TOOL[family]}-${other(kind)} -F; -X; for every table) or switch backends, then retry`,
    );
  }
  return { kind, nft: kind === 'nf_tables' ? nft : undefined };
}
