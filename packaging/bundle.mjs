// Bundles nfgit (src/cli/main.ts and every dependency) into ES modules for Node.js 18.19 and later
// (Debian 12's nodejs; the package depends on nodejs (>= 18.19), and test/packaging/debian-node.test.ts
// runs the bundle there), so a host needs Node.js but no node_modules:
//   node packaging/bundle.mjs OUT_DIR
// writes OUT_DIR/nfgit.mjs, the entry, and OUT_DIR/chunks/*.mjs, which it imports as it needs them
// (code splitting): the `nfgit run` daemon loads only its own modules, as from the tsc build (issue 15:
// one file of all of nfgit kept the idle daemon at 68-69 MiB resident, split it holds 55 MiB).
//
// The files the tsc build reads beside its modules at run time are inlined with `define`
// (packaging/bundle-options.mjs).

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { bundleDefines } from './bundle-options.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = process.argv[2];
if (out === undefined) {
  process.stderr.write('usage: node packaging/bundle.mjs OUT_DIR\n');
  process.exit(2);
}

await build({
  entryPoints: { nfgit: path.join(root, 'src/cli/main.ts') },
  outdir: path.resolve(out),
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  target: 'node18.19',
  format: 'esm',
  // Some dependencies are CommonJS and call require() for Node's built-ins; an ES module has no
  // require, so give the bundle one (esbuild's documented work-around for ESM output): each chunk.
  banner: {
    js: "import { createRequire as __nfgitCreateRequire } from 'node:module'; const require = __nfgitCreateRequire(import.meta.url);",
  },
  define: bundleDefines(root),
  // debug (of https-proxy-agent) tries require('supports-color') for colours and does without when
  // it fails; left out, so that the bundle holds only what package.json's dependencies bring.
  external: ['supports-color'],
  legalComments: 'eof',
  // Half the size, and about 0.1 s less to start (hooks run `nfgit check` on every push).
  minify: true,
  logLevel: 'warning',
});
