import { createHash } from 'node:crypto';

/** A git object's id: the hash of `TYPE SIZE\0CONTENT` (sha1, or sha256 in a SHA-256 repository). */
export function gitObjectId(type: string, content: Uint8Array, algorithm: 'sha1' | 'sha256' = 'sha1'): string {
  return createHash(algorithm).update(`${type} ${content.length}\0`, 'latin1').update(content).digest('hex');
}
