// How git shares a repository between users: core.sharedRepository, read as git's git_config_perm
// reads it, and the modes git's calc_shared_perm and adjust_shared_perm give to what it writes
// (git's setup.c and path.c; `git help config`, core.sharedRepository). Pure: the caller reads the
// configuration value and the objects/ directory and hands them in.

/**
 * A core.sharedRepository value as git keeps it: 0 for `umask` (the writer's umask decides), a
 * positive mask of bits added to every file (0660 for `group`, 0664 for `all`), or a negative mask
 * that replaces the permission bits (`-0640` for `0640`).
 */
export type SharedPerm = number;

export const PERM_UMASK = 0;
export const PERM_GROUP = 0o660;
export const PERM_EVERYBODY = 0o664;

/** A boolean as git_parse_maybe_bool_text reads one, or null when the text is none. */
function gitBool(text: string): boolean | null {
  const t = text.toLowerCase();
  if (t === 'true' || t === 'yes' || t === 'on') return true;
  if (t === 'false' || t === 'no' || t === 'off' || t === '') return false;
  // git_config_bool also takes a decimal integer: true unless zero.
  if (/^[+-]?[0-9]+$/.test(t)) return Number(t) !== 0;
  return null;
}

/**
 * Reads a core.sharedRepository value as git does: null (unset) and `umask` are PERM_UMASK, a key
 * without a value is `group`; returns a problem (what git would die with) for a value git refuses.
 */
export function parseSharedRepository(value: string | boolean | null): SharedPerm | { readonly problem: string } {
  if (value === null || value === false) return PERM_UMASK;
  if (value === true) return PERM_GROUP;
  const v = value.trim();
  if (v === 'umask') return PERM_UMASK;
  if (v === 'group') return PERM_GROUP;
  if (v === 'all' || v === 'world' || v === 'everybody') return PERM_EVERYBODY;
  if (!/^[0-7]+$/.test(v)) {
    const b = gitBool(v);
    if (b === null) return { problem: `core.sharedRepository is ${JSON.stringify(v)}, which git does not understand either` };
    return b ? PERM_GROUP : PERM_UMASK;
  }
  const n = parseInt(v, 8);
  // 0, 1 and 2 are the old spellings of umask, group and everybody.
  if (n === 0) return PERM_UMASK;
  if (n === 1) return PERM_GROUP;
  if (n === 2) return PERM_EVERYBODY;
  if ((n & 0o600) !== 0o600) {
    return {
      problem: `core.sharedRepository is 0${(n & 0o777).toString(8)}, but the owner of files must always have read and write permissions`,
    };
  }
  // Others never get write permission; the x bits of directories are derived from the r bits.
  return -(n & 0o666);
}

const S_ISGID = 0o2000;

/**
 * The mode git gives to a file or directory it created with `mode` (already cut by the umask) in a
 * repository shared as perm: calc_shared_perm, and for a directory adjust_shared_perm's x bits and
 * set-group-ID bit (so that what is made inside belongs to the repository's group).
 */
export function sharedMode(perm: SharedPerm, mode: number, isDir: boolean): number {
  if (perm === PERM_UMASK) return mode;
  let tweak = Math.abs(perm);
  if ((mode & 0o200) === 0) tweak &= ~0o222;
  if ((mode & 0o100) !== 0) tweak |= (tweak & 0o444) >> 2;
  let out = perm < 0 ? (mode & ~0o777) | tweak : mode | tweak;
  if (isDir) {
    out |= (out & 0o444) >> 2;
    if ((out & 0o060) !== 0) out |= S_ISGID;
  }
  return out;
}

/** The modes and owner that what nfgit writes into a repository gets. */
export interface SharedWrites {
  /** The mode of a new directory. */
  readonly dirMode: number;
  /** The mode of a new file: a loose object (read-only, as git makes them) or any other (a ref, packed-refs). */
  fileMode(object: boolean): number;
  /**
   * The owner of everything written: that of the objects/ directory, or null when the group may write
   * (a shared repository: any member writes there, as git's own users do, and the owner stays nfgit's,
   * which under nfgit.service, without CAP_CHOWN, is all it can be).
   */
  readonly uid: number | null;
  /** The group of everything written: that of the objects/ directory. */
  readonly gid: number;
}

/**
 * How to write into a repository as its own users would: with perm's sharing, under the umask its
 * objects/ directory was made with (git makes it under the creator's umask, then adds perm's bits;
 * nfgit's own umask, 077 under systemd, says nothing about the repository), and owned like objects/.
 * With perm umask (the setting unset) the objects/ directory's mode alone decides, set-group-ID bit
 * included.
 */
export function sharedWrites(
  perm: SharedPerm,
  objects: { readonly mode: number; readonly uid: number; readonly gid: number },
): SharedWrites {
  const umask = ~objects.mode & 0o077;
  const dirMode = perm === PERM_UMASK ? (objects.mode & 0o7777) | 0o700 : sharedMode(perm, 0o777 & ~umask, true);
  return {
    dirMode,
    fileMode: (object) => sharedMode(perm, (object ? 0o444 : 0o666) & ~umask, false),
    uid: (dirMode & 0o020) !== 0 ? null : objects.uid,
    gid: objects.gid,
  };
}
