/**
 * The whole-file md5 of an S3 upload, with a state that can be saved at a part boundary and loaded
 * by another process (or another server) to continue: Node's Hash cannot be exported, hash-wasm's
 * MD5 can (156 bytes). A saved state is only valid for the same hash-wasm build, so it is stored
 * with HASHER_ID and refused (resume from 0) under any other.
 */
import { createMD5, type IHasher } from 'hash-wasm';

/** Names the implementation a saved state belongs to; package.json pins this exact version. */
export const HASHER_ID = 'hash-wasm@4.13.0/md5';

/** An md5 in progress whose state survives the process. */
export class SavableMd5 {
  private constructor(private readonly hasher: IHasher) {}

  /** A fresh md5, or one continued from `state` (base64 of save()); throws on a state it cannot load. */
  static async create(state?: string): Promise<SavableMd5> {
    const hasher = await createMD5();
    hasher.init();
    if (state !== undefined) hasher.load(Buffer.from(state, 'base64'));
    return new SavableMd5(hasher);
  }

  /** Adds bytes. */
  update(data: Uint8Array): void {
    this.hasher.update(data);
  }

  /** The state now, base64 (for the upload's state object). */
  save(): string {
    return Buffer.from(this.hasher.save()).toString('base64');
  }

  /** The digest of everything added, lowercase hex (the hasher cannot be used afterwards). */
  digestHex(): string {
    return this.hasher.digest('hex');
  }
}
