// The kernel services of a compile on a real host (compiler/kernel-services.ts): canonical forms,
// tables and targets from the kernel, queries answered by the real tools in scratch namespaces.
import type { KernelServices } from '../compiler/kernel-services.js';
import { kernelCanonicalMatcher } from './canonical-match.js';
import { kernelTables } from './kernel-tables.js';
import { installedTargets } from './xtables-targets.js';
import { queryKernel } from './kernel-query.js';

export const kernelServices: KernelServices = {
  canonical: kernelCanonicalMatcher,
  tables: kernelTables,
  targets: installedTargets,
  query: queryKernel,
};
