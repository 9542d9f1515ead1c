import type { Command } from './parse-argv.js';

/** Result of expansion: the commands to apply in order, or why the call is refused. */
export type Expansion = { readonly ok: true; readonly commands: readonly Command[] } | { readonly ok: false; readonly message: string };

function lists(spec: readonly string[]): { src: string[] | undefined; dst: string[] | undefined; negated: boolean } {
  let src: string[] | undefined;
  let dst: string[] | undefined;
  let negated = false;
  for (let i = 0; i < spec.length - 1; i++) {
    const t = spec[i];
    if ((t === '-s' || t === '-d') && (spec[i + 1] as string).includes(',')) {
      const parts = (spec[i + 1] as string).split(',');
      if (t === '-s') src = parts;
      else dst = parts;
      if (spec[i - 1] === '!') negated = true;
    }
  }
  return { src, dst, negated };
}

function withAddresses(spec: readonly string[], s: string | undefined, d: string | undefined): string[] {
  const out = [...spec];
  for (let i = 0; i < out.length - 1; i++) {
    if (out[i] === '-s' && s !== undefined) out[i + 1] = s;
    else if (out[i] === '-d' && d !== undefined) out[i + 1] = d;
  }
  return out;
}

/**
 * `-s A,B -d C,D` stands for one rule per address pair, as the iptables command expands it
 * (sources outer, destinations inner). `-I` inserts each at the same position, so they end up in
 * reverse order, as with the real tool; `-C` and `-D` check or delete each; `-R` refuses lists.
 */
export function expandAddressLists(cmd: Command): Expansion {
  if (cmd.op !== 'append' && cmd.op !== 'insert' && cmd.op !== 'check' && cmd.op !== 'delete-spec' && cmd.op !== 'replace') {
    return { ok: true, commands: [cmd] };
  }
  const { src, dst, negated } = lists(cmd.spec);
  if (src === undefined && dst === undefined) return { ok: true, commands: [cmd] };
  if (negated) return { ok: false, message: '"!" cannot be used with a list of addresses (-s/-d with commas); write one rule per address' };
  if (cmd.op === 'replace')
    return { ok: false, message: '-R needs a rule with a single source and destination address, not a comma-separated list' };
  const commands: Command[] = [];
  for (const s of src ?? [undefined]) {
    for (const d of dst ?? [undefined]) {
      commands.push({ ...cmd, spec: withAddresses(cmd.spec, s, d) });
    }
  }
  return { ok: true, commands };
}
