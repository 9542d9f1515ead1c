// One status tag object read back: its headers, record and signature, from bytes already proven to
// hash to the tag's id (verified-objects.ts, or a fetched pack hashed on arrival). Pure: the caller
// reads the bytes, so the same checks serve a local repository and a fetch.

import type { AllowedSigner } from './signing/allowed-signers.js';
import { matchPatternList } from './signing/allowed-signers.js';
import { signerPrincipal } from './signing/host-identity.js';
import { verifySshSignature } from './signing/verify-ssh.js';
import { splitSignedTag } from './signed-objects.js';
import { parseStatusMessage, statusTagName, type StatusRecord } from './status-message.js';

/** A status tag's signature: verified and by the host it names, by another host, or why not trusted. */
export type SignatureState = 'good' | 'bad' | 'untrusted' | 'unsigned' | 'not-checked' | 'wrong-host';

/** An annotated tag object, split: header text, target, name (`tag` header), tagger time, message, signature. */
export interface ParsedTag {
  readonly headers: string;
  readonly target: string;
  /** The `tag` header: the name the tag was made under (`nfgit/HOST/COMMIT12[.N]`), or null. */
  readonly name: string | null;
  readonly taggerTime: Date | null;
  readonly message: string;
  readonly split: ReturnType<typeof splitSignedTag>;
}

/** Splits a tag object's content (without the `tag SIZE\0` header). */
export function parseTagObject(content: Buffer): ParsedTag {
  const split = splitSignedTag(content);
  const text = split.payload.toString('utf8');
  const blank = text.indexOf('\n\n');
  const headers = blank < 0 ? text : text.slice(0, blank);
  const time = /^tagger .*> (\d+) [+-]\d{4}$/m.exec(headers);
  return {
    headers,
    target: /^object ([0-9a-f]+)$/m.exec(headers)?.[1] ?? '',
    name: /^tag (\S+)$/m.exec(headers)?.[1] ?? null,
    taggerTime: time === null ? null : new Date(Number(time[1]) * 1000),
    message: blank < 0 ? '' : text.slice(blank + 2),
    split,
  };
}

/** A signature state and what it rests on (the key's fingerprint, or why it is not trusted). */
export interface SignatureCheck {
  readonly signature: SignatureState;
  readonly signatureDetail: string;
}

/** Checks a tag's signature against signers (null: not checked), and that the key may sign as `HOST@nfgit` for host. */
export function checkTagSignature(tag: ParsedTag, host: string, signers: readonly AllowedSigner[] | null, when: Date): SignatureCheck {
  const { split } = tag;
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

/** Whether name is a status tag name for record's host and commit: `nfgit/HOST/COMMIT12` or `…COMMIT12.N`. */
function namesRecord(name: string, record: StatusRecord): boolean {
  const expected = statusTagName(record.host, record.commit);
  return name === expected || (name.startsWith(`${expected}.`) && /^[0-9]+$/.test(name.slice(expected.length + 1)));
}

/**
 * The record of a tag, or why it does not describe what its name, host and target say: a signed
 * record copied under another host's name or onto another commit is not believed. With anyName (a
 * report no refs/tags/ names: heartbeat, held), the name need only be the host's (`nfgit/HOST/…`).
 */
export function statusRecordOf(tag: ParsedTag, name: string, host: string, anyName = false): StatusRecord | { error: string } {
  const record = parseStatusMessage(tag.message);
  if ('error' in record) return record;
  if (record.host !== host) return { error: `the tag is named for host ${host} but its message is for ${record.host}` };
  if (record.commit !== tag.target) return { error: `the tag points at ${tag.target} but its message is about commit ${record.commit}` };
  if (anyName ? !name.startsWith(`nfgit/${host}/`) : !namesRecord(name, record))
    return { error: `the tag name should be ${statusTagName(record.host, record.commit)} (or that and .N for a later decision)` };
  return record;
}
