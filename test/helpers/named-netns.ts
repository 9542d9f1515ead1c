import { execa } from 'execa';
import { randomBytes } from 'node:crypto';

/**
 * Runs `fn` with `count` fresh named network namespaces (`ip netns add nfgit-t-<random>-<i>`), and
 * deletes them on every path. Tests apply rules to these, never to the machine's own namespace.
 */
export async function withNamedNetns<T>(count: number, fn: (names: string[]) => Promise<T>): Promise<T> {
  const base = `nfgit-t-${randomBytes(4).toString('hex')}`;
  const names: string[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const name = `${base}-${i}`;
      await execa('ip', ['netns', 'add', name]);
      names.push(name);
    }
    return await fn(names);
  } finally {
    for (const name of names) await execa('ip', ['netns', 'del', name], { reject: false });
  }
}

/** Runs a command inside a named namespace; throws with its stderr when it fails. */
export async function inNetns(netns: string, argv: readonly string[], options: { input?: string } = {}): Promise<string> {
  const r = await execa('ip', ['netns', 'exec', netns, ...argv], {
    reject: false,
    ...(options.input === undefined ? {} : { input: options.input }),
  });
  if (r.exitCode !== 0) throw new Error(`ip netns exec ${netns} ${argv.join(' ')} failed (${r.exitCode}): ${r.stderr}`);
  return r.stdout;
}

/** iptables-save / ip6tables-save of a namespace without the "# Generated…" comments and counters, for exact comparison. */
export interface NamespaceSaves {
  readonly ipv4: string;
  readonly ipv6: string;
}

const stripVolatile = (save: string): string =>
  save
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ''))
    .join('\n');

/** Both families' saves of a namespace (comments and counters removed: they change with time and traffic). */
export async function savesOf(netns: string): Promise<NamespaceSaves> {
  return { ipv4: stripVolatile(await inNetns(netns, ['iptables-save'])), ipv6: stripVolatile(await inNetns(netns, ['ip6tables-save'])) };
}
