// What to do about a failure that nfgit.service's sandbox may cause: under systemd the file system
// is read-only but for the state directory (ProtectSystem=strict) and /root and /home are hidden
// (ProtectHome=yes), so a file that is plainly there in a root shell is missing or unwritable to
// the agent. The hint is given only under systemd (INVOCATION_ID is set for every unit's process).

/** The environment the hints read. */
export interface HintEnv {
  readonly INVOCATION_ID?: string | undefined;
}

const HIDDEN_BY_PROTECT_HOME = ['/root', '/home', '/run/user'];

/** Whether the file lies where ProtectHome=yes hides it. */
function underHome(file: string): boolean {
  return HIDDEN_BY_PROTECT_HOME.some((dir) => file === dir || file.startsWith(`${dir}/`));
}

function underSystemd(env: HintEnv): boolean {
  return env.INVOCATION_ID !== undefined && env.INVOCATION_ID !== '';
}

/**
 * A hint (a sentence starting with a space, or '') for a file nfgit could not read: under /root or
 * /home, missing (ENOENT) or refused (EACCES) while running under systemd.
 */
export function readHint(file: string, code: string | undefined, env: HintEnv = process.env): string {
  if (!underSystemd(env) || !underHome(file) || (code !== 'ENOENT' && code !== 'EACCES')) return '';
  return ` (nfgit.service runs with ProtectHome=yes, which hides /root and /home from it: move ${file} to /etc/nfgit, or give the unit ProtectHome=read-only with systemctl edit nfgit)`;
}

/**
 * A hint (a sentence starting with a space, or '') for a directory nfgit could not write into
 * (EROFS, EACCES) while running under systemd: the unit writes only where ReadWritePaths= says.
 */
export function writeHint(dir: string, code: string | undefined, env: HintEnv = process.env): string {
  if (!underSystemd(env) || (code !== 'EROFS' && code !== 'EACCES' && code !== 'ENOENT')) return '';
  if (underHome(dir) && code !== 'EROFS') return readHint(dir, code, env);
  if (code === 'ENOENT') return '';
  return ` (nfgit.service sees the file system read-only but for its own directories: add ReadWritePaths=${dir} with systemctl edit nfgit, under [Service])`;
}

/** The errno code of an error or of its causes. */
export function errnoCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
