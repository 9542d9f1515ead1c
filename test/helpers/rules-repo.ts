// A rules repository as administrators keep one: a bare repository (what hosts pull from) and a
// working clone where commits are made with stock git, signed with an SSH key (or not), then pushed.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { mustRun, sshKeygen, type ToolOptions } from '../git/signing/tools.js';

/** A bare repository and a working clone with an SSH signing key. */
export interface RulesRepo {
  /** The bare repository (under `root`, named `name.git`). */
  readonly bare: string;
  readonly work: string;
  /** The admin's SSH private key file and its `TYPE BASE64` public key. */
  readonly key: string;
  readonly pub: string;
  /** An allowed_signers file trusting the admin's key for git. */
  readonly allowedSigners: string;
  /** Runs stock git in the working clone (signing configured). */
  git(args: readonly string[], options?: ToolOptions): Promise<string>;
  /**
   * Replaces the rules directory with files (name → text; a null text deletes), commits (signed unless
   * sign is false) and pushes to the bare repository; returns the new commit id.
   */
  commit(
    files: Record<string, string | null>,
    options?: { sign?: boolean; message?: string; dir?: string; push?: boolean },
  ): Promise<string>;
}

/** Makes `root/name.git` (bare) and `root/name-work` (clone), with an admin key in `root/keys`. */
export async function makeRulesRepo(root: string, name = 'fw'): Promise<RulesRepo> {
  const bare = path.join(root, `${name}.git`);
  const work = path.join(root, `${name}-work`);
  const keys = path.join(root, `${name}-keys`);
  mkdirSync(keys, { recursive: true });
  const { file, pub } = await sshKeygen(keys, 'admin', 'ed25519');
  const allowedSigners = path.join(keys, 'allowed_signers');
  writeFileSync(allowedSigners, `alice@example.net namespaces="git" ${pub}\n`);
  await mustRun('git', ['init', '-q', '--bare', '-b', 'main', bare]);
  await mustRun('git', ['init', '-q', '-b', 'main', work]);
  const git = (args: readonly string[], options: ToolOptions = {}): Promise<string> =>
    mustRun(
      'git',
      ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${file}`, '-c', `gpg.ssh.allowedSignersFile=${allowedSigners}`, ...args],
      { cwd: work, ...options },
    );
  await git(['remote', 'add', 'origin', bare]);
  return {
    bare,
    work,
    key: file,
    pub,
    allowedSigners,
    git,
    async commit(files, options = {}) {
      const dir = path.join(work, options.dir ?? 'rules');
      mkdirSync(dir, { recursive: true });
      for (const [f, text] of Object.entries(files)) {
        const p = path.join(dir, f);
        if (text === null) rmSync(p, { force: true });
        else {
          mkdirSync(path.dirname(p), { recursive: true });
          writeFileSync(p, text);
        }
      }
      await git(['add', '-A']);
      await git(['commit', '-q', '--allow-empty', ...(options.sign === false ? [] : ['-S']), '-m', options.message ?? 'update rules']);
      if (options.push !== false) await git(['push', '-q', 'origin', 'HEAD:refs/heads/main']);
      return (await git(['rev-parse', 'HEAD'])).trim();
    },
  };
}
