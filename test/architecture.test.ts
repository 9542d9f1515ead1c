import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers/paths.js';

// Issue 12: `ls src/` tells the architecture, and every import points down. The layers, lowest first:
// a folder may import from its own folder and from the folders before it, never after.
const LAYERS = ['errors', 'util', 'compiler', 'netfilter', 'apply', 'git', 'agent', 'hooks', 'cli'];

/**
 * Imports that still run up a layer, each a step of issue 12 not yet taken. The list only shrinks: a
 * new upward import fails the test, and so does an entry here that is no longer needed.
 */
const NOT_YET: readonly string[] = [];

interface Edge {
  readonly from: string;
  readonly to: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function imports(): Edge[] {
  const src = path.join(ROOT, 'src');
  const edges: Edge[] = [];
  for (const file of sourceFiles(src)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = path.resolve(path.dirname(file), m[1] as string);
      edges.push({ from: path.relative(src, file), to: path.relative(src, target).replace(/\.js$/, '.ts') });
    }
  }
  return edges;
}

const folder = (file: string): string => file.split(path.sep)[0] as string;

test('every folder of src/ is a layer', (t) => {
  const folders = readdirSync(path.join(ROOT, 'src')).filter((n) => statSync(path.join(ROOT, 'src', n)).isDirectory());
  t.deepEqual(
    folders.filter((f) => !LAYERS.includes(f)),
    [],
    'a folder that is not in LAYERS: place it',
  );
});

test('no import runs up a layer (and so no folder cycle)', (t) => {
  const upward = imports()
    .filter((e) => LAYERS.indexOf(folder(e.to)) > LAYERS.indexOf(folder(e.from)))
    .map((e) => `${e.from} -> ${e.to}`);
  t.deepEqual(
    upward.filter((e) => !NOT_YET.includes(e)),
    [],
    'imports that run up a layer',
  );
  t.deepEqual(
    NOT_YET.filter((e) => !upward.includes(e)),
    [],
    'NOT_YET entries that are no longer needed: remove them',
  );
});
