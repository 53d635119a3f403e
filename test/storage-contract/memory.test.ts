/** The storage contract against the in-memory backend: the second implementation behind the seam. */
import { describe } from 'vitest';
import { MemoryStorage } from '../../src/server/storage/memory/memory-storage.js';
import { runStorageContract } from './contract.js';

describe('memory storage', () => {
  runStorageContract(async () => new MemoryStorage());
});
