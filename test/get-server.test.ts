/**
 * The server side of get and list (docs/PROTOCOL.md §6.11, §6.12) over a real socket: verified
 * bodies, bit rot reported corrupt, unrecorded files, resume offsets, refusals, paged listings.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FrameObject } from '../src/protocol/frame.js';
import { RawPeer } from './helpers/raw-peer.js';
import { md5, withServer } from './helpers/server.js';

async function land(peer: RawPeer, id: number, filename: string, data: Buffer): Promise<void> {
  peer.send({ action: 'put', id, filename, size: data.length, mtime: 1_700_000_000_000 });
  expect(await peer.frame()).toMatchObject({ id, status: 200 });
  peer.sendRaw(data);
  peer.send({ action: 'end', id, md5: md5(data) });
  expect(await peer.frame()).toMatchObject({ id, status: 200 });
}

/** A get of one file: header, and when it is 200, the body and trailer. */
async function getOne(peer: RawPeer, id: number, file: Record<string, unknown>, chunkSize?: number): Promise<{ header: FrameObject; data?: Buffer; frames?: number; end?: FrameObject; reply: FrameObject }> {
  peer.send({ action: 'get', id, files: [file], ...(chunkSize ? { chunkSize } : {}) });
  const header = (await peer.frame())!;
  if (header.status !== 200) return { header, reply: (await peer.frame())! };
  const { data, frames } = await peer.dataFrames();
  const end = (await peer.frame())!;
  return { header, data, frames, end, reply: (await peer.frame())! };
}

describe('get (server)', () => {
  it('sends a landed file with its recorded md5, in data frames of at most chunkSize', async () => {
    await withServer({}, async ({ server }) => {
      const peer = await RawPeer.connect(server.port);
      expect(await peer.handshake()).toMatchObject({ status: 200 });
      const data = randomBytes(5000);
      await land(peer, 1, 'dir/a.bin', data);
      const got = await getOne(peer, 2, { filename: 'dir/a.bin' }, 1024);
      expect(got.header).toMatchObject({ type: 'file', id: 2, index: 0, status: 200, filename: 'dir/a.bin', size: 5000, mtime: 1_700_000_000_000, mode: 0o644, md5: md5(data), offset: 0 });
      expect(got.data).toEqual(data);
      expect(got.frames).toBeGreaterThanOrEqual(5);
      expect(got.end).toMatchObject({ type: 'end', id: 2, index: 0, status: 200, code: 'ok', md5: md5(data) });
      expect(got.reply).toMatchObject({ type: 'reply', id: 2, status: 200, message: '1 sent, 0 refused' });
      peer.destroy();
    });
  });

  it('reports bit rot as corrupt (same size and mtime, one byte flipped), never ok', async () => {
    await withServer({}, async ({ server, root }) => {
      const peer = await RawPeer.connect(server.port);
      await peer.handshake();
      const data = randomBytes(70_000);
      await land(peer, 1, 'db.sql', data);
      const path = join(root, 'db.sql');
      const before = await stat(path);
      const handle = await open(path, 'r+');
      await handle.write(Buffer.from([data[12_345]! ^ 0x01]), 0, 1, 12_345);
      await handle.close();
      await utimes(path, before.atime, before.mtime);
      const got = await getOne(peer, 2, { filename: 'db.sql' });
      expect(got.header).toMatchObject({ status: 200, md5: md5(data) });
      expect(got.end).toMatchObject({ status: 422, code: 'corrupt' });
      expect(got.end!.md5).not.toBe(md5(data));
      peer.destroy();
    });
  });

  it('a file placed by hand is unrecorded: md5 null, the trailer has what was read', async () => {
    await withServer({}, async ({ server, root }) => {
      await writeFile(join(root, 'hand.txt'), 'by hand');
      const peer = await RawPeer.connect(server.port);
      await peer.handshake();
      const got = await getOne(peer, 1, { filename: 'hand.txt' });
      expect(got.header).toMatchObject({ status: 200, md5: null, size: 7 });
      expect(got.end).toMatchObject({ status: 200, md5: md5(Buffer.from('by hand')) });
      peer.destroy();
    });
  });

  it('resumes at the offset while the file is the one matched, else starts again at 0', async () => {
    await withServer({}, async ({ server }) => {
      const peer = await RawPeer.connect(server.port);
      await peer.handshake();
      const data = randomBytes(10_000);
      await land(peer, 1, 'big.bin', data);
      const match = { size: 10_000, mtime: 1_700_000_000_000, md5: md5(data) };
      const resumed = await getOne(peer, 2, { filename: 'big.bin', offset: 4096, match });
      expect(resumed.header).toMatchObject({ offset: 4096 });
      expect(resumed.data).toEqual(data.subarray(4096));
      expect(resumed.end).toMatchObject({ status: 200, md5: md5(data) });
      const other = await getOne(peer, 3, { filename: 'big.bin', offset: 4096, match: { ...match, mtime: 1 } });
      expect(other.header).toMatchObject({ offset: 0 });
      expect(other.data).toEqual(data);
      const beyond = await getOne(peer, 4, { filename: 'big.bin', offset: 20_000 });
      expect(beyond.header).toMatchObject({ offset: 0 });
      peer.destroy();
    });
  });

  it('refuses per file (403, 404), goes on with the others, and stays usable', async () => {
    await withServer({}, async ({ server, root }) => {
      await mkdir(join(root, 'sub'));
      await writeFile(join(root, 'ok.txt'), 'ok');
      await symlink('/etc/passwd', join(root, 'link'));
      const peer = await RawPeer.connect(server.port);
      await peer.handshake();
      peer.send({ action: 'get', id: 5, files: ['../etc/passwd', 'gone', 'sub', 'link', '.ftx-state/digests.jsonl', 'ok.txt'].map((filename) => ({ filename })) });
      const statuses: unknown[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await peer.frame())!.status);
      expect(statuses).toEqual([403, 404, 404, 404, 403]);
      expect(await peer.frame()).toMatchObject({ type: 'file', index: 5, status: 200 });
      expect((await peer.dataFrames()).data.toString()).toBe('ok');
      expect(await peer.frame()).toMatchObject({ type: 'end', index: 5, status: 200 });
      expect(await peer.frame()).toMatchObject({ type: 'reply', id: 5, message: '1 sent, 5 refused' });
      peer.send({ action: 'get', id: 6, files: [] });
      expect(await peer.frame()).toMatchObject({ id: 6, status: 400, code: 'bad_request' });
      peer.send({ action: 'list', id: 7 });
      expect(await peer.frame()).toMatchObject({ id: 7, status: 200 });
      peer.destroy();
    });
  });
});

describe('list (server)', () => {
  it('pages a directory: every name exactly once, recorded md5s, files and directories', async () => {
    await withServer({}, async ({ server, root }) => {
      const peer = await RawPeer.connect(server.port);
      await peer.handshake();
      await land(peer, 1, 'site/a.txt', Buffer.from('hello'));
      await mkdir(join(root, 'site/img'));
      for (let i = 0; i < 120; i++) await writeFile(join(root, 'site/img', `p${i}.png`), String(i));
      const names: string[] = [];
      let cursor: string | null | undefined;
      let pages = 0;
      do {
        peer.send({ action: 'list', id: 10 + pages, path: 'site', recursive: true, limit: 25, ...(cursor ? { cursor } : {}) });
        const reply = (await peer.frame())!;
        expect(reply).toMatchObject({ status: 200 });
        const entries = reply.entries as { name: string; type: string; md5?: string | null }[];
        expect(entries.length).toBeLessThanOrEqual(25);
        for (const e of entries) {
          names.push(e.name);
          if (e.name === 'site/a.txt') expect(e).toMatchObject({ type: 'file', size: 5, md5: md5(Buffer.from('hello')) });
          if (e.name === 'site/img') expect(e).toMatchObject({ type: 'dir' });
          if (e.name === 'site/img/p1.png') expect(e.md5).toBeNull();
        }
        cursor = reply.nextCursor as string | null;
        pages += 1;
      } while (cursor);
      expect(pages).toBe(5);
      expect(names.length).toBe(122);
      expect(new Set(names).size).toBe(122);
      peer.send({ action: 'list', id: 99, path: 'site' });
      expect(((await peer.frame())!.entries as unknown[]).length).toBe(2);
      peer.destroy();
    });
  });

  it('lists a file as itself; refuses missing paths (404) and bad ones (403); never a giant frame', async () => {
    await withServer({}, async ({ server, root }) => {
      // Long names: a page of 1000 of them would not fit in one frame.
      await mkdir(join(root, 'long'));
      for (let i = 0; i < 150; i++) await writeFile(join(root, 'long', `${String(i).padStart(3, '0')}${'"'.repeat(250)}`), '');
      const peer = await RawPeer.connect(server.port);
      await peer.handshake();
      peer.send({ action: 'list', id: 1, path: 'long' });
      const reply = (await peer.frame())!;
      expect(reply).toMatchObject({ status: 200 });
      expect((reply.entries as unknown[]).length).toBeGreaterThan(0);
      let total = (reply.entries as unknown[]).length;
      let cursor = reply.nextCursor as string | null;
      while (cursor) {
        peer.send({ action: 'list', id: 2, path: 'long', cursor });
        const next = (await peer.frame())!;
        total += (next.entries as unknown[]).length;
        cursor = next.nextCursor as string | null;
      }
      expect(total).toBe(150);
      await writeFile(join(root, 'f.txt'), 'x');
      peer.send({ action: 'list', id: 3, path: 'f.txt' });
      expect(await peer.frame()).toMatchObject({ status: 200, entries: [{ name: 'f.txt', type: 'file', size: 1 }], nextCursor: null });
      peer.send({ action: 'list', id: 4, path: 'nope' });
      expect(await peer.frame()).toMatchObject({ id: 4, status: 404, code: 'not_found' });
      peer.send({ action: 'list', id: 5, path: '../x' });
      expect(await peer.frame()).toMatchObject({ id: 5, status: 403, code: 'forbidden_path' });
      peer.send({ action: 'list', id: 6, path: '', cursor: 'made-up' });
      expect(await peer.frame()).toMatchObject({ id: 6, status: 400 });
      peer.destroy();
    });
  });
});
