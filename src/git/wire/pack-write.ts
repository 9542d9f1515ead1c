// Writing a small git pack (gitformat-pack(5)) of whole objects, no deltas: what a status push sends
// (a few tag objects). Pure.

import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import type { ObjectType, WireObject } from './pack-read.js';

const TYPE_CODE: Record<ObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 };

/** A version 2 pack holding the objects, each stored whole. */
export function writePack(objects: readonly WireObject[]): Buffer {
  const header = Buffer.alloc(12);
  header.write('PACK', 0, 'latin1');
  header.writeUInt32BE(2, 4);
  header.writeUInt32BE(objects.length, 8);
  const parts: Buffer[] = [header];
  for (const o of objects) {
    const bytes: number[] = [];
    let size = o.content.length;
    let c = (TYPE_CODE[o.type] << 4) | (size & 15);
    size = Math.floor(size / 16);
    while (size > 0) {
      bytes.push(c | 0x80);
      c = size & 0x7f;
      size = Math.floor(size / 128);
    }
    bytes.push(c);
    parts.push(Buffer.from(bytes), deflateSync(o.content));
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([body, createHash('sha1').update(body).digest()]);
}
