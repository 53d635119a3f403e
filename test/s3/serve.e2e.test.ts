/**
 * `ftx serve s3://bucket/prefix` end to end: the built CLI, real processes, the real RGW. Several
 * servers on one bucket behind a load balancer that alternates connections between them: one winner
 * per name, resume through the other server, resume after a kill -9, no false receipt.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFtx, spawnServe, type ServeProcess } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/server.js';
import { partialKey } from '../../src/server/storage/s3/s3-keys.js';
import { parsePartialState } from '../../src/server/storage/s3/s3-partial-state.js';
import { GetBucketLifecycleConfigurationCommand } from '@aws-sdk/client-s3';
import { backstopRuleId } from '../../src/server/storage/s3/s3-lifecycle.js';
import { startAlternatingProxy } from './helpers/alternating-proxy.js';
import { freshBucket, storeEnv } from './helpers/store.js';

const MiB = 1 << 20;
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

let store: Awaited<ReturnType<typeof freshBucket>>;
let tmp: Awaited<ReturnType<typeof makeTempDir>>;
const servers: ServeProcess[] = [];
beforeAll(async () => {
  store = await freshBucket('e2e/');
  tmp = await makeTempDir('ftx-s3-e2e-');
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop('SIGKILL')));
  await store?.remove();
  await tmp?.cleanup();
});

async function serve(extra: string[] = []): Promise<ServeProcess> {
  const s = await spawnServe([`s3://${store.name}/e2e`, '--port', '0', ...extra], storeEnv());
  servers.push(s);
  return s;
}

async function source(name: string, size: number): Promise<{ path: string; data: Buffer }> {
  const data = randomBytes(size);
  const path = join(tmp.dir, name);
  await writeFile(path, data);
  return { path, data };
}

async function stored(key: string): Promise<Buffer | null> {
  const head = await store.bucket.head(key);
  if (head === null) return null;
  const chunks: Buffer[] = [];
  for await (const c of await store.bucket.getRange(key, 0, head.size)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('ftx serve s3://', () => {
  it('sets the bucket lifecycle backstop for its prefix at start, days from --partial-ttl', async () => {
    await serve(['--partial-ttl', '30']);
    const { Rules } = await store.client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: store.name }));
    expect(Rules?.find((r) => r.ID === backstopRuleId('e2e/'))).toMatchObject({
      Status: 'Enabled', Filter: { Prefix: 'e2e/' }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 },
    });
  });

  it('takes its credentials and region from AWS_PROFILE and the shared files, as the AWS tools do', async () => {
    const vars = storeEnv();
    const credentials = join(tmp.dir, 'aws-credentials');
    const config = join(tmp.dir, 'aws-config');
    await writeFile(credentials, `[ftx-e2e]\naws_access_key_id = ${vars.AWS_ACCESS_KEY_ID}\naws_secret_access_key = ${vars.AWS_SECRET_ACCESS_KEY}\n`);
    await writeFile(config, `[profile ftx-e2e]\nregion = ${vars.AWS_REGION}\n`);
    const server = await spawnServe([`s3://${store.name}/e2e`, '--port', '0'], {
      ...vars, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined,
      AWS_PROFILE: 'ftx-e2e', AWS_SHARED_CREDENTIALS_FILE: credentials, AWS_CONFIG_FILE: config,
    });
    servers.push(server);
    const file = await source('profiled.txt', 1234);
    const run = await runFtx(['put', file.path, `127.0.0.1:${server.port}`, '--no-progress']);
    expect(run.code, run.stderr).toBe(0);
    expect(md5((await stored('profiled.txt')) ?? Buffer.alloc(0))).toBe(md5(file.data));
    await server.stop();
  });

  it('lands small and large files verified, and a second run finds them identical', async () => {
    const server = await serve();
    const small = await source('small.txt', 3000);
    const big = await source('big.bin', 20 * MiB + 3);
    const run = await runFtx(['put', small.path, big.path, `127.0.0.1:${server.port}`, '--no-progress']);
    expect(run.code, run.stderr).toBe(0);
    expect(md5((await stored('small.txt')) ?? Buffer.alloc(0))).toBe(md5(small.data));
    expect(md5((await stored('big.bin')) ?? Buffer.alloc(0))).toBe(md5(big.data));
    expect((await store.bucket.head('big.bin'))?.metadata['ftx-md5']).toBe(md5(big.data));
    const again = await runFtx(['put', small.path, big.path, `127.0.0.1:${server.port}`, '--no-progress', '--checksum']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/skipped .*small\.txt.*identical/);
    expect(again.stdout).toMatch(/skipped .*big\.bin.*identical/);
    await server.stop();
  });

  it('a dropped connection resumes through the other server (bytes re-sent: less than one part)', async () => {
    const [a, b] = [await serve(), await serve()];
    const file = await source('resumed.bin', 40 * MiB);
    const proxy = await startAlternatingProxy([a.port, b.port], { cutFirstAfter: 20 * MiB });
    const run = await runFtx(['put', file.path, `127.0.0.1:${proxy.port}`, '--no-progress', '--retry-wait', '0.2']);
    expect(run.code, run.stderr).toBe(0);
    expect(proxy.connections()).toBeGreaterThanOrEqual(2);
    expect(b.log()).toMatch(/put "resumed\.bin" .* resumed@16777216 ok/);
    // 20 MiB sent, 16 MiB (one part) kept: the retry sends 24 MiB, not 40.
    expect(proxy.forwarded()).toBeLessThan(20 * MiB + 40 * MiB - 8 * MiB);
    expect(md5((await stored('resumed.bin')) ?? Buffer.alloc(0))).toBe(md5(file.data));
    await proxy.close();
  });

  it('a server killed with -9 mid-upload: the retry resumes on another server from the state in the bucket', async () => {
    const [a, b] = [await serve(), await serve()];
    const file = await source('crash.bin', 48 * MiB);
    const proxy = await startAlternatingProxy([a.port, b.port], { bytesPerSecond: 40 * MiB });
    const run = runFtx(['put', file.path, `127.0.0.1:${proxy.port}`, '--no-progress', '--retry-wait', '0.2']);
    // Kill once the bucket holds a state with a recorded part (at ~16 of 48 MiB sent).
    for (;;) {
      const body = await store.bucket.getBuffer(partialKey('crash.bin'));
      const state = body === null ? null : parsePartialState(body);
      if (state !== null && state.durable > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await a.stop('SIGKILL');
    const result = await run;
    expect(result.code, result.stderr).toBe(0);
    expect(b.log()).toMatch(/put "crash\.bin" .* resumed@16777216 ok/);
    // Re-sent = what the retries carried (the first connection's bytes still in flight when the server
    // died are lost, not re-sent): the 32 MiB after the recorded part, and the control frames.
    expect(proxy.connections()).toBeGreaterThanOrEqual(2);
    expect(proxy.forwardedFrom(1)).toBeGreaterThanOrEqual(48 * MiB - 16 * MiB);
    expect(proxy.forwardedFrom(1)).toBeLessThanOrEqual(48 * MiB - 16 * MiB + 64 * 1024);
    expect(md5((await stored('crash.bin')) ?? Buffer.alloc(0))).toBe(md5(file.data));
    await proxy.close();
  });

  it('one winner per name across two servers; every receipt is true', async () => {
    const [a, b] = [await serve(), await serve()];
    const proxy = await startAlternatingProxy([a.port, b.port]);
    for (const i of [0, 1, 2, 3]) await mkdir(join(tmp.dir, `w${i}`));
    const sources = await Promise.all([0, 1, 2, 3].map((i) => source(`w${i}/same.bin`, 12 * MiB)));
    const small = await Promise.all([0, 1, 2, 3].map((i) => source(`w${i}/same.txt`, 2000)));
    // Distinct mtimes: otherwise a later check finds "identical" (size + mtime) and skips, exit 0.
    for (const [i, f] of [...sources, ...small].entries()) await utimes(f.path, 1_000_000 + i, 1_000_000 + i);
    const put = (path: string) => runFtx(['put', path, `127.0.0.1:${proxy.port}`, '--no-progress', '--retries', '3', '--retry-wait', '0.5']);
    const runs = await Promise.all([...sources.map((s) => put(s.path)), ...small.map((s) => put(s.path))]);
    const bigWinners = runs.slice(0, 4).flatMap((r, i) => (r.code === 0 ? [i] : []));
    const smallWinners = runs.slice(4).flatMap((r, i) => (r.code === 0 ? [i] : []));
    expect(bigWinners, runs.map((r) => r.stderr).join('\n')).toHaveLength(1);
    expect(smallWinners).toHaveLength(1);
    for (const r of runs) if (r.code !== 0) expect(r.code).toBe(5);
    expect(md5((await stored('same.bin')) ?? Buffer.alloc(0))).toBe(md5(sources[bigWinners[0] as number]!.data));
    expect(md5((await stored('same.txt')) ?? Buffer.alloc(0))).toBe(md5(small[smallWinners[0] as number]!.data));
    await proxy.close();
  });
});
