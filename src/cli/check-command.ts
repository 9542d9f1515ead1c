// `nfgit check`: compile, then load the managed families into scratch namespaces (what hooks run on every push).

import type { Command } from 'commander';
import { checkRules } from '../apply/deploy.js';
import { compileOptions, withCompileFlags, type CompileFlags } from './compile-flags.js';
import { summarize } from './output.js';

/** Adds `nfgit check`. */
export function registerCheck(program: Command): void {
  withCompileFlags(
    program
      .command('check')
      .description('compile the rule files and load both families into a throwaway network namespace to validate them'),
  )
    .option('--ipv4-only', 'validate IPv4 only (for hosts with IPv6 disabled)')
    .action(async (flags: CompileFlags & { ipv4Only?: boolean }) => {
      const result = await checkRules(compileOptions(flags), flags.ipv4Only === true);
      if (flags.json === true) {
        process.stdout.write(JSON.stringify({ ok: true, ipv4: result.ipv4.ruleCount, ipv6: result.ipv6.ruleCount }) + '\n');
      } else {
        const what = flags.ipv4Only === true ? 'IPv4 loads' : 'both families load';
        process.stdout.write(`${result.rulesDir}: OK, ${what} in a scratch namespace\n  ${summarize(result).join('\n  ')}\n`);
      }
    });
}
