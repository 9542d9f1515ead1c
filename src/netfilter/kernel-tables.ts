import type { Family } from '../compiler/parse-argv.js';
import { TABLE_ORDER } from '../compiler/tables.js';
import { runInScratchNetns } from '../util/sandbox.js';

/**
 * The tables this kernel offers for each family. filter, nat, mangle and raw are everywhere nfgit
 * runs; the security table needs SELinux-era modules (iptable_security) on legacy hosts, so it is
 * probed in a scratch namespace, and left out of the rendered ruleset where the kernel lacks it.
 */
export async function kernelTables(): Promise<Record<Family, string[]>> {
  const r = await runInScratchNetns(
    'iptables -t security -S >/dev/null 2>&1 && echo ipv4; ip6tables -t security -S >/dev/null 2>&1 && echo ipv6; true',
    [],
    { timeoutMs: 30_000 },
  );
  const has = new Set(r.stdout.split('\n'));
  const without = TABLE_ORDER.filter((t) => t !== 'security');
  return {
    ipv4: has.has('ipv4') ? [...TABLE_ORDER] : without,
    ipv6: has.has('ipv6') ? [...TABLE_ORDER] : without,
  };
}
