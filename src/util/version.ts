import { readFileSync } from 'node:fs';

// Set by the esbuild bundle (packaging/bundle.mjs `define`), which has no package.json beside it;
// `typeof` of an undeclared name is 'undefined', so the tsc build reads package.json as before.
declare const NFGIT_BUNDLED_VERSION: string | undefined;

/** nfgit's version, from package.json (inlined into the bundle at build time). */
export const VERSION: string =
  typeof NFGIT_BUNDLED_VERSION === 'string'
    ? NFGIT_BUNDLED_VERSION
    : (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
