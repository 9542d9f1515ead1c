import { asNfgitErrors } from '../../src/errors/errors.js';

/** The first error a promise rejects with, formatted as nfgit prints it; throws when it resolves. */
export async function firstError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return asNfgitErrors(err)[0]?.format() ?? '';
  }
  throw new Error('expected the compile to fail');
}
