import { compile as compileWith, type CompileOptions, type CompileResult } from '../../src/compiler/compile.js';
import { kernelServices } from '../../src/netfilter/kernel-services.js';

/** The compiler with this host's kernel services, as the CLI and the agent run it. */
export function compile(options: CompileOptions): Promise<CompileResult> {
  return compileWith(options, kernelServices);
}
