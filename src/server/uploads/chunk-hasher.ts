/**
 * Feeds an md5 on a hash thread whole protocol chunks only, so that the hash always sits at a
 * chunk boundary a resume can start from; a partial chunk waits in a tail buffer for the rest.
 * Whole chunks of a block go to the thread as they are (shared memory, no copy); only a partial
 * chunk's bytes are copied, into a tail the thread gets once it is full.
 */
import { sharedBlock } from '../../hashing/hash-file.js';
import type { PooledMd5 } from '../../hashing/md5-pool.js';

export class ChunkHasher {
  private tail: Buffer | undefined;
  private tailLength = 0;
  /** Settles once the thread is done with every byte posted so far (rejects if any update failed). */
  private lastPosted: Promise<void> = Promise.resolve();

  /** `hashed`: the offset the hash already covers (a resume's kept prefix). */
  constructor(readonly hash: PooledMd5, private readonly chunkSize: number, public hashed: number) {}

  /**
   * Posts `data`'s whole chunks to the thread; `hashed` counts them at once (they are hashed in
   * order before any later request). Resolves when the thread is done with the memory of `data`
   * and of every update before it, also when this one only filled the tail (nothing posted).
   */
  update(data: Buffer): Promise<void> {
    const { chunkSize } = this;
    let rest = data;
    if (this.tailLength > 0) {
      const take = Math.min(chunkSize - this.tailLength, rest.length);
      rest.copy(this.tail!, this.tailLength, 0, take);
      this.tailLength += take;
      rest = rest.subarray(take);
      if (this.tailLength < chunkSize) return this.lastPosted;
      this.post(this.tail!); // a new tail next time: the thread reads this one
      this.tail = undefined;
      this.hashed += chunkSize;
      this.tailLength = 0;
    }
    const whole = rest.length - (rest.length % chunkSize);
    if (whole > 0) {
      this.post(whole === rest.length ? rest : rest.subarray(0, whole));
      this.hashed += whole;
    }
    if (whole < rest.length) {
      this.tail = sharedBlock(chunkSize);
      rest.copy(this.tail, 0, whole);
      this.tailLength = rest.length - whole;
    }
    return this.lastPosted;
  }

  /** Posts bytes to the thread; `lastPosted` then covers them and everything before (a failure sticks). */
  private post(bytes: Buffer): void {
    this.lastPosted = Promise.all([this.lastPosted, this.hash.update(bytes)]).then(() => undefined);
  }

  /** The md5 of everything, the partial last chunk included (once, at the end). */
  async digest(): Promise<string> {
    if (this.tailLength > 0) await this.hash.update(this.tail!.subarray(0, this.tailLength));
    return this.hash.digest();
  }
}
