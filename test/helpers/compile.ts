import { compile as compileWith, type CompileOptions, type CompileResult } from '../../src/compiler/compile.js';
import { kernelServices } from '../../src/netfilter/kernel-services.js';
import { NO_PRESERVE, preserveCompileOptions } from '../../src/netfilter/preserve.js';

/** The compiler with this host's kernel services and preserve's hints, as the CLI and the agent run it. */
export function compile(options: CompileOptions): Promise<CompileResult> {
  return compileWith({ ...preserveCompileOptions(NO_PRESERVE), ...options }, kernelServices);
}
