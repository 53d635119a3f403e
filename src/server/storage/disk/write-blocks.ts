/**
 * The 1 MiB blocks received bytes are copied into before they are written, shared by all uploads.
 * Written blocks are kept for reuse: no allocation (and no garbage for the GC to get to late) per
 * MiB received. Enough spares for the uploads open now, trimmed as they finish. A block is shared
 * memory: the hash thread reads the very bytes that are written, without a copy.
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

/** A block to fill (a spare one when there is one). */
export function takeBlock(): Buffer {
  return spareBlocks.pop() ?? sharedBlock(BLOCK_BYTES);
}

/** Blocks (or the starts of blocks) that have been written and hashed: their memory may be reused. */
export function giveBack(blocks: Buffer[]): void {
  for (const block of blocks) {
    if (spareBlocks.length >= spareLimit()) return;
    if (block.buffer.byteLength === BLOCK_BYTES) spareBlocks.push(Buffer.from(block.buffer, 0, BLOCK_BYTES));
  }
}

/** Counts an upload as open; the returned function (idempotent) counts it as finished. */
export function openUpload(): () => void {
  openUploads++;
  let finished = false;
  return () => {
    if (finished) return;
    finished = true;
    openUploads--;
    spareBlocks.length = Math.min(spareBlocks.length, spareLimit());
  };
}
