// What packaging/bundle.mjs and packaging/man.mjs both give esbuild: the files the tsc build reads
// beside its modules at run time (package.json for the version, the rule-file preludes), inlined with
// `define`; see src/util/version.ts and src/compiler/zsh-prelude.ts.

import { readFileSync } from 'node:fs';
import path from 'node:path';

/** esbuild `define` for a bundle of src/ made from the tree at root. */
export function bundleDefines(root) {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  return {
    NFGIT_BUNDLED_VERSION: JSON.stringify(pkg.version),
    NFGIT_BUNDLED_PRELUDE: JSON.stringify(readFileSync(path.join(root, 'src/compiler/prelude.zsh'), 'utf8')),
    NFGIT_BUNDLED_BASH_PRELUDE: JSON.stringify(readFileSync(path.join(root, 'src/compiler/prelude.bash'), 'utf8')),
  };
}
