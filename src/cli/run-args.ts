// The flags of `nfgit run` as run-command.ts reads them without commander (see there).

import { LOG_FORMATS, LOG_LEVELS } from '../agent/log.js';
import type { RunFlags } from './run-daemon.js';

/** The flags of `nfgit run` (agent-commands.ts withAgentFlags), or undefined for anything else. */
export function parseRunArgs(args: readonly string[]): RunFlags | undefined {
  let config: string | undefined;
  const flags: { -readonly [K in keyof RunFlags]?: RunFlags[K] } = { lockTimeout: 600, preserve: [] };
  const preserve: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string | undefined => inline ?? (i + 1 < args.length && !(args[i + 1] ?? '').startsWith('-') ? args[++i] : undefined);
    if (name === '--allow-rewrite' || name === '--retry') {
      if (inline !== undefined) return undefined;
      if (name === '--retry') flags.retry = true;
      else flags.allowRewrite = true;
      continue;
    }
    const v = value();
    if (v === undefined) return undefined;
    if (name === '--config') config = v;
    else if (name === '--log-format') {
      const f = LOG_FORMATS.find((x) => x === v);
      if (f === undefined) return undefined;
      flags.logFormat = f;
    } else if (name === '--log-level') {
      const l = LOG_LEVELS.find((x) => x === v);
      if (l === undefined) return undefined;
      flags.logLevel = l;
    } else if (name === '--lock-timeout') {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n) || n < 0) return undefined;
      flags.lockTimeout = n;
    } else if (name === '--preserve') preserve.push(v);
    else return undefined;
  }
  if (config === undefined) return undefined;
  return { ...flags, config, lockTimeout: flags.lockTimeout ?? 600, preserve };
}
