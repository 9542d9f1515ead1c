#!/usr/bin/env node
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { checkRules, compileRules, deploy } from '../apply/deploy.js';
import { NfgitError } from '../errors/errors.js';
import { buildPlan } from '../compiler/plan.js';
import { printApply, printRecovery, reportFailure, summarize } from './output.js';
import type { ApplyOptions } from '../apply/apply.js';
import { DEFAULT_STATE_DIR } from '../apply/state-dir-default.js';
import { generateHostKey } from '../git/signing/openssh-key.js';
import { allowedSignersLine, DEFAULT_SIGNING_KEY, signerPrincipal } from '../git/signing/host-identity.js';
import { VERSION } from '../util/version.js';
import { parsePreserve } from '../apply/preserve.js';
import { collect, compileOptions, parseSeconds, withCompileFlags, type CompileFlags } from './compile-flags.js';
import { registerAgent } from './agent-commands.js';
import { registerStatus } from './status-command.js';
import { registerHooks } from './hooks-command.js';
import { registerDiff } from './diff-command.js';
import { registerVerifyCommits } from './verify-commits-command.js';
import { probationOf, registerConfirm, withProbeFlags, type ProbeFlags } from './probe-flags.js';

interface ApplyFlags {
  preserve?: string[];
  netns?: string;
  stateDir: string;
  ipv4Only?: boolean;
  lockTimeout: number;
  hostCommandTimeout: number;
  restoreTimeout: number;
  json?: boolean;
}

function applyOptions(flags: ApplyFlags, argv: string[]): ApplyOptions {
  return {
    preserve: parsePreserve(flags.preserve ?? [], '--preserve'),
    target: { netns: flags.netns },
    stateDir: flags.stateDir,
    ipv4Only: flags.ipv4Only === true,
    lockWaitMs: flags.lockTimeout * 1000,
    hostCommandTimeoutMs: flags.hostCommandTimeout * 1000,
    restoreTimeoutMs: flags.restoreTimeout * 1000,
    command: ['nfgit', ...argv.slice(2)].join(' '),
  };
}

/** Writes a file atomically: a temporary name in the same directory, then rename. */
async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

async function run(argv: string[]): Promise<number> {
  const program = new Command()
    .name('nfgit')
    .description('GitOps pull agent for netfilter: compile, stage and apply shell rule files')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();

  let code = 0;
  withCompileFlags(
    program
      .command('compile')
      .description('run the rule files with iptables/ip6tables intercepted and write rules.v4, rules.v6 and plan.json')
      .requiredOption('--out <dir>', 'directory to write rules.v4, rules.v6 and plan.json into'),
  ).action(async (flags: CompileFlags & { out: string }) => {
    try {
      const result = await compileRules(compileOptions(flags));
      const plan = buildPlan(result);
      await mkdir(flags.out, { recursive: true });
      await writeAtomic(path.join(flags.out, 'rules.v4'), result.ipv4.text);
      await writeAtomic(path.join(flags.out, 'rules.v6'), result.ipv6.text);
      // ipset restore input, loaded before rules.v4/rules.v6 (`ipset restore < ipsets`); only when there are sets.
      if (result.ipsets.sets.length > 0) await writeAtomic(path.join(flags.out, 'ipsets'), result.ipsets.text);
      else await rm(path.join(flags.out, 'ipsets'), { force: true });
      await writeAtomic(path.join(flags.out, 'plan.json'), JSON.stringify(plan, null, 1) + '\n');
      if (flags.json === true) {
        process.stdout.write(JSON.stringify({ ok: true, out: flags.out, ipv4: plan.families.ipv4.rules, ipv6: plan.families.ipv6.rules, digests: { ipv4: plan.families.ipv4.digest, ipv6: plan.families.ipv6.digest } }) + '\n');
      } else {
        process.stdout.write(`compiled ${result.rulesDir} (${result.files.length} files) into ${flags.out}\n  ${summarize(result).join('\n  ')}\n`);
      }
    } catch (err) {
      code = reportFailure(err, flags.json === true);
    }
  });

  withCompileFlags(
    program.command('check').description('compile the rule files and load both families into a throwaway network namespace to validate them'),
  )
    .option('--ipv4-only', 'validate IPv4 only (for hosts with IPv6 disabled)')
    .action(async (flags: CompileFlags & { ipv4Only?: boolean }) => {
      try {
        const result = await checkRules(compileOptions(flags), flags.ipv4Only === true);
        if (flags.json === true) {
          process.stdout.write(JSON.stringify({ ok: true, ipv4: result.ipv4.ruleCount, ipv6: result.ipv6.ruleCount }) + '\n');
        } else {
          const what = flags.ipv4Only === true ? 'IPv4 loads' : 'both families load';
          process.stdout.write(`${result.rulesDir}: OK, ${what} in a scratch namespace\n  ${summarize(result).join('\n  ')}\n`);
        }
      } catch (err) {
        code = reportFailure(err, flags.json === true);
      }
    });

  const withApplyFlags = (cmd: Command): Command =>
    cmd
      .option('--netns <name>', 'apply inside this named network namespace (ip netns) instead of the host')
      .option('--state-dir <dir>', 'journal, lock and last good ruleset', DEFAULT_STATE_DIR)
      .option('--ipv4-only', 'manage IPv4 only (for hosts with IPv6 disabled)')
      .option('--lock-timeout <seconds>', 'how long to wait for another nfgit using the state directory', parseSeconds, 60)
      .option('--host-command-timeout <seconds>', 'time limit of each main host command', parseSeconds, 30)
      .option('--restore-timeout <seconds>', 'time limit of each iptables-restore/ip6tables-restore run; one that hangs is killed and both families put back', parseSeconds, 60);

  withProbeFlags(
    withApplyFlags(
      withCompileFlags(program.command('apply').description('compile, stage, then apply both families to the host (or --netns) as one transaction and record the result as the last good ruleset')),
    ),
  ).action(async (flags: CompileFlags & ApplyFlags & ProbeFlags) => {
    try {
      const probation = probationOf(flags);
      const deployed = await deploy(compileOptions(flags), { ...applyOptions(flags, argv), ...(probation === undefined ? {} : { probation }) });
      if (!deployed.ok) throw deployed.error;
      printApply(deployed.report, `applied ${deployed.result.rulesDir} (${deployed.result.files.length} files)`, flags);
    } catch (err) {
      code = reportFailure(err, flags.json === true);
    }
  });

  withApplyFlags(
    program
      .command('restore-last')
      .description('load the last good ruleset from the state directory (at boot: no git, no network)')
      .option('--json', 'print the result as JSON on stdout')
      .option('--preserve <pattern>', 'chains of other software to leave alone, as for apply (repeatable)', collect, [])
      .option('--force', 'load into --netns (or the host) even though the last good ruleset was applied to another target'),
  ).action(async (flags: ApplyFlags & { json?: boolean; force?: boolean }) => {
    try {
      // Without --netns: the target recorded with the last good ruleset (the boot unit names none).
      const { restoreLast } = await import('../apply/apply.js');
      const report = await restoreLast(applyOptions(flags, argv), { recorded: flags.netns === undefined && flags.force !== true, force: flags.force === true });
      if (!report.restored) {
        printRecovery(report.recovery, flags.json === true);
        if (flags.json === true) process.stdout.write(JSON.stringify({ ok: true, restored: false, recovery: report.recovery }) + '\n');
        else process.stdout.write(`no last good ruleset in ${flags.stateDir}: nothing to restore\n`);
        return;
      }
      printApply(report, `restored the last good ruleset (${report.source}, applied ${report.appliedAt})`, { ...flags, netns: report.target.netns });
    } catch (err) {
      code = reportFailure(err, flags.json === true);
    }
  });

  program
    .command('keygen')
    .description("make this host's signing key (OpenSSH ed25519) for status tags, and print its allowed_signers line")
    .option('--key <file>', 'where to write the private key (the public key goes beside it, with .pub)', DEFAULT_SIGNING_KEY)
    .option('--host <name>', 'host name for the principal (default: this host name)')
    .action((flags: { key: string; host?: string }) => {
      try {
        const host = flags.host ?? os.hostname();
        const principal = signerPrincipal(host);
        mkdirSync(path.dirname(flags.key), { recursive: true, mode: 0o700 });
        const publicKey = generateHostKey(flags.key, principal);
        writeFileSync(`${flags.key}.pub`, publicKey + '\n', { mode: 0o644 });
        const line = allowedSignersLine(host, publicKey);
        process.stderr.write(`wrote ${flags.key} (private, mode 0600) and ${flags.key}.pub; add this line to the allowed_signers file that verifies status tags:\n`);
        process.stdout.write(line + '\n');
      } catch (err) {
        code = reportFailure(err, false);
      }
    });

  registerAgent(program, (n) => (code = n));
  registerStatus(program, (n) => (code = n));
  registerHooks(program, (n) => (code = n));
  registerDiff(program, (n) => (code = n));
  registerVerifyCommits(program, (n) => (code = n));
  registerConfirm(program, (n) => (code = n));

  try {
    await program.parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    if (typeof e.exitCode === 'number') return 2;
    return reportFailure(err instanceof NfgitError ? err : err, false);
  }
  return code;
}

// Signals end the process through exit handlers, which kill the sandboxes' process groups.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => process.exit(sig === 'SIGINT' ? 130 : 143));
}

process.exitCode = await run(process.argv);
