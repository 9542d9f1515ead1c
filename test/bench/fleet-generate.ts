// The fleet bench's generator: the status of H hosts written into a rules repository in seconds, as
// the agents leave it (issue 14): per host `tags.keep` signed decision tags `refs/tags/nfgit/HOST/COMMIT12[.N]`,
// each message linking the decision before it (`Previous-Tag:`), and the current ref
// `refs/nfgit/hosts/HOST` at the newest tag object. Every tag is a real SSH-signed status tag (`git tag -v`
// and `nfgit status` verify it) by a key of the host's own, listed in an allowed_signers file.
//
// Signing runs in-process (node:crypto ed25519, no ssh-keygen per host), the tag objects go into one
// pack written here (git index-pack makes its index) and the refs into packed-refs: 25,000 tags take
// a few seconds, where `git tag -s` would take minutes.

import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOST_STATUS_REFS, statusTagName, type StatusRecord, type TagLink } from '../../src/git/status-message.js';
import { allowedSignersLine } from '../../src/git/signing/host-identity.js';
import { ED25519, sshString, type HostKey } from '../../src/git/signing/openssh-key.js';
import { signedTagObject } from '../../src/git/status-write.js';
import { objectId } from '../../src/git/wire/pack-read.js';
import { writePack } from '../../src/git/wire/pack-write.js';

/** Options of generateFleetStatus. */
export interface FleetStatusOptions {
  /** The bare rules repository: holds the commits; the status objects and refs are added to it. */
  readonly bare: string;
  /** Commits of the branch, oldest first: each host decided on the last `keep` of them (repeating the first when fewer). */
  readonly commits: readonly string[];
  readonly hosts: number;
  /** An allowed_signers file: one line per host (`HOST@nfgit namespaces="git" ssh-ed25519 …`) is appended. */
  readonly allowedSigners: string;
  /** Decision tags per host (the agents' `tags.keep`; default 5). */
  readonly keep?: number;
  /** The newest report's time (default now); older decisions are 10 minutes apart before it. */
  readonly now?: Date;
}

/** What generateFleetStatus wrote. */
export interface FleetStatus {
  /** Host names, `fw-00001` …, in order. */
  readonly hosts: readonly string[];
  /** Decision tags written (hosts × keep). */
  readonly tags: number;
  /** The hosts whose newest decision is `refused` (every 25th): the rest applied the newest commit. */
  readonly refused: readonly string[];
  readonly seconds: number;
}

/** Every REFUSED_EVERY-th host refused the newest commit: the fleet view has something to report. */
const REFUSED_EVERY = 25;
const AGENT = 'nfgit 0.1.0 (fleet bench)';

/** The name of host i (from 1): zero-padded so names sort in host order. */
export function fleetHostName(i: number): string {
  return `fw-${String(i).padStart(5, '0')}`;
}

/** A fresh ed25519 key as nfgit's HostKey, without a file. */
function hostKey(host: string): HostKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url');
  const publicKeyBlob = sshString(ED25519, raw);
  return { privateKey, publicKeyBlob, publicKey: `${ED25519} ${publicKeyBlob.toString('base64')}`, comment: host };
}

/**
 * Writes the status of `hosts` hosts into bare: one signed tag object per decision (a pack), the
 * decision tags and each host's current ref (packed-refs, merged with any there), and one
 * allowed_signers line per host. Host i's newest decision applies the newest commit, except every
 * 25th host, which refused it (and still runs the one before).
 */
export function generateFleetStatus(opts: FleetStatusOptions): FleetStatus {
  const t0 = performance.now();
  const keep = opts.keep ?? 5;
  const now = opts.now ?? new Date();
  const { commits } = opts;
  if (commits.length === 0) throw new Error('generateFleetStatus: no commits to decide on');
  const objects: Buffer[] = [];
  const refs = new Map<string, { oid: string; peeled: string }>();
  const hosts: string[] = [];
  const refused: string[] = [];
  const signers: string[] = [];
  for (let i = 1; i <= opts.hosts; i++) {
    const host = fleetHostName(i);
    hosts.push(host);
    const key = hostKey(host);
    signers.push(allowedSignersLine(host, key.publicKey));
    const refuses = i % REFUSED_EVERY === 0;
    if (refuses) refused.push(host);
    let running: string | null = null;
    let previousTag: TagLink | undefined;
    const names = new Set<string>();
    let newest: { oid: string; commit: string } | undefined;
    for (let j = 0; j < keep; j++) {
      const commit = commits[Math.max(0, commits.length - keep + j)] ?? '';
      const last = j === keep - 1;
      const result = last && refuses ? 'refused' : 'applied';
      const base = statusTagName(host, commit);
      let name = base;
      for (let n = 2; names.has(name); n++) name = `${base}.${n}`;
      names.add(name);
      const digest = (family: string): string => `sha256:${createHash('sha256').update(`${family} ${commit}`).digest('hex')}`;
      const record: StatusRecord = {
        result,
        host,
        commit,
        previous: running,
        rules: result === 'applied' ? { ipv4: { rules: 20, digest: digest('ipv4') }, ipv6: { rules: 20, digest: digest('ipv6') } } : {},
        ...(result === 'applied' && running !== null
          ? { changes: { ipv4: { added: 1, removed: 1 }, ipv6: { added: 1, removed: 1 } } }
          : {}),
        errors: result === 'refused' ? ['rules/10-bench:3: iptables: unknown option "--dporrt" (did you mean --dport?)'] : [],
        agent: AGENT,
        // Decisions 10 minutes apart, the newest a host's index in seconds before now (all well inside 3 h: not stale).
        time: new Date(now.getTime() - (keep - 1 - j) * 600_000 - (i % 600) * 1000),
        ...(previousTag === undefined ? {} : { previousTag }),
      };
      const content = signedTagObject(record, name, key);
      const oid = objectId('tag', content);
      objects.push(content);
      refs.set(`refs/tags/${name}`, { oid, peeled: commit });
      previousTag = { name, oid };
      if (result === 'applied') running = commit;
      newest = { oid, commit };
    }
    if (newest !== undefined) refs.set(`${HOST_STATUS_REFS}${host}`, { oid: newest.oid, peeled: newest.commit });
  }
  writePackInto(opts.bare, objects);
  writePackedRefs(opts.bare, refs);
  appendFileSync(opts.allowedSigners, signers.map((l) => l + '\n').join(''));
  return { hosts, tags: opts.hosts * keep, refused, seconds: (performance.now() - t0) / 1000 };
}

/** Writes the objects as one pack into bare and indexes it with git index-pack. */
function writePackInto(bare: string, objects: readonly Buffer[]): void {
  // The status writer's own tag objects and pack format: what the bench reads is what agents write.
  const pack = writePack(objects.map((content) => ({ type: 'tag' as const, content })));
  const dir = join(bare, 'objects', 'pack');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `pack-${pack.subarray(pack.length - 20).toString('hex')}.pack`);
  writeFileSync(file, pack);
  execFileSync('git', ['index-pack', file], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * Writes refs into bare's packed-refs, keeping the refs already packed there (loose refs, such as the
 * branch, stay loose and win). Fully peeled: every annotated tag line is followed by its commit.
 */
function writePackedRefs(bare: string, refs: ReadonlyMap<string, { oid: string; peeled: string }>): void {
  const file = join(bare, 'packed-refs');
  const all = new Map<string, string[]>();
  if (existsSync(file)) {
    const text = readFileSync(file, 'utf8');
    // Under a fully-peeled header git trusts a tag line without a ^ line to peel to nothing: only merge such a file.
    if (!/^# pack-refs with:.* fully-peeled/.test(text)) throw new Error(`${file} is not fully peeled: run git pack-refs --all first`);
    let current: string[] | undefined;
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      if (line.startsWith('^') && current !== undefined) current.push(line);
      else {
        current = [line];
        all.set(line.slice(line.indexOf(' ') + 1), current);
      }
    }
  }
  for (const [ref, { oid, peeled }] of refs) all.set(ref, peeled === '' ? [`${oid} ${ref}`] : [`${oid} ${ref}`, `^${peeled}`]);
  const sorted = [...all.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const text = '# pack-refs with: peeled fully-peeled sorted \n' + sorted.map((r) => (all.get(r) ?? []).join('\n') + '\n').join('');
  writeFileSync(file, text);
}
