/** s3://bucket[/prefix] targets and addressing (pure; the store itself is tested in test/s3/). */
import { describe, expect, it } from 'vitest';
import { isS3Target, parseS3Target, usesPathStyle } from '../src/server/storage/s3/s3-location.js';

describe('s3 targets', () => {
  it('parses bucket and prefix', () => {
    expect(isS3Target('s3://b')).toBe(true);
    expect(isS3Target('./s3:')).toBe(false);
    expect(parseS3Target('s3://my-bucket')).toEqual({ bucket: 'my-bucket', prefix: '' });
    expect(parseS3Target('s3://my-bucket/')).toEqual({ bucket: 'my-bucket', prefix: '' });
    expect(parseS3Target('s3://my.bucket/a//b/')).toEqual({ bucket: 'my.bucket', prefix: 'a/b/' });
  });

  it('refuses bad buckets and prefixes with a usage error', () => {
    for (const bad of ['s3://', 's3://A', 's3://ab', 's3://a_b', 's3://a..b', 's3://bucket/../x', 's3://bucket/.ftx-state', 's3://bucket/a\u0001']) {
      expect(() => parseS3Target(bad), bad).toThrow(expect.objectContaining({ code: 'usage' }));
    }
  });

  it('is path-style when an endpoint is configured, unless told otherwise', () => {
    expect(usesPathStyle({}, {})).toBe(false);
    expect(usesPathStyle({}, { AWS_ENDPOINT_URL: 'http://127.0.0.1:9000' })).toBe(true);
    expect(usesPathStyle({ endpoint: 'http://x' }, {})).toBe(true);
    expect(usesPathStyle({ endpoint: 'http://x', addressing: 'virtual' }, {})).toBe(false);
    expect(usesPathStyle({ addressing: 'path' }, {})).toBe(true);
  });
});
