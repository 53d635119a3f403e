/**
 * docs/PROTOCOL.md §9.8: once the server's socket is gone, what is still buffered from it is not acted
 * on. The peer sends requests (and bodies) the server reads but cannot handle yet, because the
 * storage holds the request before them (test/helpers/gated-storage.ts); then it resets the
 * connection. When the storage lets go, the server finds the rest in its buffer, from a connection
 * that is gone: no further request is dispatched, a put is kept as a partial, a batch is dropped.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeFrame } from '../src/protocol/frame.js';
import { startServer, type RunningServer } from '../src/server/server.js';
import { DiskStorage } from '../src/server/storage/disk/disk-storage.js';
import { GatedStorage } from './helpers/gated-storage.js';
import { RawPeer } from './helpers/raw-peer.js';
import { listPartialStates, listTree, md5, withTempRoot } from './helpers/server.js';

interface Fixture {
  server: RunningServer;
  storage: GatedStorage;
  root: string;
  peer: RawPeer;
}

/** A server over a gated disk storage on a fresh root, and a peer past its handshake. */
async function withGatedServer(fn: (fixture: Fixture) => Promise<void>): Promise<void> {
  await withTempRoot('ftx-gone-', async (root) => {
    const storage = new GatedStorage(await DiskStorage.open(root));
    const server = await startServer({ storage, host: '127.0.0.1', port: 0 });
    try {
      const peer = await RawPeer.connect(server.port);
      expect((await peer.handshake())?.status).toBe(200);
      await fn({ server, storage, root, peer });
    } finally {
      await server.close();
    }
  });
}

/**
 * Resets the connection (RST) and gives the server's event loop time to see it: the server is the
 * same process, and the RST on loopback is there before the next poll. Then the held call may go on.
 */
async function resetAndLetGo(peer: RawPeer, release: () => void): Promise<void> {
  const closed = peer.closed();
  peer.socket.resetAndDestroy();
  await closed;
  await new Promise((resolve) => setTimeout(resolve, 200));
  release();
}

describe('a connection gone with requests still buffered (PROTOCOL.md §9.8)', () => {
  it('the request after the one being handled is not dispatched', async () => {
    await withGatedServer(async ({ server, storage, root, peer }) => {
      const held = storage.hold('first');
      peer.sendRaw(Buffer.concat([
        encodeFrame({ action: 'mkdir', id: 1, path: 'first' }),
        encodeFrame({ action: 'mkdir', id: 2, path: 'second' }),
      ]));
      await held.entered;
      await resetAndLetGo(peer, held.release);
      // close() waits for the session: whatever it still does with the buffer is done by then.
      await server.close();
      expect(storage.calls).toEqual(['makeDirectory first']);
      expect(await listTree(root)).toEqual(['first']);
    });
  });

  it('a put whose body and trailer were buffered is kept as a partial, not landed', async () => {
    await withGatedServer(async ({ server, storage, root, peer }) => {
      const data = randomBytes(20_000);
      const source = { size: data.length, mtime: 1_700_000_000_000 };
      const held = storage.hold('up.bin');
      // Request, body and trailer at once (the body is read only after the ack, but it is buffered).
      peer.sendRaw(Buffer.concat([
        encodeFrame({ action: 'put', id: 1, filename: 'up.bin', size: data.length, chunkSize: 4096, resume: true, source }),
        data,
        encodeFrame({ action: 'end', id: 1, md5: md5(data) }),
      ]));
      await held.entered;
      await resetAndLetGo(peer, held.release);
      await server.close();
      expect(await listTree(root)).toEqual([expect.stringMatching(/^\.ftx-[0-9a-f]{32}\.part$/)]);
      expect(await listPartialStates(root)).toHaveLength(1);
    });
  });

  it('a batch whose bodies were buffered is dropped, not landed', async () => {
    await withGatedServer(async ({ server, storage, root, peer }) => {
      const data = randomBytes(5000);
      const held = storage.hold('one.bin');
      peer.sendRaw(Buffer.concat([
        encodeFrame({ action: 'putmany', id: 1, files: [{ filename: 'one.bin', size: data.length, md5: md5(data) }] }),
        data,
      ]));
      await held.entered;
      await resetAndLetGo(peer, held.release);
      await server.close();
      expect(await listTree(root)).toEqual([]);
    });
  });

  it('a batch being opened holds no more names once the connection is gone', async () => {
    await withGatedServer(async ({ server, storage, root, peer }) => {
      const bodies = [randomBytes(100), randomBytes(200)];
      const held = storage.hold('a.bin');
      peer.sendRaw(Buffer.concat([
        encodeFrame({ action: 'putmany', id: 1, files: ['a.bin', 'b.bin'].map((filename, i) => ({ filename, size: bodies[i]!.length, md5: md5(bodies[i]!) })) }),
        ...bodies,
      ]));
      await held.entered;
      await resetAndLetGo(peer, held.release);
      await server.close();
      expect(storage.calls).toEqual(['beginUpload a.bin']);
      expect(await listTree(root)).toEqual([]);
    });
  });
});
