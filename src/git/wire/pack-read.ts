// Reading a git pack (gitformat-pack(5)) in memory: every entry inflated, deltas resolved, each object
// hashed to the id it is known by from then on, and the trailing checksum checked, so that a pack cut
// short or altered on the way is an error and never a smaller answer. Pure.

import { createHash } from 'node:crypto';
import { inflateSync } from 'node:zlib';

/** The object types a pack holds once deltas are resolved. */
export type ObjectType = 'commit' | 'tree' | 'blob' | 'tag';

/** One object: its type and content (without git's `TYPE SIZE\0` header). */
export interface WireObject {
  readonly type: ObjectType;
  readonly content: Buffer;
}

/** Thrown when bytes are not a whole, well-formed pack. */
export class PackError extends Error {}

const TYPES: Record<number, ObjectType> = { 1: 'commit', 2: 'tree', 3: 'blob', 4: 'tag' };
const OFS_DELTA = 6;
const REF_DELTA = 7;

/** The id git gives an object: SHA-1 of `TYPE SIZE\0CONTENT`. */
export function objectId(type: ObjectType, content: Buffer): string {
  return createHash('sha1').update(`${type} ${content.length}\0`, 'latin1').update(content).digest('hex');
}

interface Entry {
  readonly offset: number;
  readonly type: number;
  readonly data: Buffer;
  /** For an ofs-delta, the offset of its base; for a ref-delta, the base's id. */
  readonly base?: number | string;
}

/** Reads a whole pack; the map is in no particular order. */
export function readPack(pack: Buffer): Map<string, WireObject> {
  if (pack.length < 32 || pack.toString('latin1', 0, 4) !== 'PACK') throw new PackError('the answer holds no pack (no PACK header)');
  const version = pack.readUInt32BE(4);
  if (version !== 2 && version !== 3) throw new PackError(`pack version ${version} is not supported`);
  const count = pack.readUInt32BE(8);
  const body = pack.length - 20;
  const sum = createHash('sha1').update(pack.subarray(0, body)).digest();
  if (!sum.equals(pack.subarray(body))) throw new PackError('the pack checksum does not match: the pack was cut short or altered');
  const entries: Entry[] = [];
  let at = 12;
  for (let i = 0; i < count; i++) {
    if (at >= body) throw new PackError(`the pack announces ${count} objects but holds ${i}`);
    const offset = at;
    let c = pack[at++] ?? 0;
    const type = (c >> 4) & 7;
    let size = c & 15;
    let shift = 4;
    while (c & 0x80) {
      c = pack[at++] ?? 0;
      size += (c & 0x7f) * 2 ** shift;
      shift += 7;
    }
    let base: number | string | undefined;
    if (type === OFS_DELTA) {
      c = pack[at++] ?? 0;
      let ofs = c & 0x7f;
      while (c & 0x80) {
        c = pack[at++] ?? 0;
        ofs = (ofs + 1) * 128 + (c & 0x7f);
      }
      base = offset - ofs;
    } else if (type === REF_DELTA) {
      base = pack.toString('hex', at, at + 20);
      at += 20;
    } else if (TYPES[type] === undefined) throw new PackError(`unknown object type ${type} at byte ${offset}`);
    let inflated: { buffer: Buffer; engine: { bytesWritten: number } };
    try {
      // An output chunk of the object's own size: zlib's default (16 KiB) would leave every small
      // object (a status tag is some 700 bytes) holding 16 KiB, 80 MB for a fleet of 5,000.
      inflated = inflateSync(pack.subarray(at, body), { info: true, chunkSize: Math.max(64, size) }) as unknown as typeof inflated;
    } catch (err) {
      throw new PackError(`the object at byte ${offset} does not inflate: ${(err as Error).message}`);
    }
    if (inflated.buffer.length !== size)
      throw new PackError(`the object at byte ${offset} inflates to ${inflated.buffer.length} bytes, not ${size}`);
    at += inflated.engine.bytesWritten;
    entries.push({ offset, type, data: inflated.buffer, ...(base === undefined ? {} : { base }) });
  }
  if (at !== body) throw new PackError(`the pack has ${body - at} bytes after its last object`);
  return resolve(entries);
}

/** Resolves deltas (a base before or after its delta, ofs- or ref-), hashing every object. */
function resolve(entries: readonly Entry[]): Map<string, WireObject> {
  const byOffset = new Map(entries.map((e) => [e.offset, e]));
  const done = new Map<number, { oid: string; obj: WireObject }>();
  const byId = new Map<string, WireObject>();
  const pendingRef: Entry[] = [];
  const settle = (e: Entry, depth: number): { oid: string; obj: WireObject } | null => {
    const known = done.get(e.offset);
    if (known !== undefined) return known;
    if (depth > 10_000) throw new PackError('a delta chain loops');
    let obj: WireObject;
    if (e.base === undefined) obj = { type: TYPES[e.type] as ObjectType, content: e.data };
    else {
      let base: WireObject | undefined;
      if (typeof e.base === 'number') {
        const b = byOffset.get(e.base);
        if (b === undefined) throw new PackError(`a delta at byte ${e.offset} names a base at byte ${e.base}, where no object starts`);
        base = settle(b, depth + 1)?.obj;
      } else base = byId.get(e.base);
      if (base === undefined) return null;
      obj = { type: base.type, content: applyDelta(base.content, e.data) };
    }
    const oid = objectId(obj.type, obj.content);
    const r = { oid, obj };
    done.set(e.offset, r);
    byId.set(oid, obj);
    return r;
  };
  for (const e of entries) if (settle(e, 0) === null) pendingRef.push(e);
  // ref-deltas whose base comes later in the pack: settle until nothing moves.
  for (let left = pendingRef; left.length > 0; ) {
    const next = left.filter((e) => settle(e, 0) === null);
    if (next.length === left.length) {
      throw new PackError(`${next.length} delta(s) name a base the pack does not hold (a thin pack, which nfgit does not ask for)`);
    }
    left = next;
  }
  return byId;
}

/** Applies a git delta to its base. */
export function applyDelta(base: Buffer, delta: Buffer): Buffer {
  let at = 0;
  const varint = (): number => {
    let n = 0;
    let shift = 0;
    let c: number;
    do {
      c = delta[at++] ?? 0;
      n += (c & 0x7f) * 2 ** shift;
      shift += 7;
    } while (c & 0x80);
    return n;
  };
  const srcSize = varint();
  if (srcSize !== base.length) throw new PackError(`a delta is for a base of ${srcSize} bytes, not ${base.length}`);
  const out = Buffer.allocUnsafe(varint());
  let o = 0;
  while (at < delta.length) {
    const op = delta[at++] ?? 0;
    if (op & 0x80) {
      let off = 0;
      let size = 0;
      for (let i = 0; i < 4; i++) if (op & (1 << i)) off += (delta[at++] ?? 0) * 2 ** (8 * i);
      for (let i = 0; i < 3; i++) if (op & (0x10 << i)) size += (delta[at++] ?? 0) * 2 ** (8 * i);
      if (size === 0) size = 0x10000;
      if (off + size > base.length || o + size > out.length) throw new PackError('a delta copies past the end of its base or result');
      base.copy(out, o, off, off + size);
      o += size;
    } else if (op !== 0) {
      if (at + op > delta.length || o + op > out.length) throw new PackError('a delta inserts past its end');
      delta.copy(out, o, at, at + op);
      at += op;
      o += op;
    } else throw new PackError('a delta holds the reserved instruction 0');
  }
  if (o !== out.length) throw new PackError(`a delta makes ${o} bytes, not the ${out.length} it announces`);
  return out;
}
