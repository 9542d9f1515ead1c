// A state directory for tests of the state files that need no kernel, and a last good ruleset to put in it.

import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { withTempDir } from '../git/signing/tools.js';
import type { LastGood } from '../../src/apply/state-files.js';
import { digestOf } from '../../src/compiler/plan.js';

/** Runs fn with a fresh state directory (0700, `state` in a temporary `dir` whose mode a test may change). */
export function withStateDir<T>(fn: (state: string, dir: string) => Promise<T>): Promise<T> {
  return withTempDir('state-dir', async (dir) => {
    const state = path.join(dir, 'state');
    mkdirSync(state, { mode: 0o700 });
    chmodSync(state, 0o700);
    return fn(state, dir);
  });
}

/** A last good ruleset of one IPv4 ruleset, `text` (one rule, in filter), applied to the namespace x. */
export function lastGoodOf(text: string, more: Partial<LastGood> = {}): LastGood {
  return {
    nfgitLastGood: 1,
    appliedAt: '2026-12-01T00:00:00.000Z',
    target: { netns: 'x' },
    families: { ipv4: { text, usedTables: ['filter'], rules: 1, digest: digestOf(text) } },
    hostCommands: [],
    source: '/rules',
    ...more,
  };
}
