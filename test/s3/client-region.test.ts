/**
 * The region of ftx's S3 client (s3-client.ts): --s3-region, then AWS_REGION / AWS_DEFAULT_REGION,
 * then the profile's `region` in the shared config file (the SDK's own chain), then us-east-1.
 * Building a client makes no request: no store needed, but the SDK is this suite's dependency.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/server/storage/s3/s3-client.js';
import { makeTempDir } from '../helpers/server.js';

const NAMES = ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE'];
const saved = Object.fromEntries(NAMES.map((n) => [n, process.env[n]]));
let tmp: Awaited<ReturnType<typeof makeTempDir>>;
let config: string;

beforeAll(async () => {
  tmp = await makeTempDir('ftx-s3-region-');
  config = join(tmp.dir, 'config');
  await writeFile(config, '[default]\nregion = eu-default-1\n[profile far]\nregion = ap-far-7\n');
  await writeFile(join(tmp.dir, 'credentials'), '');
});
afterAll(async () => { await tmp?.cleanup(); });
afterEach(() => {
  for (const n of NAMES) {
    if (saved[n] === undefined) delete process.env[n];
    else process.env[n] = saved[n];
  }
});

async function regionWith(env: Record<string, string>, settings: { region?: string; profile?: string } = {}): Promise<string> {
  for (const n of NAMES) delete process.env[n];
  Object.assign(process.env, { AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: join(tmp.dir, 'credentials') }, env);
  const client = createS3Client({ endpoint: 'http://127.0.0.1:9', ...settings });
  try {
    return await client.config.region();
  } finally {
    client.destroy();
  }
}

describe('the S3 client region', () => {
  it('is the profile\'s region from the shared config file when no variable names one', async () => {
    expect(await regionWith({ AWS_PROFILE: 'far' })).toBe('ap-far-7');
    expect(await regionWith({})).toBe('eu-default-1');
    expect(await regionWith({}, { profile: 'far' })).toBe('ap-far-7');
  });

  it('is AWS_REGION or AWS_DEFAULT_REGION before the file, and --s3-region before all', async () => {
    expect(await regionWith({ AWS_PROFILE: 'far', AWS_REGION: 'eu-var-2' })).toBe('eu-var-2');
    expect(await regionWith({ AWS_PROFILE: 'far', AWS_DEFAULT_REGION: 'eu-old-3' })).toBe('eu-old-3');
    expect(await regionWith({ AWS_REGION: 'eu-var-2' }, { region: 'sa-flag-4' })).toBe('sa-flag-4');
  });

  it('is us-east-1 when nothing names one (RGW and MinIO take any)', async () => {
    await writeFile(join(tmp.dir, 'empty-config'), '');
    expect(await regionWith({ AWS_CONFIG_FILE: join(tmp.dir, 'empty-config') })).toBe('us-east-1');
  });
});
