/** The bucket lifecycle backstop (s3-lifecycle.ts) on the real RGW, read back from the store. */
import { GetBucketLifecycleConfigurationCommand, PutBucketLifecycleConfigurationCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Bucket } from '../../src/server/storage/s3/s3-bucket.js';
import { backstopDays, backstopRuleId, ensureBackstopRule } from '../../src/server/storage/s3/s3-lifecycle.js';
import { freshBucket, storeEnv } from './helpers/store.js';

const HOUR = 3_600_000;
let store: Awaited<ReturnType<typeof freshBucket>>;
beforeAll(async () => { store = await freshBucket(); });
afterAll(async () => { await store?.remove(); });

const rules = async () => (await store.client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: store.name }))).Rules ?? [];

describe('lifecycle backstop', () => {
  it('days: the TTL rounded up to whole days, at least 1', () => {
    expect([backstopDays(1), backstopDays(24 * HOUR), backstopDays(24 * HOUR + 1), backstopDays(72 * HOUR)]).toEqual([1, 1, 2, 3]);
  });

  it('merges its rule into the bucket\'s, keeps a foreign rule, writes nothing when present, replaces its own', async () => {
    const foreign = { ID: 'someone-else', Status: 'Enabled' as const, Filter: { Prefix: 'logs/' }, Expiration: { Days: 30 } };
    await store.client.send(new PutBucketLifecycleConfigurationCommand({ Bucket: store.name, LifecycleConfiguration: { Rules: [foreign] } }));
    const bucket = new S3Bucket(store.client, { bucket: store.name, prefix: 'srv/a/' });
    expect(await ensureBackstopRule(bucket, 36 * HOUR)).toEqual({ state: 'written' });
    const after = await rules();
    expect(after.find((r) => r.ID === 'someone-else')).toMatchObject({ Filter: { Prefix: 'logs/' }, Expiration: { Days: 30 } });
    expect(after.find((r) => r.ID === backstopRuleId('srv/a/'))).toMatchObject({
      Status: 'Enabled', Filter: { Prefix: 'srv/a/' }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 },
    });
    expect(await ensureBackstopRule(bucket, 36 * HOUR)).toEqual({ state: 'present' });
    // Another prefix adds its own rule; a new TTL replaces this prefix's rule (never two).
    expect(await ensureBackstopRule(new S3Bucket(store.client, { bucket: store.name, prefix: 'srv/b/' }), HOUR)).toEqual({ state: 'written' });
    expect(await ensureBackstopRule(bucket, 100 * HOUR)).toEqual({ state: 'written' });
    const last = await rules();
    expect(last.map((r) => r.ID).sort()).toEqual([backstopRuleId('srv/a/'), backstopRuleId('srv/b/'), 'someone-else'].sort());
    expect(last.find((r) => r.ID === backstopRuleId('srv/a/'))?.AbortIncompleteMultipartUpload?.DaysAfterInitiation).toBe(5);
    expect(last.find((r) => r.ID === backstopRuleId('srv/b/'))?.AbortIncompleteMultipartUpload?.DaysAfterInitiation).toBe(1);
  });

  it('a store that refuses is a one-line reason, not a failure', async () => {
    const stranger = new S3Client({
      endpoint: storeEnv().AWS_ENDPOINT_URL!, region: 'us-east-1', forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED',
      credentials: { accessKeyId: 'nobody', secretAccessKey: 'wrong' },
    });
    const result = await ensureBackstopRule(new S3Bucket(stranger, { bucket: store.name, prefix: 'x/' }), HOUR);
    expect(result.state).toBe('refused');
    expect(result.state === 'refused' && result.reason).toMatch(/^\S+$/);
    stranger.destroy();
  });
});
