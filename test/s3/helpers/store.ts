/**
 * The real RGW for a test: a client from the env the global setup provided, and a fresh bucket per
 * test file (random name), emptied and removed afterwards.
 */
import { randomBytes } from 'node:crypto';
import {
  AbortMultipartUploadCommand, CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand,
  ListMultipartUploadsCommand, ListObjectsV2Command, S3Client,
} from '@aws-sdk/client-s3';
import { inject } from 'vitest';
import { S3Bucket } from '../../../src/server/storage/s3/s3-bucket.js';
import { createS3Client } from '../../../src/server/storage/s3/s3-client.js';
import type { S3Location } from '../../../src/server/storage/s3/s3-location.js';

// The SDK reads credentials (and AWS_ENDPOINT_URL) from process.env itself, as it does in `ftx serve`.
Object.assign(process.env, inject('s3').vars);

/** The env a child `ftx serve s3://...` needs (endpoint, keys, checksum settings). */
export function storeEnv(): Record<string, string> {
  return inject('s3').vars;
}

/** An S3 client configured exactly as ftx configures its own, from the store's env. */
export function testClient(): S3Client {
  const s3 = inject('s3');
  return createS3Client({ endpoint: s3.endpoint, region: s3.region });
}

/** A new, empty bucket; `remove()` empties and deletes it. */
export async function freshBucket(prefix = ''): Promise<{ name: string; location: S3Location; bucket: S3Bucket; client: S3Client; remove(): Promise<void> }> {
  const client = testClient();
  const name = `ftx-t-${randomBytes(6).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: name }));
  const location = { bucket: name, prefix };
  return {
    name, location, client, bucket: new S3Bucket(client, location),
    async remove() {
      await emptyBucket(client, name);
      await client.send(new DeleteBucketCommand({ Bucket: name }));
      client.destroy();
    },
  };
}

/** Aborts every multipart upload and deletes every object of a bucket. */
export async function emptyBucket(client: S3Client, name: string): Promise<void> {
  const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: name }));
  for (const u of uploads.Uploads ?? []) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: name, Key: u.Key, UploadId: u.UploadId }));
  }
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: name, ...(token ? { ContinuationToken: token } : {}) }));
    for (const o of page.Contents ?? []) await client.send(new DeleteObjectCommand({ Bucket: name, Key: o.Key }));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}
