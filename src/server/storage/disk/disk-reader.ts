/**
 * The read side of a served directory without serving it (`ftx verify DIR` on the server box): stat,
 * read and list as DiskStorage does, with the digest log read but never written, and no lock, so it
 * works while `ftx serve` runs on the directory. `ftx verify DIR --forget-missing` opens it with the
 * lock instead (no server may run meanwhile: the server keeps the log in memory and appends to it).
 */
import { existsSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../../../errors.js';
import type { Storage } from '../storage.js';
import { DigestIndex } from './digest-index.js';
import { lockDirectory, type DirectoryLock } from './dir-lock.js';
import { DiskListings } from './listing.js';
import { readStored, statStored } from './reading.js';
import { ServedRoot } from './served-root.js';
import { StateDir } from './state-dir.js';

/** What a scrub needs of a storage. */
export type StorageReader = Pick<Storage, 'stat' | 'read' | 'list' | 'recordedNames'> & { close(): Promise<void> };

/** A reader that also holds the directory's lock (no server runs on it) and may drop records. */
export type StorageMaintainer = StorageReader & { forget(names: readonly string[]): Promise<void> };

/**
 * Opens `root` (a directory ftx serves or served: it has `.ftx-state/`) for reading; with `lock`,
 * takes the directory's lock first (DirectoryInUseError while `ftx serve` runs on it) so that the
 * digest log may be rewritten.
 */
export async function openDiskReader(root: string): Promise<StorageReader>;
export async function openDiskReader(root: string, options: { lock: true }): Promise<StorageMaintainer>;
export async function openDiskReader(root: string, options: { lock?: boolean } = {}): Promise<StorageReader | StorageMaintainer> {
  const real = await realpath(root).catch(() => {
    throw new UsageError(`${root}: no such directory`);
  });
  if (!existsSync(join(real, '.ftx-state'))) throw new UsageError(`${root} is not a directory served by ftx (no .ftx-state/): nothing is recorded to verify against`);
  const served = ServedRoot.open(real);
  const stateDir = StateDir.open(served);
  let lock: DirectoryLock | undefined;
  try {
    if (options.lock) lock = await lockDirectory(real, stateDir.path);
  } catch (error) {
    stateDir.close();
    served.close();
    throw error;
  }
  const digests = await DigestIndex.open(stateDir, { readOnly: !lock });
  const listings = new DiskListings(served, digests);
  return {
    stat: async (name) => statStored(served, digests, name),
    read: (name, range) => readStored(served, name, range),
    list: (dir, listOptions) => listings.list(dir, listOptions),
    recordedNames: async (dir) => digests.namesUnder(dir),
    forget: async (names: readonly string[]) => {
      if (!lock) throw new Error('forget needs the directory lock');
      await digests.forget(names);
    },
    close: async () => {
      await listings.close();
      stateDir.close();
      served.close();
      await lock?.release();
    },
  };
}
