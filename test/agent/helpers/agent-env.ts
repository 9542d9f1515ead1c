// An agent set-up for end-to-end tests: a rules repository served by a real git server (token
// protected), a host signing key made by `nfgit keygen`, a state directory, a configuration file,
// and the built CLI run as root against a scratch named network namespace.

import { execa } from 'execa';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI } from '../../helpers/paths.js';
import { startGitServer, type GitServer } from '../../helpers/git-server.js';
import { makeRulesRepo, type RulesRepo } from '../../helpers/rules-repo.js';
import { SYSTEM_PATH } from '../../apply/helpers/netns-apply.js';

/** One host's agent: its configuration, state directory and key. */
export interface AgentHost {
  readonly host: string;
  readonly netns: string;
  readonly config: string;
  readonly stateDir: string;
  /** The trigger file of `nfgit run` (the config's `trigger`, in a directory of its own). */
  readonly trigger: string;
  /** Runs `nfgit sync --config …` (extra arguments after). */
  sync(...args: string[]): Promise<CliResult>;
}

/** The shared parts: repository, server, the allowed_signers file that verifies status tags. */
export interface AgentWorld {
  readonly dir: string;
  readonly repo: RulesRepo;
  readonly server: GitServer;
  readonly url: string;
  readonly tokenFile: string;
  /** allowed_signers for status tags: every host added by addHost is in it. */
  readonly tagSigners: string;
  addHost(host: string, netns: string, extra?: Record<string, unknown>): Promise<AgentHost>;
}

/** What a CLI run left. */
export interface CliResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built CLI with the system PATH. */
export async function nfgit(args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const r = await execa(process.execPath, [CLI, ...args], {
    reject: false,
    env: { PATH: SYSTEM_PATH, LC_ALL: 'C' },
    extendEnv: false,
    timeout: options.timeoutMs ?? 180_000,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Makes the world in dir (a temporary directory the caller removes); stop the server when done. */
export async function makeAgentWorld(dir: string, options: { token?: string; local?: boolean } = {}): Promise<AgentWorld> {
  const repo = await makeRulesRepo(dir);
  const token = options.token ?? 'tok-' + Math.random().toString(36).slice(2);
  const server = await startGitServer({ root: dir, token });
  const tokenFile = path.join(dir, 'token');
  writeFileSync(tokenFile, token + '\n', { mode: 0o600 });
  const tagSigners = path.join(dir, 'tag_signers');
  writeFileSync(tagSigners, '');
  const url = options.local === true ? repo.bare : `${server.url}/fw.git`;
  return {
    dir,
    repo,
    server,
    url,
    tokenFile,
    tagSigners,
    async addHost(host, netns, extra = {}) {
      const home = path.join(dir, `host-${host}`);
      const stateDir = path.join(home, 'state');
      mkdirSync(stateDir, { recursive: true });
      const trigger = path.join(home, 'run', 'trigger');
      const key = path.join(home, 'signing_key');
      const kg = await nfgit(['keygen', '--key', key, '--host', host]);
      if (kg.exitCode !== 0) throw new Error(`keygen failed: ${kg.stderr}`);
      appendFileSync(tagSigners, kg.stdout.trim() + '\n');
      const config = path.join(home, 'config.yaml');
      const settings = {
        repository: { url, branch: 'main', path: 'rules', ...(options.local === true ? {} : { tokenFile }), timeout: '2s' },
        host,
        netns,
        stateDir,
        trigger,
        poll: { interval: '1h' },
        reconcile: { schedule: '0 0 1 1 *', mode: 'repair' },
        signing: { key },
        trust: { requireSignedCommits: true, allowedSigners: repo.allowedSigners },
        vars: { ROLE: 'edge' },
        ...extra,
      };
      writeFileSync(config, JSON.stringify(settings, null, 2));
      return {
        host,
        netns,
        config,
        stateDir,
        trigger,
        sync: (...args: string[]) => nfgit(['sync', '--config', config, '--log-format', 'json', ...args]),
      };
    },
  };
}

/** The JSON log lines of a run, parsed. */
export function logEntries(stdout: string): Array<{ level: string; event: string; message: string; [k: string]: unknown }> {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: string; event: string; message: string });
}
