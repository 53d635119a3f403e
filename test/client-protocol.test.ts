/**
 * The client's side of the protocol where a real server cannot be made to misbehave or to offer
 * less: a server without putmany or stream (a real server behind a proxy that rewrites its hello),
 * a refusal that explains a failure better than the failure itself, and a putmany reply whose
 * verdicts do not match the batch (a hand-driven peer over a real socket).
 */
import { mkdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FtxClient, type SmallFileResult } from '../src/client/client.js';
import { runUpload, type UploadEvents } from '../src/client/tree/upload-tree.js';
import type { PutManyRequest } from '../src/protocol/messages.js';
import { FramedConnection } from '../src/transport/framed-connection.js';
import { startHelloProxy, withoutOffers } from './helpers/hello-proxy.js';
import { makeTempDir, md5, withServer } from './helpers/server.js';

function quietEvents(sent: string[], failed: string[]): UploadEvents {
  const none = (): void => undefined;
  return {
    planned: none, started: none, progressed: none, skipped: none, wouldSend: none, note: none,
    sent: (file) => sent.push(file.name),
    failed: (file, error) => failed.push(`${file.name}: ${String(error)}`),
  };
}

describe('a server that offers less than v1', () => {
  it('without putmany, every small file goes as its own resumable put and lands verified', async () => {
    await withServer({}, async (fixture) => {
      const src = join(fixture.scratch, 'tree');
      await mkdir(join(src, 'sub'), { recursive: true });
      const contents = new Map<string, Buffer>();
      for (let i = 0; i < 12; i++) {
        const name = i % 2 === 0 ? `f${i}.txt` : `sub/f${i}.txt`;
        contents.set(name, Buffer.from(`small file ${i} `.repeat(50 + i)));
        await writeFile(join(src, name), contents.get(name)!);
      }
      const proxy = await startHelloProxy(fixture.server.port, withoutOffers('putmany'));
      const client = new FtxClient({ host: '127.0.0.1', port: proxy.port });
      const sent: string[] = [];
      const failed: string[] = [];
      try {
        const summary = await runUpload(client, {
          sources: [`${src}/`], remoteDir: 'up', exclude: [], followSymlinks: false, ifExists: 'fail', checksum: false,
          chunkSize: 4096, resume: true, dryRun: false,
        }, quietEvents(sent, failed));
        expect(failed).toEqual([]);
        expect(summary).toMatchObject({ sent: 12, failed: 0 });
      } finally {
        await client.close();
        await proxy.close();
      }
      // One put per file: the server saw no batch (it would have taken one: it is a v1 server).
      expect(fixture.records.filter((r) => r.action !== 'put')).toEqual([]);
      expect(fixture.records.filter((r) => r.action === 'put' && !r.error)).toHaveLength(12);
      for (const [name, data] of contents) expect(md5(await readFile(join(fixture.root, 'up', name)))).toBe(md5(data));
    });
  });

  it('without stream, a stream upload fails with one clear protocol error before anything is sent', async () => {
    await withServer({}, async (fixture) => {
      const proxy = await startHelloProxy(fixture.server.port, withoutOffers('stream'));
      const client = new FtxClient({ host: '127.0.0.1', port: proxy.port });
      let read = false;
      try {
        await expect(client.putStream(() => { read = true; return Readable.from([Buffer.from('x')]); }, { remoteName: 's.txt' }))
          .rejects.toMatchObject({ code: 'protocol_error', message: expect.stringContaining('"stream" feature') });
      } finally {
        await client.close();
        await proxy.close();
      }
      expect(read).toBe(false);
      expect(fixture.records).toEqual([]);
    });
  });
});

describe('a refusal that came before the failure (throwEarlyRefusal)', () => {
  it('a file put whose file shrinks after the server refused reports the refusal (507), not the local failure', async () => {
    const scratch = await makeTempDir();
    try {
      const path = join(scratch.dir, 'shrinking.bin');
      await writeFile(path, Buffer.alloc(1024 * 1024, 1));
      // The peer empties the file once the client has sized it (the put names its size), then
      // acknowledges and at once refuses: the client's first read finds the file shorter.
      await withPeer(async (conn, request) => {
        await truncate(path, 0);
        conn.send({ type: 'reply', id: request.id, status: 200, code: 'ok', message: 'send the body', offset: 0 });
        conn.send({ type: 'reply', id: request.id, status: 507, code: 'insufficient_storage', message: 'the disk is full' });
      }, async (port) => {
        const client = new FtxClient({ host: '127.0.0.1', port });
        try {
          await expect(client.put(path, { remoteName: 'x.bin', resume: false })).rejects.toMatchObject({ code: 'insufficient_storage', status: 507 });
        } finally {
          client.destroy();
        }
      });
    } finally {
      await scratch.cleanup();
    }
  });

  it('a stream over the server\'s limit whose input then fails reports the server\'s 413, not the input', async () => {
    await withServer({ maxSize: 1024 * 1024 }, async (fixture) => {
      const client = new FtxClient({ host: '127.0.0.1', port: fixture.server.port });
      // 2 MiB at once (the server refuses after 1 MiB and closes), then the input breaks: whether the
      // client first notices the closed connection or the broken input, the 413 explains it.
      const input = new Readable({ read() {} });
      input.push(Buffer.alloc(2 * 1024 * 1024, 7));
      const breakInput = setTimeout(() => input.destroy(new Error('the producer died')), 300);
      try {
        await expect(client.putStream(input, { remoteName: 'big.bin' })).rejects.toMatchObject({ code: 'too_large', status: 413 });
      } finally {
        clearTimeout(breakInput);
        client.destroy();
      }
      expect(fixture.records.map((r) => r.error?.code)).toEqual(['too_large']);
    });
  });
});

/** A hand-driven "server": speaks the handshake, then hands each connection's first request to `onRequest`. */
async function withPeer(onRequest: (conn: FramedConnection, request: Record<string, unknown>) => Promise<void>, fn: (port: number) => Promise<void>): Promise<void> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    void (async () => {
      const conn = new FramedConnection(socket);
      conn.send({ type: 'hello', protocol: 1, server: 'peer/0', auth: 'none', nonce: '00'.repeat(32), actions: ['put', 'check', 'mkdir', 'putmany'], features: [], maxFrame: 65536 });
      await conn.receive();
      conn.send({ type: 'reply', status: 200, code: 'ok', message: 'welcome' });
      await onRequest(conn, (await conn.receive())!);
    })().catch(() => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await fn((server.address() as { port: number }).port);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

/** A hand-driven "server": speaks the handshake, reads one request (a putmany with its bodies), sends `answer(request)`. */
async function withBatchPeer(answer: (request: PutManyRequest) => object, fn: (port: number) => Promise<void>): Promise<void> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    void (async () => {
      const conn = new FramedConnection(socket);
      conn.send({ type: 'hello', protocol: 1, server: 'peer/0', auth: 'none', nonce: '00'.repeat(32), actions: ['put', 'check', 'mkdir', 'putmany'], features: [], maxFrame: 65536 });
      await conn.receive();
      conn.send({ type: 'reply', status: 200, code: 'ok', message: 'welcome' });
      const request = (await conn.receive()) as unknown as PutManyRequest;
      if (request.action === 'putmany') await conn.readBody(request.files.reduce((sum, f) => sum + f.size, 0), () => undefined);
      conn.send(answer(request));
    })().catch(() => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await fn((server.address() as { port: number }).port);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe('a putmany reply with the wrong number of verdicts', () => {
  it.each([
    ['one verdict too few', (n: number) => n - 1],
    ['one verdict too many', (n: number) => n + 1],
  ])('%s: no file of the batch counts as verified', async (_what, count) => {
    const scratch = await makeTempDir();
    try {
      const files = await Promise.all([0, 1, 2].map(async (i) => {
        const localPath = join(scratch.dir, `s${i}.txt`);
        await writeFile(localPath, `small ${i}`);
        return { localPath, remoteName: `s${i}.txt`, mtime: 1_700_000_000_000, overwrite: false, rename: false };
      }));
      // Every verdict it gives is "stored", with the md5 the client announced (or a made-up one for the extra).
      const answer = (request: PutManyRequest): object => ({
        type: 'reply', id: request.id, status: 200, code: 'ok', message: 'batch',
        files: Array.from({ length: count(request.files.length) }, (_, i) => ({ status: 200, code: 'ok', md5: request.files[i]?.md5 ?? 'f'.repeat(32) })),
      });
      await withBatchPeer(answer, async (port) => {
        const client = new FtxClient({ host: '127.0.0.1', port });
        const results: SmallFileResult[] = [];
        try {
          await client.putMany(files, { onResult: (result) => results.push(result) });
        } finally {
          client.destroy();
        }
        expect(results).toHaveLength(3);
        for (const result of results) {
          expect(result.receipt).toBeUndefined();
          expect(result.error).toMatchObject({ code: 'verification_failed' });
        }
      });
    } finally {
      await scratch.cleanup();
    }
  });
});

describe('replies that concern every request waiting', () => {
  const threeFiles = async (dir: string) => Promise.all([0, 1, 2].map(async (i) => {
    const localPath = join(dir, `s${i}.txt`);
    await writeFile(localPath, `small ${i}`);
    return { localPath, remoteName: `s${i}.txt`, mtime: 1_700_000_000_000, overwrite: false, rename: false };
  }));

  it.each([
    ['a refusal without id (PROTOCOL.md §9.7)', { type: 'reply', status: 500, code: 'internal', message: 'the server gave up' }, 'internal'],
    ['a malformed reply (a verdict that is not an object)', { type: 'reply', id: 1, status: 200, code: 'ok', message: 'batch', files: [7, 7, 7] }, 'protocol_error'],
  ])('%s fails each file of the batch with that error; none counts as sent', async (_what, reply, code) => {
    const scratch = await makeTempDir();
    try {
      const files = await threeFiles(scratch.dir);
      await withBatchPeer(() => reply, async (port) => {
        const client = new FtxClient({ host: '127.0.0.1', port });
        const results: SmallFileResult[] = [];
        try {
          await client.putMany(files, { onResult: (result) => results.push(result) });
        } finally {
          client.destroy();
        }
        expect(results.map((r) => (r.error as { code?: string } | undefined)?.code)).toEqual([code, code, code]);
      });
    } finally {
      await scratch.cleanup();
    }
  });
});

describe('answers that do not match the question', () => {
  it('a check reply with fewer results than names is a failure of the check, not a shorter list', async () => {
    const answer = (request: { id: number }): object => ({
      type: 'reply', id: request.id, status: 200, code: 'ok', message: 'checked', results: [{ filename: 'a', state: 'missing' }],
    });
    await withBatchPeer(answer as (request: PutManyRequest) => object, async (port) => {
      const client = new FtxClient({ host: '127.0.0.1', port });
      try {
        await expect(client.check([{ filename: 'a', size: 1, mtime: 0 }, { filename: 'b', size: 1, mtime: 0 }]))
          .rejects.toMatchObject({ code: 'internal', status: 500 });
      } finally {
        client.destroy();
      }
    });
  });

  it('a batch verdict with another md5 than the file\'s fails that file only', async () => {
    const scratch = await makeTempDir();
    try {
      const files = await Promise.all([0, 1, 2].map(async (i) => {
        const localPath = join(scratch.dir, `s${i}.txt`);
        await writeFile(localPath, `small ${i}`);
        return { localPath, remoteName: `s${i}.txt`, mtime: 1_700_000_000_000, overwrite: false, rename: false };
      }));
      const answer = (request: PutManyRequest): object => ({
        type: 'reply', id: request.id, status: 200, code: 'ok', message: 'batch',
        files: request.files.map((f, i) => ({ status: 200, code: 'ok', md5: i === 1 ? '0'.repeat(32) : f.md5 })),
      });
      await withBatchPeer(answer, async (port) => {
        const client = new FtxClient({ host: '127.0.0.1', port });
        const results: SmallFileResult[] = [];
        try {
          await client.putMany(files, { onResult: (result) => results.push(result) });
        } finally {
          client.destroy();
        }
        expect(results.map((r) => r.receipt?.filename ?? (r.error as { code: string }).code)).toEqual(['s0.txt', 'verification_failed', 's2.txt']);
      });
    } finally {
      await scratch.cleanup();
    }
  });
});
