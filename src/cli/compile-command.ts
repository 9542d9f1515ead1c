// `nfgit compile`: the rule files into rules.v4, rules.v6, ipsets and plan.json, nothing loaded.

import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { compile } from '../compiler/compile.js';
import { kernelServices } from '../netfilter/kernel-services.js';
import { digestOf, planJson } from '../compiler/plan.js';
import { compileOptions, withCompileFlags, type CompileFlags } from './compile-flags.js';
import { summarize } from './output.js';
import { makeDirs } from '../util/make-dirs.js';

/** Writes a file atomically: a temporary name in the same directory, then rename. */
async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

/** Adds `nfgit compile`. */
export function registerCompile(program: Command): void {
  withCompileFlags(
    program
      .command('compile')
      .description('run the rule files with iptables/ip6tables intercepted and write rules.v4, rules.v6 and plan.json')
      .requiredOption('--out <dir>', 'directory to write rules.v4, rules.v6 and plan.json into'),
  ).action(async (flags: CompileFlags & { out: string }) => {
    // compile itself, not apply/deploy.ts's compileRules (the same call): the apply modules stay unloaded.
    const result = await compile(compileOptions(flags), kernelServices);
    await makeDirs(flags.out);
    // The files are independent: written at once (each atomically), not one after the other.
    await Promise.all([
      writeAtomic(path.join(flags.out, 'rules.v4'), result.ipv4.text),
      writeAtomic(path.join(flags.out, 'rules.v6'), result.ipv6.text),
      // ipset restore input, loaded before rules.v4/rules.v6 (`ipset restore < ipsets`); only when there are sets.
      result.ipsets.sets.length > 0
        ? writeAtomic(path.join(flags.out, 'ipsets'), result.ipsets.text)
        : rm(path.join(flags.out, 'ipsets'), { force: true }),
      writeAtomic(path.join(flags.out, 'plan.json'), planJson(result)),
    ]);
    if (flags.json === true) {
      process.stdout.write(
        JSON.stringify({
          ok: true,
          out: flags.out,
          // As plan.json says them.
          ipv4: result.ipv4.ruleCount,
          ipv6: result.ipv6.ruleCount,
          digests: { ipv4: digestOf(result.ipv4.text), ipv6: digestOf(result.ipv6.text) },
        }) + '\n',
      );
    } else {
      process.stdout.write(
        `compiled ${result.rulesDir} (${result.files.length} files) into ${flags.out}\n  ${summarize(result).join('\n  ')}\n`,
      );
    }
  });
}
