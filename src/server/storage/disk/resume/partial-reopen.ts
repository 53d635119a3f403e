/** Continuing a kept partial: reopen its data file at the durable offset with the md5 of the prefix. */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { hashFileRangeOffThread } from '../../../../hashing/hash-file.js';
import type { HashPool, PooledMd5 } from '../../../../hashing/md5-pool.js';
import type { PartialState, PartialStore } from './partials.js';
import type { UploadRequest } from '../../storage.js';

/** Interval of keep-alive callbacks while a kept prefix is re-read. */
const WAIT_INTERVAL_MS = 2000;

/** Passes progress on at most every WAIT_INTERVAL_MS (a keep-alive, not a progress bar). */
function throttled(onWait: ((done: number, total: number) => void) | undefined): ((done: number, total: number) => void) | undefined {
  if (!onWait) return undefined;
  let last = Date.now();
  return (done, total) => {
    if (Date.now() - last < WAIT_INTERVAL_MS) return;
    last = Date.now();
    onWait(done, total);
  };
}

/**
 * Reopens a kept partial at its durable offset (whole chunks of this put), cutting off anything
 * after it. `dataAt` is the data file's path through its directory's fd; a symlink there is never
 * followed (the partial is then given up). The md5 of the prefix comes from the in-memory snapshot when the data file is exactly
 * as the last attempt left it, else it is re-read from disk (after a restart or any change).
 */
export async function reopenPartial(
  partials: PartialStore, state: PartialState, target: UploadRequest, dataAt: string, pool: HashPool,
): Promise<{ handle: FileHandle; offset: number; hash: PooledMd5 } | undefined> {
  const handle = await open(dataAt, constants.O_RDWR | constants.O_NOFOLLOW).catch(() => undefined);
  if (!handle) return undefined;
  let hash: PooledMd5 | undefined;
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size < state.durable) throw new Error('partial shorter than its state');
    // A second name of this inode (a landed file after a crash between link and unlink, or any
    // hard link): never write through it. The caller drops the partial, which unlinks only its name.
    if (info.nlink !== 1) throw new Error('partial shares its inode with another name');
    const offset = state.durable - (state.durable % target.chunkSize);
    let snapshot = await partials.takeSnapshot(state.filename, state.data);
    if (snapshot && snapshot.offset > offset) {
      snapshot.hash.dispose();
      snapshot = undefined;
    }
    hash = snapshot?.hash ?? pool.open();
    const from = snapshot?.offset ?? 0;
    const onWait = throttled(target.onWait);
    await hashFileRangeOffThread(handle, hash, from, offset, (at) => onWait?.(at - from, offset - from));
    await handle.truncate(offset);
    state.durable = offset;
    return { handle, offset, hash };
  } catch {
    hash?.dispose(); // its thread forgets the state
    await handle.close().catch(() => undefined);
    return undefined;
  }
}
