// The files the agent's configuration names, read at the start of a pass and by `nfgit config
// check`: the signing key, the trust files, the token file, a local repository. Their problems say
// what to fix, and, under systemd, when the unit's sandbox is what hides them.

import { accessSync, constants, statSync } from 'node:fs';
import { asNfgitErrors, NfgitErrors, UsageError, type NfgitError } from '../errors/errors.js';
import { loadHostKey, type HostKey } from '../git/signing/openssh-key.js';
import { loadTrust, type LoadedTrust } from '../git/signing/commit-trust.js';
import { loadAllowedSigners, type AllowedSigner } from '../git/signing/allowed-signers.js';
import { InternalError } from '../errors/errors.js';
import { readTokenFile } from '../git/token-file.js';
import { errnoCode, readHint } from '../util/sandbox-hints.js';
import type { AgentConfig } from './config.js';

/** The host's signing key (signing.key); a UsageError says how to make one, or what hides it. */
export function loadSigningKey(file: string): HostKey {
  try {
    return loadHostKey(file);
  } catch (err) {
    const e = asNfgitErrors(err)[0];
    const why = e?.code === 'InternalError' ? (err as Error).message : (e?.message ?? String(err));
    const hint = readHint(file, errnoCode(err));
    throw new UsageError(
      `cannot load the signing key ${file} (signing.key): ${why}.${hint === '' ? ` Make one with: nfgit keygen --key ${file}` : hint}`,
      { cause: err },
    );
  }
}

/** The trust files (trust.allowedSigners, trust.pgpKeys); a hint when one of them is hidden by the sandbox. */
export async function loadTrustFiles(trust: AgentConfig['trust']): Promise<LoadedTrust> {
  try {
    return await loadTrust(trust);
  } catch (err) {
    const files = [...(trust.allowedSigners === null ? [] : [trust.allowedSigners]), ...trust.pgpKeys];
    const hints = files.map((f) => readHint(f, unreadable(f))).filter((h) => h !== '');
    if (hints.length === 0 || !(err instanceof UsageError)) throw err;
    throw new UsageError(`${err.message}${hints.join('')}`, { cause: err });
  }
}

/**
 * What a pass reads before anything else (so that a bad key or trust file changes nothing): the signing
 * key, the trust files and, with rollout.after, rollout.allowedSigners.
 */
export async function loadPassFiles(
  config: AgentConfig,
): Promise<{ key: HostKey; trust: LoadedTrust; tagSigners: AllowedSigner[] | null }> {
  const key = loadSigningKey(config.signing.key);
  const trust = await loadTrustFiles(config.trust);
  const tagSigners = config.rollout.after === null ? null : loadRolloutSigners(config.rollout.allowedSigners);
  return { key, trust, tagSigners };
}

/** rollout.allowedSigners, read at the start of a pass with the other files the configuration names. */
function loadRolloutSigners(file: string | null): AllowedSigner[] {
  if (file === null) throw new InternalError('internal error: rollout.after is set without rollout.allowedSigners');
  try {
    return loadAllowedSigners(file);
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (rollout.allowedSigners)`, { cause: err });
  }
}

/** What the configuration points to, checked: every problem at once (NfgitErrors), or what was read. */
export async function checkConfigFiles(config: AgentConfig): Promise<{ key: HostKey; trust: LoadedTrust }> {
  const problems: NfgitError[] = [];
  const attempt = async <T>(fn: () => T | Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (err) {
      problems.push(...asNfgitErrors(err));
      return undefined;
    }
  };
  const key = await attempt(() => loadSigningKey(config.signing.key));
  const trust = await attempt(() => loadTrustFiles(config.trust));
  const rolloutSigners = config.rollout.allowedSigners;
  if (rolloutSigners !== null) {
    await attempt(() => {
      try {
        return loadAllowedSigners(rolloutSigners);
      } catch (err) {
        const hint = readHint(rolloutSigners, unreadable(rolloutSigners));
        throw new UsageError(`${(err as Error).message} (rollout.allowedSigners)${hint}`, { cause: err });
      }
    });
  }
  const tokenFile = config.repository.tokenFile;
  if (tokenFile !== null) {
    await attempt(() => {
      try {
        return readTokenFile(tokenFile);
      } catch (err) {
        const hint = readHint(tokenFile, unreadable(tokenFile));
        throw hint === '' ? err : new UsageError(`${(err as Error).message}${hint}`, { cause: err });
      }
    });
  }
  if (config.repository.url.startsWith('/')) await attempt(() => checkLocalRepository(config.repository.url));
  if (problems.length > 0 || key === undefined || trust === undefined) throw new NfgitErrors(problems);
  return { key, trust };
}

function checkLocalRepository(dir: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (err) {
    const code = errnoCode(err);
    throw new UsageError(
      `the repository ${dir} (repository.url) ${code === 'ENOENT' ? 'does not exist' : `cannot be read: ${(err as Error).message}`}${readHint(dir, code)}`,
      { cause: err },
    );
  }
  if (!isDir) throw new UsageError(`the repository ${dir} (repository.url) is not a directory`);
}

/** The errno code of a file that cannot be read, or undefined. */
function unreadable(file: string): string | undefined {
  try {
    accessSync(file, constants.R_OK);
    return undefined;
  } catch (err) {
    return errnoCode(err);
  }
}
