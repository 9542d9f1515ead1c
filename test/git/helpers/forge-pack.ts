// The attack of issue 11 made real: a pack whose index says an object id is there, with other
// content behind it. git's own index-pack refuses such a pack (it hashes every object), so the pack
// and its version 2 index are written here byte by byte (Documentation/gitformat-pack.txt).

import { createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { crc32, deflateSync } from 'node:zlib';

const TYPE_NUMBER = { commit: 1, tree: 2, blob: 3, tag: 4 } as const;

/** The pack entry header: type and size, the size in 4 then 7-bit groups, low bits first. */
function entryHeader(type: number, size: number): Buffer {
  const bytes: number[] = [];
  let c = (type << 4) | (size & 0x0f);
  let rest = Math.floor(size / 16);
  while (rest > 0) {
    bytes.push(c | 0x80);
    c = rest & 0x7f;
    rest = Math.floor(rest / 128);
  }
  bytes.push(c);
  return Buffer.from(bytes);
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const sha1 = (b: Buffer): Buffer => createHash('sha1').update(b).digest();

/**
 * Writes into gitdir's objects/pack a pack of one object whose index files it under `oid` while its
 * content is `content`; returns the pack's path. The real object with that id must not also be loose
 * (see removeLoose), or readers find the loose one first.
 */
export function writeForgedPack(gitdir: string, oid: string, type: keyof typeof TYPE_NUMBER, content: Buffer | string): string {
  const body = Buffer.isBuffer(content) ? content : Buffer.from(content);
  const entry = Buffer.concat([entryHeader(TYPE_NUMBER[type], body.length), deflateSync(body)]);
  const unsigned = Buffer.concat([Buffer.from('PACK'), u32(2), u32(1), entry]);
  const packSum = sha1(unsigned);
  const pack = Buffer.concat([unsigned, packSum]);
  const first = Number.parseInt(oid.slice(0, 2), 16);
  const fanout = Buffer.concat(Array.from({ length: 256 }, (_, i) => u32(i >= first ? 1 : 0)));
  const idxBody = Buffer.concat([
    Buffer.from([0xff, 0x74, 0x4f, 0x63]),
    u32(2),
    fanout,
    Buffer.from(oid, 'hex'),
    u32(crc32(entry)),
    u32(12),
    packSum,
  ]);
  const idx = Buffer.concat([idxBody, sha1(idxBody)]);
  const base = path.join(gitdir, 'objects', 'pack', `pack-${packSum.toString('hex')}`);
  writeFileSync(`${base}.pack`, pack);
  writeFileSync(`${base}.idx`, idx);
  return `${base}.pack`;
}

/** Deletes the loose copy of an object (what the attacker does so that the forged pack is read). */
export function removeLoose(gitdir: string, oid: string): void {
  rmSync(path.join(gitdir, 'objects', oid.slice(0, 2), oid.slice(2)));
}
