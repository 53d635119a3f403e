/**
 * startServer({ storage }) takes any Storage: a real server over the in-memory backend, driven by
 * the real client over a loopback socket. Nothing touches a directory.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FtxClient } from '../../src/client/client.js';
import { startServer } from '../../src/server/server.js';
import { MemoryStorage } from '../../src/server/storage/memory/memory-storage.js';
import { makeTempDir, md5 } from '../helpers/server.js';

describe('a server over the memory storage', () => {
  it('takes a put, answers check and refuses a taken name as the disk does', async () => {
    const storage = new MemoryStorage();
    const server = await startServer({ storage, host: '127.0.0.1', port: 0 });
    const { dir, cleanup } = await makeTempDir('ftx-memsrv-');
    const client = await FtxClient.connect({ host: '127.0.0.1', port: server.port });
    try {
      expect(server.root).toBe('memory:');
      const data = randomBytes(3 * 1024 * 1024 + 17);
      const path = join(dir, 'src.bin');
      await writeFile(path, data);
      const receipt = await client.put(path, { remoteName: 'in/memory.bin' });
      expect(receipt).toMatchObject({ filename: 'in/memory.bin', md5: md5(data) });
      expect(await storage.stat('in/memory.bin')).toMatchObject({ size: data.length, md5: md5(data) });
      const [answer] = await client.check([{ filename: 'in/memory.bin', size: data.length, mtime: 0, md5: md5(data) }]);
      expect(answer?.state).toBe('identical');
      await expect(client.put(path, { remoteName: 'in/memory.bin' })).rejects.toMatchObject({ code: 'exists' });
    } finally {
      await client.close();
      await server.close();
      await cleanup();
    }
  });

  it('scrubs a backend that keeps no record outliving its files (no recordedNames)', async () => {
    const storage = new MemoryStorage();
    expect('recordedNames' in storage).toBe(false);
    const server = await startServer({ storage, host: '127.0.0.1', port: 0 });
    const { dir, cleanup } = await makeTempDir('ftx-memsrv-');
    const client = await FtxClient.connect({ host: '127.0.0.1', port: server.port });
    try {
      const path = join(dir, 'src.bin');
      await writeFile(path, randomBytes(10_000));
      await client.put(path, { remoteName: 'in/a.bin' });
      await client.put(path, { remoteName: 'in/b.bin' });
      const results: string[] = [];
      const summary = await client.verify('in', (r) => results.push(`${r.filename} ${r.state}`), () => undefined);
      expect(summary).toMatchObject({ files: 2, ok: 2, missing: 0, corrupt: 0 });
      expect(results.sort()).toEqual(['in/a.bin ok', 'in/b.bin ok']);
      expect(await client.verify('out', () => undefined, () => undefined)).toMatchObject({ files: 1, missing: 1 });
    } finally {
      await client.close();
      await server.close();
      await cleanup();
    }
  });

  it('refuses a stream that grows past --max-size though the backend has no limit of its own (the uploads layer\'s)', async () => {
    // MemoryStorage gathers any number of bytes: the 413 can only come from the limit in front of
    // every backend's body (server/uploads/body-pieces.ts), the one S3 relies on too.
    const storage = new MemoryStorage();
    const server = await startServer({ storage, host: '127.0.0.1', port: 0, maxSize: 256 * 1024 });
    const client = new FtxClient({ host: '127.0.0.1', port: server.port });
    const next = new FtxClient({ host: '127.0.0.1', port: server.port });
    try {
      const blocks = Array.from({ length: 8 }, () => randomBytes(64 * 1024)); // 512 KiB, sized unknown
      await expect(client.putStream(Readable.from(blocks), { remoteName: 'grows.bin' })).rejects.toMatchObject({ code: 'too_large', status: 413 });
      expect(await storage.stat('grows.bin')).toBeNull();
      const small = Buffer.from('still serving');
      const receipt = await next.putStream(Readable.from([small]), { remoteName: 'after.txt' });
      expect(receipt).toMatchObject({ filename: 'after.txt', md5: md5(small) });
    } finally {
      client.destroy();
      await next.close();
      await server.close();
    }
  });
});
