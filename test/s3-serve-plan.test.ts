/** `ftx serve s3://…` planning and packaging (no store needed: the store itself is tested in test/s3/). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { planServe } from '../src/cli/serve-command.js';
import { runFtx } from './helpers/cli.js';

describe('serve s3://', () => {
  it('plans a bucket target with the --s3-* settings; they are refused without one', () => {
    const plan = planServe('s3://my-bucket/a/b', { s3Endpoint: 'http://127.0.0.1:9000', s3Addressing: 'path', s3Timeout: 5000 });
    expect(plan.s3).toEqual({ location: { bucket: 'my-bucket', prefix: 'a/b/' }, settings: { endpoint: 'http://127.0.0.1:9000', addressing: 'path', requestTimeoutMs: 5000 } });
    expect(planServe('.', {}).s3).toBeUndefined();
    expect(() => planServe('.', { s3Region: 'eu-west-1' })).toThrow(expect.objectContaining({ code: 'usage' }));
    expect(() => planServe('s3://Bad_Bucket', {})).toThrow(expect.objectContaining({ code: 'usage' }));
    expect(() => planServe('s3://my-bucket', { hashThreads: 2 })).toThrow(/--hash-threads applies to a directory/);
  });

  it('the CLI bundle does not contain or import the AWS SDK (loaded only for an s3 target)', () => {
    const bundle = readFileSync('dist/cli/program.js', 'utf8');
    expect(bundle).not.toMatch(/from ["']@aws-sdk|from ["']hash-wasm/);
    expect(bundle).toMatch(/import\("\.\.\/server\/storage\/s3\/s3-storage\.js"\)/);
  });

  it('a store that cannot be reached: one line, exit 13', async () => {
    const run = await runFtx(['serve', 's3://some-bucket', '--port', '0', '--s3-endpoint', 'http://127.0.0.1:1', '--s3-timeout', '2'],
      { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', AWS_EC2_METADATA_DISABLED: 'true' });
    expect(run.code).toBe(13);
    expect(run.stderr).toMatch(/^ftx: error: cannot use s3:\/\/some-bucket\/: the object store cannot be reached .*ECONNREFUSED.*\n$/);
  });
});

describe('503 store_unavailable', () => {
  it('is retried by the client, like busy (PROTOCOL.md status table: retryable later)', async () => {
    const { isRetryable } = await import('../src/client/retry.js');
    const { StatusError } = await import('../src/errors.js');
    expect(isRetryable(new StatusError(503, 'store_unavailable', 'the object store did not answer'))).toBe(true);
    expect(isRetryable(new StatusError(507, 'insufficient_storage', 'full'))).toBe(false);
  });
});
