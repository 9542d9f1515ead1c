import { parsePreserve } from '../netfilter/preserve.js';
import type { Command } from 'commander';
import { UsageError } from '../errors/errors.js';
import { compileOptions, withCompileFlags, type CompileFlags } from './compile-flags.js';
import { failsWith } from './failure.js';

interface DiffFlags extends Omit<CompileFlags, 'rules'> {
  rules?: string;
  config?: string;
  commit?: string;
  netns?: string;
  ipv4Only?: boolean;
  stateDir?: string;
}

/** Adds `nfgit diff`: what applying the rules would change on the host or in a named namespace. */
export function registerDiff(program: Command, setCode: (n: number) => void): void {
  // diff(1)'s and `flux diff`'s exit codes: 0 nothing would change, 1 something would, 2 trouble
  // (usage, wrong rules), 3 the environment failed, 70 a bug.
  withCompileFlags(
    failsWith(program.command('diff'), () => ({ exitCode: (code) => (code === 1 ? 2 : code) })).description(
      'show what applying the rules (--rules DIR, or the branch head of the agent with --config FILE) would change on the host (or --netns), per family, table and chain; exit 0 if nothing, 1 if something would change, 2 on error',
    ),
    false,
  )
    .option(
      '--config <file>',
      "instead of --rules: the agent's configuration; diff the branch head (or --commit) against the host or namespace it manages",
    )
    .option('--commit <id>', 'with --config: a full commit id instead of the branch head')
    .option('--netns <name>', 'compare with this named network namespace (ip netns) instead of the host')
    .option('--ipv4-only', 'compare IPv4 only (for hosts with IPv6 disabled)')
    .option(
      '--state-dir <dir>',
      "with --rules: the state directory whose last-good.json names the sets nfgit owns on the target (default /var/lib/nfgit); with --config, the configuration's",
    )
    .action(async (flags: DiffFlags) => {
      const [
        { compileRules },
        { diffAgainstTarget, diffSetsAgainstTarget, ownedSetsOf },
        { renderFamilyDiff },
        { checkTarget, targetOf, targetToJson },
        { FAMILY_NAME },
        { countSets, renderSetDiff },
        { DEFAULT_STATE_DIR },
      ] = await Promise.all([
        import('../apply/deploy.js'),
        import('../apply/diff-target.js'),
        import('../netfilter/ruleset-diff.js'),
        import('../netfilter/target.js'),
        import('../compiler/parse-argv.js'),
        import('../netfilter/set-diff.js'),
        import('../util/state-layout.js'),
      ]);
      if ((flags.rules === undefined) === (flags.config === undefined))
        throw new UsageError('give either --rules DIR or --config FILE (the agent: its branch head)');
      if (flags.commit !== undefined && flags.config === undefined) throw new UsageError('--commit needs --config');
      let target = targetOf(flags.netns);
      let ipv4Only = flags.ipv4Only === true;
      let preserve = parsePreserve(flags.preserve, '--preserve');
      let stateDir = flags.stateDir ?? DEFAULT_STATE_DIR;
      let result;
      if (flags.config !== undefined) {
        const { loadConfig } = await import('../agent/config.js');
        const { commitRules } = await import('../agent/commit-rules.js');
        const config = await loadConfig(flags.config);
        if (flags.netns === undefined) target = config.target;
        ipv4Only ||= config.ipv4Only;
        stateDir = config.stateDir;
        preserve = parsePreserve([...config.preserve, ...flags.preserve], '--preserve');
        checkTarget(target);
        const rules = await commitRules(config, flags.commit, 60_000);
        try {
          result = await compileRules({ ...rules.compile, timeoutMs: flags.timeout * 1000 });
        } finally {
          await rules.remove();
        }
        if (flags.json !== true) process.stdout.write(`commit ${rules.commit} of ${config.repository.branch}:\n`);
      } else {
        checkTarget(target);
        result = await compileRules(compileOptions({ ...flags, rules: flags.rules ?? '' }));
      }
      const diffs = await diffAgainstTarget(result, { target, ipv4Only, preserve, stateDir });
      const families = (['ipv4', 'ipv6'] as const).flatMap((f) => (diffs[f] === undefined ? [] : [[f, diffs[f]] as const]));
      // Sets: those the rules create and those nfgit owns there now (apply destroys the ones the rules dropped).
      const sets = await diffSetsAgainstTarget(result, target, ownedSetsOf(stateDir, target));
      const setCounts = countSets(sets ?? []);
      const changed = families.some(([, d]) => d.changed) || (sets?.length ?? 0) > 0;
      if (flags.json === true) {
        const sum = (pick: (c: (typeof families)[number][1]['change']) => number): number =>
          families.reduce((n, [, d]) => n + pick(d.change), 0);
        const counts = {
          rulesAdded: sum((c) => c.rulesAdded),
          rulesRemoved: sum((c) => c.rulesRemoved),
          chainsAdded: sum((c) => c.chainsAdded.length),
          chainsRemoved: sum((c) => c.chainsRemoved.length),
          policiesChanged: sum((c) => c.policiesChanged.length),
          setsAdded: setCounts.setsAdded.length,
          setsRemoved: setCounts.setsRemoved.length,
          setMembersAdded: setCounts.membersAdded,
          setMembersRemoved: setCounts.membersRemoved,
        };
        process.stdout.write(
          JSON.stringify({
            ok: true,
            changed,
            target: targetToJson(target),
            families: Object.fromEntries(families),
            sets: sets ?? [],
            counts,
          }) + '\n',
        );
      } else {
        const lines = families.flatMap(([f, d]) => renderFamilyDiff(FAMILY_NAME[f], d));
        if (sets !== undefined && sets.length === 0) lines.push('ipsets: no change');
        if (sets !== undefined && sets.length > 0) {
          const parts = [`ipsets: +${setCounts.membersAdded} -${setCounts.membersRemoved} members`];
          if (setCounts.setsAdded.length > 0) parts.push(`sets added: ${setCounts.setsAdded.join(', ')}`);
          if (setCounts.setsRemoved.length > 0) parts.push(`sets removed: ${setCounts.setsRemoved.join(', ')}`);
          lines.push(parts.join('; '), ...renderSetDiff(sets));
        }
        process.stdout.write(lines.join('\n') + '\n');
      }
      setCode(changed ? 1 : 0);
    });
}
