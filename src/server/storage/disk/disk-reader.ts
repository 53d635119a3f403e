/**
 * The read side of a served directory without serving it (`ftx verify DIR` on the server box): stat,
 * read and list as DiskStorage does, with the digest log read but never written, and no lock, so it
 * works while `ftx serve` runs on the directory.
 */
import { existsSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../../../errors.js';
import type { Storage } from '../storage.js';
import { DigestIndex } from './digest-index.js';
import { DiskListings } from './listing.js';
import { readStored, statStored } from './reading.js';
import { ServedRoot } from './served-root.js';
import { StateDir } from './state-dir.js';

/** What a scrub needs of a storage. */
export type StorageReader = Pick<Storage, 'stat' | 'read' | 'list' | 'recordedNames'> & { close(): Promise<void> };

/** Opens `root` (a directory ftx serves or served: it has `.ftx-state/`) for reading. */
export async function openDiskReader(root: string): Promise<StorageReader> {
  const real = await realpath(root).catch(() => {
    throw new UsageError(`${root}: no such directory`);
  });
  if (!existsSync(join(real, '.ftx-state'))) throw new UsageError(`${root} is not a directory served by ftx (no .ftx-state/): nothing is recorded to verify against`);
  const served = ServedRoot.open(real);
  const stateDir = StateDir.open(served);
  const digests = await DigestIndex.open(stateDir, { readOnly: true });
  const listings = new DiskListings(served, digests);
  return {
    stat: async (name) => statStored(served, digests, name),
    read: (name, range) => readStored(served, name, range),
    list: (dir, options) => listings.list(dir, options),
    recordedNames: async (dir) => digests.namesUnder(dir),
    close: async () => {
      await listings.close();
      stateDir.close();
      served.close();
    },
  };
}
