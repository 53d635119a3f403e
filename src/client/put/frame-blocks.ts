/**
 * The client's blocks of data frames for a stream body (docs/PROTOCOL.md §6.6: a uint32
 * big-endian length, then that many payload bytes). Input is gathered into large shared-memory
 * blocks, so the socket gets one write per block instead of one per 64 KiB piece of a pipe, and
 * the hash thread hashes the payloads where they are (PooledMd5.updateFrames). Input gets there
 * either by a copy (add) or by being read straight into the block (spaces, then took): each region
 * read into is one frame, its header written once its length is known.
 */
import { sharedBlock } from '../../hashing/hash-file.js';
import type { PooledMd5 } from '../../hashing/md5-pool.js';
import { DATA_FRAME_HEADER_BYTES } from '../../protocol/constants.js';

/** Framed input is gathered into blocks of about this size before it goes to the socket. */
const BLOCK_BYTES = 1024 * 1024;
/** Bytes posted to the hash thread but not yet hashed before the input waits. */
const MAX_UNHASHED_BYTES = 4 * 1024 * 1024;
/** A read straight into a block gets at least this much room; a block with less left is sent. */
const MIN_READ_BYTES = 16 * 1024;

/** A block and who still uses it: its filler, and the socket and the hash thread for each part sent. */
interface Block {
  bytes: Buffer;
  users: number;
}

/** Sends `data` (whole frames with `payload` bytes); `done` once the kernel took them. False: wait for drain. */
export type SendFrames = (data: Buffer, payload: number, done: () => void) => boolean;

/**
 * Data frames of at most `chunkSize` payload bytes in shared blocks. A block is sent in one or
 * more parts (flush sends what is gathered; reading may go on behind it) and reused once its filler
 * has moved on and the kernel and the hash thread are done with every part.
 */
export class FrameBlocks {
  private readonly free: Buffer[] = [];
  private block: Block;
  /** End of the frames written into the block, and the start of those not yet sent. */
  private fill = 0;
  private sentUpTo = 0;
  /** Payload bytes of the frames not yet sent. */
  private payload = 0;
  private readonly size: number;
  private unhashed: Array<{ bytes: number; done: Promise<void> }> = [];
  private unhashedBytes = 0;
  private failure: Error | undefined;
  /** Payload room of each region the last spaces() gave. */
  private readonly regionLengths: number[] = [];
  /** True once a send asked to wait for the socket to drain (cleared by whoever waits). */
  needsDrain = false;

  constructor(private readonly chunkSize: number, private readonly hash: PooledMd5, private readonly send: SendFrames) {
    this.size = Math.max(BLOCK_BYTES, chunkSize + DATA_FRAME_HEADER_BYTES);
    this.block = { bytes: sharedBlock(this.size), users: 1 };
  }

  /** Adds a copy of `data` as frames; returns false if the socket asked to wait (a full block was sent). */
  add(data: Buffer): boolean {
    for (let from = 0; from < data.length;) {
      const length = Math.min(this.chunkSize, data.length - from);
      if (this.fill + DATA_FRAME_HEADER_BYTES + length > this.size) this.nextBlock();
      data.copy(this.block.bytes, this.fill + DATA_FRAME_HEADER_BYTES, from, from + length);
      this.frameWritten(length);
      from += length;
    }
    return !this.needsDrain;
  }

  /**
   * Where the next read may put its bytes, in the block itself: the payloads of new frames, one
   * after the other with room for each header, at most `maxBytes` in all (at least one region).
   * Valid until took(); a flush in between does not move them.
   */
  spaces(maxBytes = this.chunkSize): Buffer[] {
    const regions: Buffer[] = [];
    this.regionLengths.length = 0;
    for (let at = this.fill, room = maxBytes; room > 0 && (at === this.fill || this.size - at >= DATA_FRAME_HEADER_BYTES + MIN_READ_BYTES);) {
      const from = at + DATA_FRAME_HEADER_BYTES;
      at = Math.min(this.size, from + this.chunkSize, from + room);
      regions.push(this.block.bytes.subarray(from, at));
      this.regionLengths.push(at - from);
      room -= at - from;
    }
    return regions;
  }

  /**
   * `length` bytes were read into the regions of the last spaces(), in order: each filled region
   * becomes a frame. False if the socket asked to wait.
   */
  took(length: number): boolean {
    for (const room of this.regionLengths) {
      const n = Math.min(room, length);
      if (n === 0) break;
      this.frameWritten(n);
      length -= n;
    }
    this.regionLengths.length = 0;
    if (this.size - this.fill < DATA_FRAME_HEADER_BYTES + MIN_READ_BYTES) this.nextBlock();
    return !this.needsDrain;
  }

  /** Sends what is gathered and not yet sent, and hands it to the hash thread. False if the socket asked to wait. */
  flush(): boolean {
    if (this.fill === this.sentUpTo) return !this.needsDrain;
    const block = this.block;
    const frames = block.bytes.subarray(this.sentUpTo, this.fill);
    block.users += 2;
    const done = this.hash.updateFrames(frames).then(() => this.release(block), (error: Error) => { this.failure ??= error; });
    this.unhashed.push({ bytes: frames.length, done });
    this.unhashedBytes += frames.length;
    if (!this.send(frames, this.payload, () => this.release(block))) this.needsDrain = true;
    this.sentUpTo = this.fill;
    this.payload = 0;
    return !this.needsDrain;
  }

  /** True while the input should wait for the hash thread (settle). */
  get overHashWindow(): boolean {
    return this.unhashedBytes > MAX_UNHASHED_BYTES || this.failure !== undefined;
  }

  /** Waits while too much is unhashed (`all`: until everything is); throws if the hash thread failed. */
  async settle(all = false): Promise<void> {
    while (this.unhashed.length > 0 && (all || this.unhashedBytes > MAX_UNHASHED_BYTES) && !this.failure) {
      const oldest = this.unhashed.shift()!;
      await oldest.done;
      this.unhashedBytes -= oldest.bytes;
    }
    if (this.failure) throw this.failure;
  }

  /** The header of a frame whose `length` payload bytes are in place after it. */
  private frameWritten(length: number): void {
    this.block.bytes.writeUInt32BE(length, this.fill);
    this.fill += DATA_FRAME_HEADER_BYTES + length;
    this.payload += length;
  }

  /** Sends the rest of this block and moves on to a free one. */
  private nextBlock(): void {
    this.flush();
    this.release(this.block);
    this.block = { bytes: this.free.pop() ?? sharedBlock(this.size), users: 1 };
    this.fill = 0;
    this.sentUpTo = 0;
  }

  private release(block: Block): void {
    if (--block.users === 0) this.free.push(block.bytes);
  }
}
