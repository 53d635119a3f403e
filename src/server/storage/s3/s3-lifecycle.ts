/**
 * The bucket lifecycle rule ftx keeps as a backstop for stale multipart uploads (the sweeper of
 * s3-sweeper.ts is the mechanism; this catches what it cannot: every server down for longer than the
 * TTL, a prefix no longer served). At `ftx serve s3://…` start: read the bucket's lifecycle rules,
 * put in one AbortIncompleteMultipartUpload rule scoped to the prefix (days = the partial TTL rounded
 * up to whole days, at least 1; S3 counts whole days and runs rules in a nightly window), and write
 * them back with every other rule as it was. Nothing is written when that rule is already there.
 * S3 has no condition on lifecycle writes: two writers of the same bucket's rules at the same moment
 * (two servers starting on different prefixes, or another tool) can lose one's change; a server that
 * starts again puts its rule back.
 */
import { createHash } from 'node:crypto';
import {
  GetBucketLifecycleConfigurationCommand, PutBucketLifecycleConfigurationCommand, type LifecycleRule,
} from '@aws-sdk/client-s3';
import type { S3Bucket } from './s3-bucket.js';
import { httpStatusOf, s3CodeOf } from './s3-errors.js';

const DAY_MS = 86_400_000;

/** Whole days of a TTL, rounded up, at least 1. */
export function backstopDays(ttlMs: number): number {
  return Math.max(1, Math.ceil(ttlMs / DAY_MS));
}

/** The id of ftx's rule for a prefix (an id is at most 255 characters; a prefix may be longer). */
export function backstopRuleId(prefix: string): string {
  return `ftx-abort-incomplete-${createHash('sha256').update(prefix).digest('hex').slice(0, 16)}`;
}

/** What happened to the rule: written, already there, or not (refused by the store, or it failed: a one-line reason). */
export type BackstopResult = { state: 'written' | 'present' } | { state: 'refused'; reason: string };

/** Merges ftx's rule for the bucket's prefix into the bucket's lifecycle rules. */
export async function ensureBackstopRule(bucket: S3Bucket, ttlMs: number): Promise<BackstopResult> {
  const id = backstopRuleId(bucket.prefix);
  const rule: LifecycleRule = {
    ID: id, Status: 'Enabled', Filter: { Prefix: bucket.prefix },
    AbortIncompleteMultipartUpload: { DaysAfterInitiation: backstopDays(ttlMs) },
  };
  try {
    const rules = await readRules(bucket);
    const mine = rules.find((r) => r.ID === id);
    if (mine !== undefined && sameRule(mine, rule)) return { state: 'present' };
    await writeRules(bucket, [...rules.filter((r) => r.ID !== id), rule]);
    return { state: 'written' };
  } catch (error) {
    // A backstop only: whatever went wrong (AccessDenied, NotImplemented, a timeout), serving goes on.
    return { state: 'refused', reason: s3CodeOf(error) };
  }
}

function sameRule(a: LifecycleRule, b: LifecycleRule): boolean {
  return a.Status === b.Status && (a.Filter?.Prefix ?? a.Prefix) === b.Filter?.Prefix
    && a.AbortIncompleteMultipartUpload?.DaysAfterInitiation === b.AbortIncompleteMultipartUpload?.DaysAfterInitiation
    && a.Expiration === undefined && a.Transitions === undefined && a.NoncurrentVersionExpiration === undefined;
}

async function readRules(bucket: S3Bucket): Promise<LifecycleRule[]> {
  try {
    const r = await bucket.client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket.bucket }),
      { abortSignal: AbortSignal.timeout(bucket.timeoutMs) });
    return r.Rules ?? [];
  } catch (error) {
    if (s3CodeOf(error) === 'NoSuchLifecycleConfiguration' || httpStatusOf(error) === 404) return [];
    throw error;
  }
}

async function writeRules(bucket: S3Bucket, rules: LifecycleRule[]): Promise<void> {
  await bucket.client.send(new PutBucketLifecycleConfigurationCommand({ Bucket: bucket.bucket, LifecycleConfiguration: { Rules: rules } }),
    { abortSignal: AbortSignal.timeout(bucket.timeoutMs) });
}
