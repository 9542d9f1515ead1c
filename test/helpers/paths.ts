import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The repository root (tests run from dist/test/…, sources and fixtures live beside). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** The built CLI. */
export const CLI = path.join(ROOT, 'dist/src/cli/main.js');
