/** Where nfgit keeps its state by default; its own module so the command line need not load the state code (and zod) to name it. */
export const DEFAULT_STATE_DIR = '/var/lib/nfgit';
