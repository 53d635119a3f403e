import { readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FtxClient } from '../src/client/client.js';
import { FtxError } from '../src/errors.js';
import { listTree, md5, withServer, writeRandomFile } from './helpers/server.js';
import { testClientAuth } from './helpers/transport-mode.js';

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return error instanceof FtxError ? error.code : `not-ftx: ${String(error)}`;
  }
  return 'resolved';
}

describe('put, client and server in one process over loopback', () => {
  it.each([0, 1, 4095, 4096, 4097, 20 * 1024 * 1024 + 123])('lands a %i-byte file with the same md5', async (size) => {
    await withServer({}, async ({ server, root, scratch }) => {
      const { path, data } = await writeRandomFile(scratch, 'src.bin', size);
      const client = await FtxClient.connect({ host: '127.0.0.1', port: server.port, ...testClientAuth });
      const receipt = await client.put(path, { remoteName: 'landed.bin' });
      await client.close();
      const landed = await readFile(join(root, 'landed.bin'));
      expect(landed.length).toBe(size);
      expect(md5(landed)).toBe(md5(data));
      expect(receipt.md5).toBe(md5(data));
      expect(receipt.size).toBe(size);
      expect(await listTree(root)).toEqual(['landed.bin']);
    });
  });

  it('sends several files one after another on one connection, with other chunk sizes', async () => {
    await withServer({}, async ({ server, root, scratch }) => {
      const client = await FtxClient.connect({ host: '127.0.0.1', port: server.port, ...testClientAuth });
      const sizes = [10, 70_000, 1_000_000];
      for (const [i, size] of sizes.entries()) {
        const { path, data } = await writeRandomFile(scratch, `f${i}`, size);
        await client.put(path, { remoteName: `sub/f${i}`, chunkSize: [512, 65536, 1 << 20][i]! });
        expect(md5(await readFile(join(root, 'sub', `f${i}`)))).toBe(md5(data));
      }
      await client.close();
    });
  });

  it('runs 10 uploads at once, each landing intact', async () => {
    await withServer({}, async ({ server, root, scratch }) => {
      const files = await Promise.all(
        Array.from({ length: 10 }, (_, i) => writeRandomFile(scratch, `c${i}.bin`, 1_000_000 + i * 4099)),
      );
      await Promise.all(files.map(async ({ path }, i) => {
        const client = await FtxClient.connect({ host: '127.0.0.1', port: server.port, ...testClientAuth });
        await client.put(path, { remoteName: `c${i}.bin` });
        await client.close();
      }));
      for (const [i, { data }] of files.entries()) {
        expect(md5(await readFile(join(root, `c${i}.bin`)))).toBe(md5(data));
      }
      expect((await listTree(root)).length).toBe(10);
    });
  });

  it('keeps the source mtime and refuses to overwrite unless asked', async () => {
    await withServer({}, async ({ server, root, scratch }) => {
      const { path } = await writeRandomFile(scratch, 'a.txt', 100);
      const when = new Date('2024-02-03T04:05:06.000Z');
      await utimes(path, when, when);
      const client = await FtxClient.connect({ host: '127.0.0.1', port: server.port, ...testClientAuth });
      await client.put(path, { remoteName: 'a.txt' });
      expect((await stat(join(root, 'a.txt'))).mtime.toISOString()).toBe(when.toISOString());
      const first = await readFile(join(root, 'a.txt'));
      await writeFile(path, 'new content');
      expect(await codeOf(client.put(path, { remoteName: 'a.txt' }))).toBe('exists');
      expect((await readFile(join(root, 'a.txt'))).equals(first)).toBe(true);
      // The connection stays usable after a refusal.
      await client.put(path, { remoteName: 'a.txt', overwrite: true });
      expect(await readFile(join(root, 'a.txt'), 'utf8')).toBe('new content');
      await client.close();
    });
  });

  it('authenticates with a token and refuses a wrong or missing one', async () => {
    await withServer({ token: 's3cret' }, async ({ server, root, scratch }) => {
      const { path } = await writeRandomFile(scratch, 'x', 10);
      expect(await codeOf(FtxClient.connect({ host: '127.0.0.1', port: server.port, token: 'wrong' }))).toBe('auth_failed');
      // With a token the server speaks TLS: a client without one is told so in plain text (PROTOCOL.md §14.5).
      // (No testClientAuth here: this client has no token in either mode.)
      expect(await codeOf(FtxClient.connect({ host: '127.0.0.1', port: server.port }))).toBe('tls_required');
      const client = await FtxClient.connect({ host: '127.0.0.1', port: server.port, token: 's3cret' });
      await client.put(path, { remoteName: 'x' });
      await client.close();
      expect(await listTree(root)).toEqual(['x']);
    });
  });

  it('refuses a file over --max-size before any byte is sent', async () => {
    await withServer({ maxSize: 1000 }, async ({ server, root, scratch }) => {
      const { path } = await writeRandomFile(scratch, 'big', 1001);
      const client = await FtxClient.connect({ host: '127.0.0.1', port: server.port, ...testClientAuth });
      let progressCalls = 0;
      expect(await codeOf(client.put(path, { remoteName: 'big', onProgress: () => progressCalls++ }))).toBe('too_large');
      expect(progressCalls).toBe(0);
      client.destroy();
      expect(await listTree(root)).toEqual([]);
    });
  });

  it('reports progress that never goes down and ends at the total', async () => {
    await withServer({}, async ({ server, scratch }) => {
      const size = 8 * 1024 * 1024 + 5;
      const { path } = await writeRandomFile(scratch, 'p.bin', size);
      const client = await FtxClient.connect({ host: '127.0.0.1', port: server.port, ...testClientAuth });
      const seen: number[] = [];
      await client.put(path, { remoteName: 'p.bin', onProgress: (done, total) => { expect(total).toBe(size); seen.push(done); } });
      await client.close();
      expect(seen.length).toBeGreaterThan(2);
      for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]!);
      expect(seen.at(-1)).toBe(size);
    });
  });

  it('refuses a second upload of the same name while the first is in flight (busy)', async () => {
    await withServer({}, async ({ server, root, scratch }) => {
      const { path, data } = await writeRandomFile(scratch, 'slow.bin', 30 * 1024 * 1024);
      const first = await FtxClient.connect({ host: '127.0.0.1', port: server.port, ...testClientAuth });
      const second = await FtxClient.connect({ host: '127.0.0.1', port: server.port, ...testClientAuth });
      let secondCode = '';
      const upload = first.put(path, {
        remoteName: 'same.bin',
        onProgress: (done) => {
          if (done > 0 && secondCode === '') {
            secondCode = 'pending';
            void codeOf(second.put(path, { remoteName: 'same.bin' })).then((code) => (secondCode = code));
          }
        },
      });
      await upload;
      await first.close();
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(secondCode).toBe('busy');
      second.destroy();
      expect(md5(await readFile(join(root, 'same.bin')))).toBe(md5(data));
    });
  });
});
