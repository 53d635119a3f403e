/** The storage contract (test/storage-contract/contract.ts) against S3Storage on the real RGW. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe } from 'vitest';
import { S3Bucket } from '../../src/server/storage/s3/s3-bucket.js';
import { S3Storage } from '../../src/server/storage/s3/s3-storage.js';
import { runStorageContract } from '../storage-contract/contract.js';
import { freshBucket, testClient } from './helpers/store.js';

let store: Awaited<ReturnType<typeof freshBucket>>;
beforeAll(async () => { store = await freshBucket(); });
afterAll(async () => { await store?.remove(); });

describe('s3 storage', () => {
  // A fresh prefix per storage: as empty as a fresh directory; the contract closes each one.
  runStorageContract(async () => new S3Storage(new S3Bucket(testClient(), { bucket: store.name, prefix: `t-${randomBytes(4).toString('hex')}/` })),
    // Files under 8 MiB go up as one PutObject: nothing is kept of them to resume (its own tests cover multipart resume).
    { resumesSmallFiles: false });
});
