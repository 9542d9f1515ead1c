// The validated configuration as JSON and back: `nfgit run` validates its configuration in a child
// process (config.ts, with zod and yaml, which the daemon must not load: issue 15) that prints it so,
// and hands it to each pass's child process the same way. Everything in AgentConfig is JSON but the
// target, whose host namespace is `netns: undefined`.

import type { AgentConfig } from './config.js';

/** The configuration as one line of JSON. */
export function configToJson(config: AgentConfig): string {
  return JSON.stringify({ ...config, target: { netns: config.target.netns ?? null } });
}

/** The configuration configToJson wrote. */
export function configFromJson(text: string): AgentConfig {
  const v = JSON.parse(text) as Omit<AgentConfig, 'target'> & { target: { netns: string | null } };
  return { ...v, target: { netns: v.target.netns ?? undefined } };
}
