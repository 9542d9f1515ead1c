import { readFileSync } from 'node:fs';
import { NfgitError, NfgitErrors, UsageError } from '../../errors/errors.js';
import { SshFormatError, fingerprintSha256, parsePublicKeyText, type SshPublicKey } from './openssh-key.js';
import { SK_USER_PRESENCE, SK_USER_VERIFICATION, type SkSignatureDetails } from './sshsig.js';

// git's allowed_signers file (ssh-keygen(1), ALLOWED SIGNERS): `principals [options] keytype base64key`,
// read the way OpenSSH reads it, and the lookup `ssh-keygen -Y find-principals` / `-Y verify` do.

/** One key line of an allowed_signers file. */
export interface AllowedSigner {
  /** 1-based line number, for messages. */
  readonly line: number;
  /** The principals field split at commas: identities or patterns such as `*@example.com`. */
  readonly principals: readonly string[];
  /** The `namespaces="…"` pattern list split at commas; null when the key is good for every namespace. */
  readonly namespaces: readonly string[] | null;
  /** `valid-after`: the key is good at or after this time. */
  readonly validAfter: Date | null;
  /** `valid-before`: the key is good at or before this time. */
  readonly validBefore: Date | null;
  /**
   * Security keys only: signatures must carry the user-presence flag (the key was touched), unless the
   * line has `no-touch-required` (sshd's authorized_keys option, which nfgit also reads here).
   */
  readonly touchRequired: boolean;
  /** Security keys only, `verify-required`: signatures must carry the user-verification flag (PIN or biometric). */
  readonly verifyRequired: boolean;
  readonly key: SshPublicKey;
}

/** matchSigner's answer: the principals that may sign with the key, or why none may. */
export type SignerMatch = { readonly ok: true; readonly principals: readonly string[] } | { readonly ok: false; readonly reason: string };

const KEY_TYPE = /^(?:ssh-|ecdsa-|sk-)[A-Za-z0-9@.-]+$/;

/** Splits a field that may be double-quoted; returns it and the rest of the line after the whitespace that follows. */
function takeField(text: string): { field: string; rest: string } | string {
  if (text.startsWith('"')) {
    const close = text.indexOf('"', 1);
    if (close < 0) return 'the quoted principals field has no closing quote';
    return { field: text.slice(1, close), rest: text.slice(close + 1).replace(/^[ \t]+/, '') };
  }
  const m = /^([^ \t]*)[ \t]*(.*)$/.exec(text);
  return { field: m?.[1] ?? '', rest: m?.[2] ?? '' };
}

/** Splits the options field off the front of text (no spaces outside double quotes), like sshkey_advance_past_options. */
function takeOptions(text: string): { options: string; rest: string } | string {
  let quoted = false;
  let i = 0;
  for (; i < text.length && (quoted || (text[i] !== ' ' && text[i] !== '\t')); i++) {
    if (text[i] === '\\' && text[i + 1] === '"') i++;
    else if (text[i] === '"') quoted = !quoted;
  }
  if (quoted) return 'an option value has no closing quote';
  return { options: text.slice(0, i), rest: text.slice(i).replace(/^[ \t]+/, '') };
}

/** Reads a double-quoted option value at the start of text; returns it and what follows the closing quote. */
function dequote(name: string, text: string): { value: string; rest: string } | string {
  if (!text.startsWith('"'))
    return `the value of ${name} must be in double quotes, for example ${name}="…" (ssh-keygen ignores the line otherwise)`;
  let value = '';
  let i = 1;
  for (; i < text.length && text[i] !== '"'; i++) {
    if (text[i] === '\\' && text[i + 1] === '"') i++;
    value += text[i];
  }
  if (i >= text.length) return `the value of ${name} has no closing quote`;
  return { value, rest: text.slice(i + 1) };
}

/**
 * Parses an allowed_signers timestamp: YYYYMMDD or YYYYMMDDHHMM[SS], in the local time zone like
 * ssh-keygen, or UTC with a `Z` (or `UTC`) suffix. Undefined when it is not a valid time.
 */
export function parseSignerTime(text: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z|UTC)?$/i.exec(text);
  if (m === null) return undefined;
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((v) => Number(v ?? '0')) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const date = m[7] !== undefined ? new Date(Date.UTC(y, mo - 1, d, h, mi, s)) : new Date(y, mo - 1, d, h, mi, s);
  const utc = m[7] !== undefined;
  const back = utc
    ? [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()]
    : [date.getFullYear(), date.getMonth() + 1, date.getDate(), date.getHours(), date.getMinutes(), date.getSeconds()];
  // a date that does not exist (February 31) or a local time skipped by a clock change
  if (back.join() !== [y, mo, d, h, mi, s].join()) return undefined;
  return date;
}

interface Options {
  namespaces: string[] | null;
  validAfter: Date | null;
  validBefore: Date | null;
  touchRequired: boolean;
  verifyRequired: boolean;
}

/** Options of a line without any. */
function noOptions(): Options {
  return { namespaces: null, validAfter: null, validBefore: null, touchRequired: true, verifyRequired: false };
}

/** The options that take no value (security keys only), lower case. */
const FLAG_OPTIONS = ['no-touch-required', 'verify-required'];

/** Parses the options field (comma-separated, keywords case-insensitive) like sshsigopt_parse. */
function parseOptions(text: string): Options | string {
  const out = noOptions();
  let rest = text;
  while (rest !== '') {
    const lower = rest.toLowerCase();
    if (lower.startsWith('cert-authority')) {
      return "cert-authority (SSH certificates) is not supported by nfgit: list each signer's own key instead";
    }
    const flag = FLAG_OPTIONS.find((n) => lower === n || lower.startsWith(`${n},`));
    if (flag !== undefined) {
      if (flag === 'no-touch-required') out.touchRequired = false;
      else out.verifyRequired = true;
      rest = rest.slice(flag.length);
      if (rest === '') break;
      rest = rest.slice(1);
      if (rest === '') return 'the options end with a comma';
      continue;
    }
    const name = ['namespaces', 'valid-after', 'valid-before'].find((n) => lower.startsWith(`${n}=`));
    if (name === undefined) {
      return `unknown option "${rest.split(',')[0] ?? rest}" (known: namespaces, valid-after, valid-before, and for security keys no-touch-required, verify-required)`;
    }
    const dq = dequote(name, rest.slice(name.length + 1));
    if (typeof dq === 'string') return dq;
    if (name === 'namespaces') {
      if (out.namespaces !== null) return 'more than one namespaces option';
      out.namespaces = dq.value.split(',');
    } else {
      const when = parseSignerTime(dq.value);
      if (when === undefined) return `${name}="${dq.value}" is not a time: use YYYYMMDD or YYYYMMDDHHMM[SS], with Z for UTC`;
      const field = name === 'valid-after' ? 'validAfter' : 'validBefore';
      if (out[field] !== null) return `more than one ${name} option`;
      out[field] = when;
    }
    rest = dq.rest;
    if (rest === '') break;
    if (!rest.startsWith(',')) return `unexpected text after the ${name} option: "${rest}"`;
    rest = rest.slice(1);
    if (rest === '') return 'the options end with a comma';
  }
  if (out.validAfter !== null && out.validBefore !== null && out.validBefore <= out.validAfter) {
    return 'valid-before is not after valid-after';
  }
  return out;
}

/** Parses one non-comment line; a message when it is wrong. */
function parseLine(text: string, line: number): AllowedSigner | string {
  const first = takeField(text);
  if (typeof first === 'string') return first;
  if (first.rest === '') return 'expected "principals [options] keytype base64key"';
  let keyText = first.rest;
  let options = noOptions();
  const typeToken = keyText.split(/[ \t]/)[0] ?? '';
  if (!KEY_TYPE.test(typeToken)) {
    const opts = takeOptions(keyText);
    if (typeof opts === 'string') return opts;
    if (opts.rest === '') return 'the key is missing after the options';
    const parsed = parseOptions(opts.options);
    if (typeof parsed === 'string') return parsed;
    options = parsed;
    keyText = opts.rest;
  }
  let key: SshPublicKey;
  try {
    key = parsePublicKeyText(keyText);
  } catch (err) {
    if (err instanceof SshFormatError) return `invalid key: ${err.message}`;
    throw err;
  }
  if (!key.type.startsWith('sk-') && (!options.touchRequired || options.verifyRequired)) {
    return `${options.touchRequired ? 'verify-required' : 'no-touch-required'} is only for security keys (sk-…), not ${key.type}`;
  }
  return { line, principals: first.field.split(','), ...options, key };
}

/**
 * Parses the text of an allowed_signers file. Throws NfgitErrors with every bad line (`FILE:LINE:
 * message`), where ssh-keygen would silently skip them.
 */
export function parseAllowedSigners(text: string, source = 'allowed_signers'): AllowedSigner[] {
  const signers: AllowedSigner[] = [];
  const errors: NfgitError[] = [];
  text.split('\n').forEach((raw, i) => {
    const t = raw.replace(/^[ \t\r]+/, '').replace(/[\r\n]+$/, '');
    if (t === '' || t.startsWith('#')) return;
    const parsed = parseLine(t, i + 1);
    if (typeof parsed === 'string') errors.push(new UsageError(parsed, { trace: [{ file: source, line: i + 1 }] }));
    else signers.push(parsed);
  });
  if (errors.length > 0) throw new NfgitErrors(errors);
  return signers;
}

/** Reads and parses an allowed_signers file; NfgitError('UsageError') when it cannot be read. */
export function loadAllowedSigners(file: string): AllowedSigner[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the allowed signers file ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseAllowedSigners(text, file);
}

/** OpenSSH's match_pattern: `*` and `?` wildcards, case-sensitive. */
function matchPattern(text: string, pattern: string): boolean {
  let t = 0;
  let p = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    if (p < pattern.length && (pattern[p] === '?' || pattern[p] === text[t])) {
      t++;
      p++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      mark = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** OpenSSH's match_pattern_list: true when a pattern matches and no negated (`!`) pattern does. */
export function matchPatternList(text: string, patterns: readonly string[]): boolean {
  let positive = false;
  for (const pattern of patterns) {
    if (pattern.startsWith('!')) {
      if (matchPattern(text, pattern.slice(1))) return false;
    } else if (matchPattern(text, pattern)) {
      positive = true;
    }
  }
  return positive;
}

/** Why one line does not allow a signature in a namespace at a time; undefined when it does. */
function lineRefusal(s: AllowedSigner, namespace: string, when: Date, sk: SkSignatureDetails | undefined): string | undefined {
  const who = `${s.key.fingerprint} (${s.principals.join(',')}, line ${s.line})`;
  if (s.namespaces !== null && !matchPatternList(namespace, s.namespaces)) {
    return `key ${who} is not valid for namespace ${namespace} (namespaces="${s.namespaces.join(',')}")`;
  }
  const seconds = Math.floor(when.getTime() / 1000);
  if (s.validAfter !== null && seconds < Math.floor(s.validAfter.getTime() / 1000)) {
    return `key ${who} is not valid before ${s.validAfter.toISOString()} (valid-after), the signature is from ${when.toISOString()}`;
  }
  if (s.validBefore !== null && seconds > Math.floor(s.validBefore.getTime() / 1000)) {
    return `key ${who} expired at ${s.validBefore.toISOString()} (valid-before), the signature is from ${when.toISOString()}`;
  }
  // a security key's flags are what the authenticator attests; without them (sk undefined) the key
  // is not a security key and the options do not apply (parseLine allows them only on sk- keys)
  if (sk !== undefined && s.touchRequired && (sk.flags & SK_USER_PRESENCE) === 0) {
    return `security key ${who} signed without user presence (the key was not touched); add no-touch-required to the line to accept such signatures`;
  }
  if (sk !== undefined && s.verifyRequired && (sk.flags & SK_USER_VERIFICATION) === 0) {
    return `security key ${who} signed without user verification (PIN or biometric), which the line's verify-required demands`;
  }
  return undefined;
}

/** The lines of each key (by its blob), built once per list: a fleet's file names thousands of keys, checked once per host. */
const keyIndexes = new WeakMap<readonly AllowedSigner[], Map<string, AllowedSigner[]>>();

function byKey(signers: readonly AllowedSigner[]): Map<string, AllowedSigner[]> {
  let index = keyIndexes.get(signers);
  if (index === undefined) {
    index = new Map();
    for (const s of signers) {
      const k = s.key.blob.toString('base64');
      index.set(k, [...(index.get(k) ?? []), s]);
    }
    keyIndexes.set(signers, index);
  }
  return index;
}

/**
 * Finds who may sign with a key (its blob) in a namespace at a time, or says why nobody may: the key
 * is not listed, or every line listing it excludes the namespace, the time, or (for a security key,
 * sk being its signature's authenticator data) the touch or verification the signature lacks.
 */
export function matchSigner(
  signers: readonly AllowedSigner[],
  publicKey: Buffer,
  namespace: string,
  when: Date,
  sk?: SkSignatureDetails,
): SignerMatch {
  const lines = byKey(signers).get(publicKey.toString('base64')) ?? [];
  if (lines.length === 0) return { ok: false, reason: `signed by a key not in allowed_signers (${fingerprintSha256(publicKey)})` };
  const principals = new Set<string>();
  let reason: string | undefined;
  for (const s of lines) {
    const refusal = lineRefusal(s, namespace, when, sk);
    if (refusal === undefined) for (const p of s.principals) principals.add(p);
    else reason ??= refusal;
  }
  if (principals.size === 0) return { ok: false, reason: reason ?? `no principal may sign with ${fingerprintSha256(publicKey)}` };
  return { ok: true, principals: [...principals] };
}

/** The principals allowed to sign with a key (its blob) in a namespace at a time; empty when none. */
export function findPrincipals(
  signers: readonly AllowedSigner[],
  publicKey: Buffer,
  namespace: string,
  when: Date,
  sk?: SkSignatureDetails,
): string[] {
  const m = matchSigner(signers, publicKey, namespace, when, sk);
  return m.ok ? [...m.principals] : [];
}
