// The kernel services of a compile on a real host (compiler/kernel-services.ts): canonical forms,
// tables and targets from the kernel, queries answered by the real tools in scratch namespaces.
// Canonical forms and queries are for the few rule files that delete by spec or test with -C: their
// modules load when first asked, not before every compile starts its rule files.
import type { KernelServices } from '../compiler/kernel-services.js';
import { kernelTables } from './kernel-tables.js';
import { installedTargets } from './xtables-targets.js';

export const kernelServices: KernelServices = {
  canonical: async (family, table, chain, spec) =>
    (await import('./canonical-match.js')).kernelCanonicalMatcher(family, table, chain, spec),
  tables: kernelTables,
  targets: installedTargets,
  query: async (state, argv) => (await import('./kernel-query.js')).queryKernel(state, argv),
};
