// The bench's command line: `npm run bench -- [options]` (usage below).

import { resolve } from 'node:path';
import { MIN_RULES } from './generate.js';

/** The parts of the rules section (--sections). */
export type Section = 'rules' | 'compile' | 'calls' | 'incremental';
const SECTIONS: readonly Section[] = ['rules', 'compile', 'calls', 'incremental'];

/** What the command line asks for. */
export interface Options {
  sizes: number[];
  runs: number;
  sequentialAll: boolean;
  timeoutSeconds: number;
  emit: string | undefined;
  /** Run the compile/check/apply sections (false with --agent-only). */
  rules: boolean;
  /** Which of them (--sections; default all). */
  sections: Set<Section>;
  /** Run the agent section (false with --no-agent). */
  agent: boolean;
  /** Run the fleet section instead (--fleet, --fleet-sizes, --agents: test/bench/fleet-bench.ts). */
  fleet: boolean;
  /** Fleet sizes (hosts) to measure. */
  fleetSizes: number[];
  /** Numbers of concurrent agents to measure against the 1,000-host repository. */
  agents: number[];
}

const USAGE = `usage: npm run bench -- [--sizes 1000,10000,50000] [--runs 3] [--sequential-all]
                              [--sections rules,compile,calls,incremental]
                              [--timeout SECONDS] [--emit DIR] [--agent-only | --no-agent]
       npm run bench -- --fleet [--fleet-sizes 100,1000,5000] [--agents 10,30] [--timeout SECONDS]
  --sizes N,N,...     rule counts to measure (default 1000,10000,50000)
  --runs K            runs per measurement; cells are the median (default 3)
  --sequential-all    run the (quadratic) sequential iptables baseline at every size, not only 1000
  --sections S,...    which parts of the rules section to run (default all):
                        rules        baselines, nfgit compile, check and apply --full (the main table)
                        compile      only the zsh no-op floor and nfgit compile of the main table
                                     (part of rules; for work on compile speed)
                        calls        compile of literal calls and of calls through variables, each
                                     against its own zsh no-op floor
                        incremental  one-rule and 1% changes applied incrementally and with --full,
                                     against the seed script (run at the start of each of its rounds)
  --timeout SECONDS   limit for one run of one measurement (default 900; sequential: scaled up)
  --emit DIR          write the generated rule directories to DIR/N and exit
  --agent-only        only the agent section: idle poll, idle daemon memory, push to applied
                      (--runs pushes per ruleset size)
  --no-agent          skip the agent section
  --fleet             only the fleet section (.bench/fleet.md): nfgit status, agent passes and
                      concurrent agents against repositories holding the status of many hosts
  --fleet-sizes N,... host counts of the fleet section (default 100,1000,5000; 0 skips them; implies --fleet)
  --agents K,...      concurrent agents of the fleet section (default 10,30; 0 skips them; implies --fleet)`;

/** Parses the bench's arguments; a bad one prints the usage and exits 2. */
export function parseOptions(argv: string[]): Options {
  const o: Options = {
    sizes: [1000, 10000, 50000],
    runs: 3,
    sequentialAll: false,
    timeoutSeconds: 900,
    emit: undefined,
    rules: true,
    sections: new Set(SECTIONS),
    agent: true,
    fleet: false,
    fleetSizes: [100, 1000, 5000],
    agents: [10, 30],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const [flag, inline] =
      a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') fail(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    const positiveInt = (v: string): number => {
      if (!/^\d+$/.test(v) || Number(v) <= 0) fail(`${flag}: not a positive integer: ${v}`);
      return Number(v);
    };
    switch (flag) {
      case '--sizes':
        o.sizes = value()
          .split(',')
          .map((s) => positiveInt(s.trim()));
        break;
      case '--runs':
        o.runs = positiveInt(value());
        break;
      case '--sections':
        o.sections = parseSections(value());
        break;
      case '--sequential-all':
        o.sequentialAll = true;
        break;
      case '--timeout':
        o.timeoutSeconds = positiveInt(value());
        break;
      case '--emit':
        o.emit = resolve(value());
        break;
      case '--agent-only':
        o.rules = false;
        break;
      case '--no-agent':
        o.agent = false;
        break;
      case '--fleet':
        o.fleet = true;
        break;
      case '--fleet-sizes': {
        o.fleet = true;
        const v = value();
        o.fleetSizes = v === '0' ? [] : v.split(',').map((s) => positiveInt(s.trim()));
        break;
      }
      case '--agents': {
        o.fleet = true;
        const v = value();
        o.agents = v === '0' ? [] : v.split(',').map((s) => positiveInt(s.trim()));
        break;
      }
      case '-h':
      case '--help':
        process.stdout.write(USAGE + '\n');
        process.exit(0);
        break;
      default:
        fail(`unknown argument: ${a}\n${USAGE}`);
    }
  }
  return checked(o);
}

/** The options, once the ones that do not go together are refused. */
function checked(o: Options): Options {
  if (!o.rules && !o.agent) fail('--agent-only and --no-agent together leave nothing to measure');
  for (const n of o.sizes) if (n < MIN_RULES) fail(`--sizes: the generator needs at least ${MIN_RULES} rules (got ${n})`);
  return o;
}

/** --sections: a comma-separated list of SECTIONS. */
function parseSections(v: string): Set<Section> {
  const names = v.split(',').map((x) => x.trim());
  const bad = names.filter((x) => !(SECTIONS as readonly string[]).includes(x));
  if (bad.length > 0) fail(`--sections: unknown section ${bad.join(', ')} (known: ${SECTIONS.join(', ')})`);
  return new Set(names as Section[]);
}

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}
