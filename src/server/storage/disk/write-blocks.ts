/**
 * The 1 MiB blocks received bytes are copied into before they are written, shared by all uploads.
 * Written blocks are kept for reuse: no allocation (and no garbage for the GC to get to late) per
 * MiB received. Enough spares for the uploads open now, trimmed as they finish. A block is shared
 * memory: the hash thread reads the very bytes that are written, without a copy. One pool and one
 * budget per process, not per server, on purpose: what they bound is the process's memory.
 */
import { sharedBlock } from '../../../hashing/hash-file.js';

/** Size of one block: a file write starts once one is full. */
export const BLOCK_BYTES = 1024 * 1024;
const SPARE_BLOCKS_PER_UPLOAD = 6;
/** Spares kept with no upload open: the next uploads reuse them instead of leaving garbage behind. */
const IDLE_SPARE_BLOCKS = 16;
const spareBlocks: Buffer[] = [];
let openUploads = 0;
const spareLimit = (): number => Math.max(IDLE_SPARE_BLOCKS, openUploads * SPARE_BLOCKS_PER_UPLOAD);
/**
 * Blocks all uploads together hold (taken, not yet both written and hashed) past which each upload
 * waits until its own are given back: with many uploads at once, memory stays near this many MiB
 * instead of growing with every upload's write and hash windows. One upload alone stays below it.
 */
export const BLOCK_BUDGET = 16;
let heldTotal = 0;

/** Blocks held by all open uploads together (diagnostics and tests). */
export function blocksHeld(): number {
  return heldTotal;
}

/** The blocks of one upload: taken, given back once written and hashed, the rest let go when it finishes. */
export class BlockAccount {
  private held = 0;
  private finished = false;

  constructor() {
    openUploads++;
  }

  /** A block to fill (a spare one when there is one). */
  take(): Buffer {
    this.held++;
    heldTotal++;
    return spareBlocks.pop() ?? sharedBlock(BLOCK_BYTES);
  }

  /** Blocks (or the starts of blocks) taken here that have been written and hashed: their memory may be reused. */
  giveBack(blocks: Buffer[]): void {
    const n = Math.min(blocks.length, this.held);
    this.held -= n;
    heldTotal -= n;
    for (const block of blocks) {
      if (spareBlocks.length >= spareLimit()) break;
      if (block.buffer.byteLength === BLOCK_BYTES) spareBlocks.push(Buffer.from(block.buffer, 0, BLOCK_BYTES));
    }
  }

  /** True while all uploads together hold BLOCK_BUDGET blocks and this one more than the one it fills. */
  get overBudget(): boolean {
    return heldTotal >= BLOCK_BUDGET && this.held > 1;
  }

  /** The upload is finished: what it still holds is let go (idempotent). */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    heldTotal -= this.held;
    this.held = 0;
    openUploads--;
    spareBlocks.length = Math.min(spareBlocks.length, spareLimit());
  }
}
