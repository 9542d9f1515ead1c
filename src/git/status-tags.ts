// Status tags in a repository: reading every host's tags back with their signatures checked (the
// writing is in status-write.ts, re-exported here). Per-host names and never moving a
// tag avoid what hurt Flux v1's single moving sync tag (shared tags, force-pushes refused by tag
// protection, moved tags breaking `fetch.pruneTags`).

import fs from 'node:fs';
import git, { Errors } from 'isomorphic-git';
import { parseStatusMessage, statusTagName, type StatusRecord } from './status-message.js';
import { matchPatternList, type AllowedSigner } from './signing/allowed-signers.js';
import { signerPrincipal } from './signing/host-identity.js';
import { verifySshSignature } from './signing/verify-ssh.js';
import { splitSignedTag } from './signed-objects.js';
import { CorruptObjectError, readVerifiedObject } from './verified-objects.js';

/** A status tag's signature: verified and by the host it names, by another host, or why not trusted. */
export type SignatureState = 'good' | 'bad' | 'untrusted' | 'unsigned' | 'not-checked' | 'wrong-host';

/** One status tag as read back. */
export interface StatusTag {
  /** Tag name without `refs/tags/`, for example `nfgit/fw1/1a2b3c4d5e6f`. */
  readonly name: string;
  /** The host named by the tag name. */
  readonly host: string;
  /** The object the tag points at. */
  readonly target: string;
  /** The parsed message, or why it is not a status record (also when it disagrees with the tag name). */
  readonly record: StatusRecord | { readonly error: string };
  readonly taggerTime: Date | null;
  readonly signature: SignatureState;
  readonly signatureDetail: string;
}

/** Options of readStatusTags. */
export interface ReadStatusTagsOptions {
  readonly gitdir: string;
  /** Trusted keys; null leaves signatures not checked. */
  readonly signers: readonly AllowedSigner[] | null;
  /** Tag name prefix, `nfgit/` unless given (for example `nfgit/fw1/`). */
  readonly prefix?: string;
}

const TAGS = 'refs/tags/';

/** The time of a raw tag's tagger header, or null. */
function taggerTimeOf(headers: string): Date | null {
  const m = /^tagger .*> (\d+) [+-]\d{4}$/m.exec(headers);
  return m === null ? null : new Date(Number(m[1]) * 1000);
}

/** A raw annotated tag, split: header text, target, message, signature. */
interface RawTag {
  readonly headers: string;
  readonly target: string;
  readonly message: string;
  readonly split: ReturnType<typeof splitSignedTag>;
}

/** What a tag that does not hash to its id means for a status tag. */
const NOT_TRUSTED = '; the status tag is not trusted';

/**
 * Reads a tag object raw (readTag drops SSH signatures), proven to hash to its id (a swapped tag
 * could carry another tag's signed record); null when oid is not an annotated tag.
 */
async function readRawTag(gitdir: string, oid: string): Promise<RawTag | null> {
  const obj = await readVerifiedObject({ gitdir, name: gitdir }, oid, { then: NOT_TRUSTED });
  if (obj.type !== 'tag') return null;
  const split = splitSignedTag(obj.content);
  const text = split.payload.toString('utf8');
  const blank = text.indexOf('\n\n');
  const headers = blank < 0 ? text : text.slice(0, blank);
  const target = /^object ([0-9a-f]+)$/m.exec(headers)?.[1] ?? '';
  return { headers, target, message: blank < 0 ? '' : text.slice(blank + 2), split };
}

/** The oid a local ref names, or null when it does not exist. */
async function localRef(gitdir: string, ref: string): Promise<string | null> {
  try {
    return await git.resolveRef({ fs, gitdir, ref, depth: 1 });
  } catch (err) {
    if (err instanceof Errors.NotFoundError) return null;
    throw err;
  }
}

/** Checks a raw tag's signature against signers, and that the key may sign as the host the tag names. */
function checkSignature(
  raw: RawTag,
  host: string,
  signers: readonly AllowedSigner[] | null,
  when: Date,
): { signature: SignatureState; signatureDetail: string } {
  const { split } = raw;
  if (split.kind === 'none' || split.signature === null) return { signature: 'unsigned', signatureDetail: 'the tag is not signed' };
  if (signers === null)
    return { signature: 'not-checked', signatureDetail: 'no allowed signers given (--allowed-signers or gpg.ssh.allowedSignersFile)' };
  if (split.kind !== 'ssh')
    return {
      signature: 'untrusted',
      signatureDetail: `signed with ${split.kind === 'pgp' ? 'OpenPGP' : 'an unknown format'}; nfgit hosts sign with SSH keys`,
    };
  const v = verifySshSignature(split.payload, split.signature, signers, when);
  if (!v.ok) return { signature: v.failure === 'untrusted-key' ? 'untrusted' : 'bad', signatureDetail: v.reason };
  const principal = signerPrincipal(host);
  if (!matchPatternList(principal, v.principals)) {
    return {
      signature: 'wrong-host',
      signatureDetail: `signed by ${v.key.fingerprint}, which allowed_signers lists for ${v.principals.join(', ')}, not ${principal}`,
    };
  }
  return { signature: 'good', signatureDetail: `signed by ${v.key.fingerprint} (${principal})` };
}

/** The record of a tag, or why it does not describe what its name and target say. */
function recordOf(raw: RawTag, name: string, host: string): StatusRecord | { error: string } {
  const record = parseStatusMessage(raw.message);
  if ('error' in record) return record;
  if (record.host !== host) return { error: `the tag is named for host ${host} but its message is for ${record.host}` };
  if (record.commit !== raw.target) return { error: `the tag points at ${raw.target} but its message is about commit ${record.commit}` };
  const expected = statusTagName(record.host, record.commit);
  if (name !== expected && !(name.startsWith(`${expected}.`) && /^[0-9]+$/.test(name.slice(expected.length + 1))))
    return { error: `the tag name should be ${expected} (or ${expected}.N for a later decision)` };
  return record;
}

/**
 * Reads the status tags under prefix (`nfgit/` by default), parsing each message and checking each
 * signature: good only when an allowed key signed it and that key may sign as `HOST@nfgit` for the
 * host the tag names. Sorted by name.
 */
export async function readStatusTags(opts: ReadStatusTagsOptions): Promise<StatusTag[]> {
  const prefix = opts.prefix ?? 'nfgit/';
  const names = (await git.listTags({ fs, gitdir: opts.gitdir })).filter((n) => n.startsWith(prefix) && n.startsWith('nfgit/')).sort();
  const out: StatusTag[] = [];
  for (const name of names) {
    const host = name.split('/')[1] ?? '';
    const oid = await localRef(opts.gitdir, TAGS + name);
    if (oid === null) continue;
    let raw: RawTag | null;
    try {
      raw = await readRawTag(opts.gitdir, oid);
    } catch (err) {
      if (err instanceof CorruptObjectError) {
        out.push({
          name,
          host,
          target: '',
          record: { error: err.message },
          taggerTime: null,
          signature: 'bad',
          signatureDetail: 'the tag object does not hash to its id: the repository is corrupt or was tampered with',
        });
        continue;
      }
      if (!(err instanceof Errors.NotFoundError)) throw err;
      out.push({
        name,
        host,
        target: '',
        record: { error: `the tag object ${oid} is missing (fetch the tags again)` },
        taggerTime: null,
        signature: 'bad',
        signatureDetail: 'the tag object is missing',
      });
      continue;
    }
    if (raw === null) {
      out.push({
        name,
        host,
        target: oid,
        record: { error: 'a lightweight tag, not an annotated status tag' },
        taggerTime: null,
        signature: 'unsigned',
        signatureDetail: 'a lightweight tag cannot be signed',
      });
      continue;
    }
    const taggerTime = taggerTimeOf(raw.headers);
    out.push({
      name,
      host,
      target: raw.target,
      record: recordOf(raw, name, host),
      taggerTime,
      ...checkSignature(raw, host, opts.signers, taggerTime ?? new Date()),
    });
  }
  return out;
}

export { fetchHostTags, writeStatusTag, type StatusRemote, type WriteStatusTagOptions, type WriteStatusTagResult } from './status-write.js';
