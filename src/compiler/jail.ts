// The compile jail: where rule files run. Rule files are code from the repository, so they run as
// nobody (root inside a user namespace mapped to uid 65534 outside), in new user, PID, mount, network,
// UTS and IPC namespaces, with / read-only, private /tmp, /var/tmp, /dev/shm and /run, their own /proc
// with /proc/sys read-only, the host name set to the compile's --host, and process and memory limits.
// From there they cannot reach the host's network namespace (nsenter needs capabilities in the host's
// user namespace and a PID to name it by), cannot read root-only files (nfgit's state directory and
// keys), cannot write outside their private temporary directories, and no process of theirs outlives
// the run: when zsh, the PID namespace's init, exits, the kernel kills everything left in it.
import { NfgitError, SandboxError } from '../errors/errors.js';
import { isRoot } from '../util/sandbox.js';

/** Where the jail sees the compile directory (the prelude, the shim and the copy of the rules). */
export const JAIL_DIR = '/run/nfgit';
/** Where the jail sees the rules directory: rule files are sourced (and reported) from here. */
export const JAIL_RULES_DIR = `${JAIL_DIR}/rules`;
/** The unprivileged user rule files run as when nfgit is root (Debian's nobody/nogroup). */
export const NOBODY = 65534;

/** Limits of the rule files' processes: how many at once (of uid nobody), and the address space of each. */
export const JAIL_LIMITS = { processes: 512, addressSpaceBytes: 4 * 1024 ** 3 } as const;

/**
 * The command that enters the jail's namespaces and runs `args` there. As root, setpriv first drops to
 * nobody, so the user namespace unshare then makes maps root inside to nobody outside; as another user
 * (`nfgit check` on a workstation) the user's own id is mapped. `--kill-child` ends the PID namespace
 * when unshare is killed (the time limit kills the process group).
 */
export function jailCommand(args: readonly string[]): { file: string; args: string[] } {
  const unshare = ['--user', '--map-root-user', '--net', '--pid', '--fork', '--kill-child', '--mount', '--uts', '--ipc', '--', ...args];
  if (!isRoot()) return { file: 'unshare', args: unshare };
  return { file: 'setpriv', args: [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', 'unshare', ...unshare] };
}

/** Escapes a path for an fstab field (fstab(5): blanks and backslashes as octal escapes). */
function fstabPath(p: string): string {
  return p.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

/**
 * The jail's mounts, in order, as an fstab that one `mount -a` reads (one process instead of one a
 * mount: this is on the path of every compile). The compile directory is reached through
 * /proc/self/cwd (its own path need not be open to nobody), mounted read-only at JAIL_DIR; the shim
 * covers the real binaries; private temporary directories; a /proc of the PID namespace, its
 * /proc/sys read-only. `existing` says which of /var/tmp and /dev/shm this system has.
 */
export function jailFstab(shimTargets: readonly string[], existing: (dir: string) => boolean): string {
  const lines = [
    'nfgit-run /run tmpfs mode=755,size=1m,nosuid,nodev 0 0',
    // nosuid,nodev (noexec for /proc/sys) on the read-only remounts: in the jail's user namespace the
    // flags of the mounts it was copied from are locked, and a remount that drops one is refused. A
    // /tmp mounted nosuid,nodev (Debian 13's tmpfs, systemd-nspawn, PrivateTmp= on one) made every
    // compile fail with "cannot mount the jail's file systems".
    `/proc/self/cwd ${JAIL_DIR} none bind,ro,nosuid,nodev,X-mount.mkdir 0 0`,
    ...shimTargets.map((t) => `${JAIL_DIR}/bypass-shim ${fstabPath(t)} none bind 0 0`),
    ...['/tmp', '/var/tmp', '/dev/shm']
      .filter((d) => d === '/tmp' || existing(d))
      .map((d) => `nfgit-tmp ${d} tmpfs mode=1777,size=64m,nosuid,nodev 0 0`),
    'nfgit-proc /proc proc nosuid,nodev,noexec 0 0',
    '/proc/sys /proc/sys none bind,ro,nosuid,nodev,noexec 0 0',
  ];
  return lines.join('\n') + '\n';
}

/**
 * The jail's set-up, run by /bin/sh inside the namespaces with the compile directory (holding the
 * fstab above) as its working directory. Arguments: the host name, the shell (zsh or bash), then the
 * prelude's arguments. Exit 71:
 * the jail could not be set up (the message says which step).
 */
export const JAIL_LAUNCHER = `fail() { echo "nfgit: cannot set up the compile sandbox: $*" >&2; exit 71; }
host=$1; shell=$2; shift 2
unset BASH_ENV ENV
mount -o remount,bind,ro / 2>/dev/null || fail "cannot make / read-only"
err=$(mount -c -a -T /proc/self/cwd/fstab 2>&1) || fail "cannot mount the jail's file systems: $err"
[ -z "$host" ] || hostname "$host" 2>/dev/null || true
cd ${JAIL_RULES_DIR} || fail "cannot enter ${JAIL_RULES_DIR}"
limits="--nproc=${JAIL_LIMITS.processes} --as=${JAIL_LIMITS.addressSpaceBytes}"
[ "$shell" = bash ] && exec prlimit $limits -- bash --norc --noprofile ${JAIL_DIR}/prelude.bash "$@"
exec prlimit $limits -- zsh -f ${JAIL_DIR}/prelude.zsh "$@"`;

/**
 * Turns a failure to create the jail's namespaces (unshare's or setpriv's message) into what to do.
 * Under a systemd unit (INVOCATION_ID is set) the usual cause is the unit's sandbox, not the kernel:
 * a CapabilityBoundingSet= without CAP_SETUID/CAP_SETGID (setpriv) or a RestrictNamespaces= without
 * user and pid (unshare), as the nfgit.service of 0.1.0 had.
 */
export function jailFailure(output: string, underSystemd = process.env['INVOCATION_ID'] !== undefined): NfgitError | undefined {
  if (!/unshare failed|unshare: |setpriv: /.test(output)) return undefined;
  const why = output.trim().split('\n')[0] ?? '';
  const unit = underSystemd
    ? '; under systemd, the unit must allow it too: CapabilityBoundingSet= with CAP_SETUID CAP_SETGID and RestrictNamespaces= with user pid uts ipc (as the packaged nfgit.service has; check `systemctl cat nfgit` for a drop-in that narrows them)'
    : '';
  return new SandboxError(
    `cannot create the compile jail (${why}): nfgit runs rule files as an unprivileged user in user, PID, mount and network namespaces, and this kernel forbids that; allow user namespaces for unprivileged users (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0, and on Ubuntu kernel.apparmor_restrict_unprivileged_userns=0)${unit}`,
  );
}
