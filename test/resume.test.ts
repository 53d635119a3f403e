import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { startServer } from '../src/server/server.js';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FtxClient, type RetryNotice } from '../src/client/client.js';
import { startCutProxy } from './helpers/cut-proxy.js';
import { listPartialStates, listTree, md5, type ServerFixture, withServer, writeRandomFile } from './helpers/server.js';

const FAST_RETRY = { retries: 5, baseDelayMs: 10, maxDelayMs: 50 };

/** Uploads through a proxy that cuts the first connection after `cutAfter` bytes. */
async function putThroughCut(fixture: ServerFixture, path: string, cutAfter: number, retries = FAST_RETRY, bytesPerSecond?: number) {
  const proxy = await startCutProxy(fixture.server.port, cutAfter, { bytesPerSecond });
  const notices: RetryNotice[] = [];
  const session = new FtxClient({ host: '127.0.0.1', port: proxy.port, idleTimeoutMs: 10_000, retry: retries, onRetry: (n) => notices.push(n) });
  try {
    const receipt = await session.put(path, { remoteName: 'up.bin' });
    return { receipt, forwarded: proxy.forwarded(), connections: proxy.connections(), notices, stream: proxy.firstStream() };
  } finally {
    await session.close().catch(() => undefined);
    await proxy.close();
  }
}

/** Frame boundaries of a clean upload's client→server stream: [hello end, put end, body end, total]. */
function frameOffsets(stream: Buffer, size: number): { hello: number; put: number; body: number; total: number } {
  const hello = 4 + stream.readUInt32BE(0);
  const put = hello + 4 + stream.readUInt32BE(hello);
  const body = put + size;
  return { hello, put, body, total: stream.length };
}

/** Waits for the server to have recorded `n` transfers (the suspend of a cut one is asynchronous). */
async function recordsAtLeast(fixture: ServerFixture, n: number): Promise<void> {
  const until = Date.now() + 5000;
  while (fixture.records.length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
}

describe('resume after a cut connection', () => {
  it('completes by itself at every kind of cut point, sending < 1.2 x the file in total', async () => {
    await withServer({}, async (fixture) => {
      const size = 6 * 1024 * 1024 + 777;
      const { path, data } = await writeRandomFile(fixture.scratch, 'src.bin', size);
      const clean = await putThroughCut(fixture, path, Infinity);
      const at = frameOffsets(clean.stream, size);
      expect(at.total).toBeGreaterThan(at.body);
      await rm(join(fixture.root, 'up.bin'));
      const cuts: [string, number][] = [
        ['inside the hello frame header', 2],
        ['inside the put frame header', at.hello + 2],
        ['inside the put frame payload', at.hello + 20],
        ['right after the ack (no body byte)', at.put],
        ['after one body byte', at.put + 1],
        ['at 10% of the body', at.put + Math.floor(size / 10)],
        ['at 50% of the body', at.put + Math.floor(size / 2)],
        ['one byte before the body ends', at.body - 1],
        ['right after the body', at.body],
        ['inside the md5 trailer header', at.body + 2],
        ['inside the md5 trailer payload', at.total - 5],
      ];
      for (const [name, cutAfter] of cuts) {
        const { receipt, forwarded, connections, notices } = await putThroughCut(fixture, path, cutAfter, FAST_RETRY)
          .catch((error: Error) => { throw new Error(`${name}: ${error.message}`); });
        expect(receipt.md5, name).toBe(md5(data));
        expect(md5(await readFile(join(fixture.root, 'up.bin'))), name).toBe(md5(data));
        expect(connections, name).toBeGreaterThanOrEqual(2);
        expect(notices.length, name).toBeGreaterThanOrEqual(1);
        expect(forwarded, `${name}: ${forwarded} bytes for ${size}`).toBeLessThan(1.2 * size);
        // Each round lands the same name again: clear it (and make sure nothing else is left).
        expect(await listTree(fixture.root), name).toEqual(['up.bin']);
        expect(await listPartialStates(fixture.root), name).toEqual([]);
        await rm(join(fixture.root, 'up.bin'));
      }
    });
  });

  it('continues from a non-zero offset when cut in the middle of the body', async () => {
    await withServer({}, async (fixture) => {
      const size = 16 * 1024 * 1024;
      const { path, data } = await writeRandomFile(fixture.scratch, 'src.bin', size);
      // At a link's pace (64 MiB/s), not loopback's: unthrottled, the first 8 MiB arrive within a
      // few ms, and a server waiting meanwhile for its hash thread (its 5 MiB window full) has read
      // only those 5 MiB when the cut comes; the rest is in the proxy and the kernel, lost.
      const { receipt, forwarded } = await putThroughCut(fixture, path, size / 2, FAST_RETRY, 64 * 1024 * 1024);
      expect(receipt.md5).toBe(md5(data));
      // The second attempt started where the first stopped, give or take the bytes in flight.
      expect(receipt.resumedFrom).toBeGreaterThan(size / 4);
      expect(receipt.bytesSent).toBe(size - receipt.resumedFrom);
      expect(forwarded).toBeLessThan(1.2 * size);
      expect(fixture.records.some((r) => (r.offset ?? 0) > 0 && r.md5 === md5(data))).toBe(true);
    });
  });
});

describe('what a resume must never do', () => {
  async function leavePartial(fixture: ServerFixture, path: string, cutAfter: number): Promise<void> {
    await expect(putThroughCut(fixture, path, cutAfter, { retries: 0, baseDelayMs: 1, maxDelayMs: 1 })).rejects.toMatchObject({ code: 'connection_lost' });
    await recordsAtLeast(fixture, 1);
    expect(await listPartialStates(fixture.root)).toHaveLength(1);
  }

  async function putAgain(fixture: ServerFixture, path: string) {
    const notices: RetryNotice[] = [];
    const session = new FtxClient({ host: '127.0.0.1', port: fixture.server.port, retry: FAST_RETRY, onRetry: (n) => notices.push(n) });
    try {
      const receipt = await session.put(path, { remoteName: 'up.bin' });
      return { receipt, notices };
    } finally {
      await session.close();
    }
  }

  it('a changed source (new content, size and mtime) is not stitched onto the old prefix', async () => {
    await withServer({}, async (fixture) => {
      const size = 8 * 1024 * 1024;
      const { path } = await writeRandomFile(fixture.scratch, 'src.bin', size);
      await leavePartial(fixture, path, size / 2);
      const fresh = randomBytes(size + 100);
      await writeFile(path, fresh);
      const { receipt } = await putAgain(fixture, path);
      expect(receipt.resumedFrom).toBe(0);
      expect(md5(await readFile(join(fixture.root, 'up.bin')))).toBe(md5(fresh));
    });
  });

  it('new content under the same size and mtime: verification fails, the partial is dropped, the restart from 0 lands it', async () => {
    await withServer({}, async (fixture) => {
      const size = 8 * 1024 * 1024;
      const { path } = await writeRandomFile(fixture.scratch, 'src.bin', size);
      const when = new Date('2025-01-01T00:00:00Z');
      await utimes(path, when, when);
      await leavePartial(fixture, path, size / 2);
      const fresh = randomBytes(size);
      await writeFile(path, fresh);
      await utimes(path, when, when);
      const { receipt, notices } = await putAgain(fixture, path);
      expect(notices.map((n) => n.reason)).toEqual(['md5 mismatch after resume: starting over from 0']);
      expect(fixture.records.some((r) => r.error?.status === 422)).toBe(true);
      expect(receipt.resumedFrom).toBe(0);
      expect(md5(await readFile(join(fixture.root, 'up.bin')))).toBe(md5(fresh));
    });
  });

  it('a corrupted partial (one flipped byte) fails verification, is discarded, and the retry from 0 is correct', async () => {
    await withServer({}, async (fixture) => {
      const size = 8 * 1024 * 1024;
      const { path, data } = await writeRandomFile(fixture.scratch, 'src.bin', size);
      await leavePartial(fixture, path, size / 2);
      const part = (await readdir(fixture.root)).find((n) => n.startsWith('.ftx-') && n.endsWith('.part'))!;
      expect(part).toBeDefined();
      const handle = await open(join(fixture.root, part), 'r+');
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, 1000);
      byte[0] = byte[0]! ^ 0xff;
      await handle.write(byte, 0, 1, 1000);
      await handle.close();
      const { receipt, notices } = await putAgain(fixture, path);
      expect(notices).toHaveLength(1);
      expect(receipt.resumedFrom).toBe(0);
      expect(md5(await readFile(join(fixture.root, 'up.bin')))).toBe(md5(data));
      expect(await listPartialStates(fixture.root)).toEqual([]);
    });
  });
});

describe('expiry of kept partials', () => {
  it('removes a partial that expired while the server was down, at start', async () => {
    await withServer({}, async (fixture) => {
      const { path } = await writeRandomFile(fixture.scratch, 'src.bin', 4 * 1024 * 1024);
      await expect(putThroughCut(fixture, path, 2 * 1024 * 1024, { retries: 0, baseDelayMs: 1, maxDelayMs: 1 })).rejects.toMatchObject({ code: 'connection_lost' });
      await recordsAtLeast(fixture, 1);
      const [stateName] = await listPartialStates(fixture.root);
      const statePath = join(fixture.root, '.ftx-state', 'partials', stateName!);
      const state = JSON.parse(await readFile(statePath, 'utf8')) as { updated: number };
      await writeFile(statePath, JSON.stringify({ ...state, updated: Date.now() - 25 * 3600 * 1000 }));
      // The server restarted on the same root, default 24 h TTL: the 25 h old partial goes at start.
      await fixture.server.close();
      const second = await startServer({ root: fixture.root, host: '127.0.0.1', port: 0 });
      try {
        expect(await listPartialStates(fixture.root)).toEqual([]);
        expect(await listTree(fixture.root)).toEqual([]);
      } finally {
        await second.close();
      }
    });
  });

  it('removes an old partial periodically and at start, and touches nothing outside the root', async () => {
    const outsideName = 'outside-victim.bin';
    await withServer({ partialTtlMs: 300 }, async (fixture) => {
      const { path } = await writeRandomFile(fixture.scratch, 'src.bin', 4 * 1024 * 1024);
      const victim = join(fixture.scratch, outsideName);
      await writeFile(victim, 'must survive');
      // A forged state that points outside the root: expiry must not follow it.
      await writeFile(join(fixture.root, '.ftx-state', 'partials', 'ffffffffffffffffffffffffffffffff.json'),
        JSON.stringify({ version: 1, filename: 'x', size: 1, source: null, durable: 0, data: victim, updated: 0 }));
      await expect(putThroughCut(fixture, path, 2 * 1024 * 1024, { retries: 0, baseDelayMs: 1, maxDelayMs: 1 })).rejects.toMatchObject({ code: 'connection_lost' });
      await recordsAtLeast(fixture, 1);
      expect((await listTree(fixture.root)).some((n) => n.endsWith('.part'))).toBe(true);
      const until = Date.now() + 5000;
      while ((await listPartialStates(fixture.root)).length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      expect(await listPartialStates(fixture.root)).toEqual([]);
      expect(await listTree(fixture.root)).toEqual([]);
      expect(await readFile(victim, 'utf8')).toBe('must survive');
    });
  });
});

describe('a retry while the server still believes the old connection is alive', () => {
  it('takes the name over from the silent old attempt of the same upload; another upload gets 423', async () => {
    const { RawPeer } = await import('./helpers/raw-peer.js');
    const { ResumeState } = await import('../src/client/put/resume-state.js');
    const { FtxClient } = await import('../src/client/client.js');
    await withServer({}, async (fixture) => {
      const size = 4 * 1024 * 1024;
      const { path, data } = await writeRandomFile(fixture.scratch, 'src.bin', size);
      const info = await import('node:fs/promises').then((fs) => fs.stat(path));
      const memory = new ResumeState();
      // The "old attempt": half the body, then silence (a dead network, no FIN, no RST).
      const stale = await RawPeer.connect(fixture.server.port);
      await stale.handshake();
      stale.send({ action: 'put', id: 1, filename: 'up.bin', size, resume: true, uploadId: memory.uploadId,
        source: { size, mtime: Math.round(info.mtimeMs) } });
      expect((await stale.frame())?.status).toBe(200);
      stale.sendRaw(data.subarray(0, size / 2));
      await new Promise((r) => setTimeout(r, 100));

      const other = await FtxClient.connect({ host: '127.0.0.1', port: fixture.server.port });
      await expect(other.put(path, { remoteName: 'up.bin', resume: true })).rejects.toMatchObject({ code: 'busy' });
      other.destroy();

      const client = await FtxClient.connect({ host: '127.0.0.1', port: fixture.server.port });
      const receipt = await client.put(path, { remoteName: 'up.bin', resume: true, resumeState: memory });
      await client.close();
      expect(receipt.resumedFrom).toBeGreaterThan(0);
      expect(md5(await readFile(join(fixture.root, 'up.bin')))).toBe(md5(data));
      await stale.closed();
    });
  });
});
