/**
 * Feeds an md5 whole protocol chunks only, so that the hash always sits at a chunk boundary a
 * resume can start from; a partial chunk waits in a tail buffer for the rest.
 */
import type { Hash } from 'node:crypto';

export class ChunkHasher {
  private readonly tail: Buffer;
  private tailLength = 0;

  /** `hashed`: the offset the hash already covers (a resume's kept prefix). */
  constructor(readonly hash: Hash, chunkSize: number, public hashed: number) {
    this.tail = Buffer.allocUnsafe(chunkSize);
  }

  update(chunk: Buffer): void {
    const chunkSize = this.tail.length;
    let data = chunk;
    if (this.tailLength > 0) {
      const take = Math.min(chunkSize - this.tailLength, data.length);
      data.copy(this.tail, this.tailLength, 0, take);
      this.tailLength += take;
      data = data.subarray(take);
      if (this.tailLength < chunkSize) return;
      this.hash.update(this.tail);
      this.hashed += chunkSize;
      this.tailLength = 0;
    }
    const whole = data.length - (data.length % chunkSize);
    if (whole > 0) {
      this.hash.update(whole === data.length ? data : data.subarray(0, whole));
      this.hashed += whole;
    }
    if (whole < data.length) {
      data.copy(this.tail, 0, whole);
      this.tailLength = data.length - whole;
    }
  }

  /** The md5 of everything, the partial last chunk included (once, at the end). */
  digest(): string {
    if (this.tailLength > 0) this.hash.update(this.tail.subarray(0, this.tailLength));
    return this.hash.digest('hex');
  }
}
