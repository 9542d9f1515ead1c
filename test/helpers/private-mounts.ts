// A shell script in a mount namespace of its own (private propagation), so that the mounts it makes
// (a read-only bind, a nosuid tmpfs) never reach this machine and end with it.
import { execa } from 'execa';

/** Runs `sh -c script sh ...args` there, with only the environment given, never rejecting. */
export function inPrivateMounts(script: string, args: readonly string[], env: Readonly<Record<string, string>>) {
  return execa('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', ...args], {
    env,
    extendEnv: false,
    reject: false,
  });
}
