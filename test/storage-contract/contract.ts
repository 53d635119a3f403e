/**
 * The contract every Storage backend keeps (src/server/storage/storage.ts), run against each one:
 * disk and memory here, the object store in its own suite (`runStorageContract(makeStorage)`).
 * Files get into a storage only through its own upload interface, as the server puts them there.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { StatusError } from '../../src/errors.js';
import { DEFAULT_CHUNK_SIZE } from '../../src/protocol/constants.js';
import type { ListEntry, Storage, StoredReceipt, Upload, UploadRequest } from '../../src/server/storage/storage.js';

/** Makes a fresh, empty storage; the contract closes it after each test. */
export type MakeStorage = () => Promise<Storage>;

const md5 = (data: Buffer): string => createHash('md5').update(data).digest('hex');
const MTIME = Date.UTC(2024, 4, 6, 7, 8, 9, 123);

/** Opens an upload of `data` under `name`. */
export function beginPut(storage: Storage, name: string, data: Buffer, extra: Partial<UploadRequest> = {}): Promise<Upload> {
  return storage.beginUpload({
    name, size: data.length, overwrite: false, rename: false, chunkSize: DEFAULT_CHUNK_SIZE, resume: false, keepPartial: true,
    source: { size: data.length, mtime: MTIME }, mtime: MTIME, mode: 0o640, ...extra,
  });
}

/** Writes `data` in pieces of `piece` bytes, waiting when the upload asks to. */
export async function writeAll(upload: Upload, data: Buffer, piece = 64 * 1024): Promise<void> {
  for (let at = upload.offset; at < data.length; at += piece) await upload.write(data.subarray(at, Math.min(at + piece, data.length)));
}

/** Stores `data` under `filename` through the upload interface. */
export async function put(storage: Storage, filename: string, data: Buffer, extra: Partial<UploadRequest> = {}): Promise<StoredReceipt> {
  const upload = await beginPut(storage, filename, data, extra);
  await writeAll(upload, data);
  return upload.commit(md5(data));
}

async function readAll(stream: Readable | null): Promise<Buffer> {
  if (stream === null) throw new Error('no such file');
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

async function listAll(storage: Storage, dir: string, limit: number, recursive = false): Promise<{ entries: ListEntry[]; pages: number }> {
  const entries: ListEntry[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await storage.list(dir, { limit, recursive, ...(cursor !== undefined ? { cursor } : {}) });
    if (page === null) throw new Error(`${dir}: no such directory`);
    expect(page.entries.length).toBeLessThanOrEqual(limit);
    entries.push(...page.entries);
    cursor = page.nextCursor ?? undefined;
    pages++;
  } while (cursor !== undefined);
  return { entries, pages };
}

const statusOf = (promise: Promise<unknown>): Promise<number | string> =>
  promise.then(() => 'resolved', (error: unknown) => (error instanceof StatusError ? error.status : String(error)));

/** Registers the contract's tests for the backend `makeStorage` makes. */
export function runStorageContract(makeStorage: MakeStorage): void {
  let opened: Storage[] = [];
  const open = async (): Promise<Storage> => {
    const storage = await makeStorage();
    opened.push(storage);
    return storage;
  };
  afterEach(async () => {
    await Promise.all(opened.map((storage) => storage.close()));
    opened = [];
  });

  describe('read side', () => {
    it('stat gives size, mtime, mode and the md5 recorded at landing; null for what is not a file', async () => {
      const storage = await open();
      const data = randomBytes(200_000);
      await put(storage, 'dir/a.bin', data);
      expect(await storage.stat('dir/a.bin')).toMatchObject({ size: data.length, mtime: MTIME, mode: 0o640, md5: md5(data) });
      expect(await storage.stat('dir/missing.bin')).toBeNull();
      expect(await storage.stat('nowhere/a.bin')).toBeNull();
      expect(await storage.stat('dir')).toBeNull();
      expect(await storage.stat('dir/a.bin/below')).toBeNull();
    });

    it('read gives the whole file or exactly the range [start, end); refuses a range outside it', async () => {
      const storage = await open();
      const data = randomBytes(300_001);
      await put(storage, 'r.bin', data);
      expect((await readAll(await storage.read('r.bin'))).equals(data)).toBe(true);
      expect((await readAll(await storage.read('r.bin', { start: 1000, end: 250_000 }))).equals(data.subarray(1000, 250_000))).toBe(true);
      expect((await readAll(await storage.read('r.bin', { start: 300_000 }))).equals(data.subarray(300_000))).toBe(true);
      expect((await readAll(await storage.read('r.bin', { start: 5, end: 5 }))).length).toBe(0);
      expect(await statusOf(storage.read('r.bin', { start: 0, end: data.length + 1 }))).toBe(400);
      expect(await statusOf(storage.read('r.bin', { start: 10, end: 9 }))).toBe(400);
      expect(await storage.read('missing.bin')).toBeNull();
      await put(storage, 'empty.bin', Buffer.alloc(0));
      expect((await readAll(await storage.read('empty.bin'))).length).toBe(0);
    });

    it('an upload not committed is not there: not in stat, read or list', async () => {
      const storage = await open();
      const data = randomBytes(3 * 1024 * 1024);
      const upload = await beginPut(storage, 'half.bin', data);
      await writeAll(upload, data.subarray(0, 2 * 1024 * 1024));
      await upload.suspend();
      expect(await storage.stat('half.bin')).toBeNull();
      expect(await storage.read('half.bin')).toBeNull();
      expect((await listAll(storage, '', 10, true)).entries).toEqual([]);
    });

    it('list pages through a directory: every entry once, each page within the limit, then no cursor', async () => {
      const storage = await open();
      const names = Array.from({ length: 7 }, (_, i) => `many/f${i}.txt`);
      for (const name of names) await put(storage, name, Buffer.from(name));
      await storage.makeDirectory('many/sub');
      const { entries, pages } = await listAll(storage, 'many', 3);
      expect(pages).toBe(3);
      expect(entries.map((e) => e.name).sort()).toEqual([...names, 'many/sub'].sort());
      const file = entries.find((e) => e.name === 'many/f3.txt')!;
      expect(file).toMatchObject({ type: 'file', size: 'many/f3.txt'.length, mtime: MTIME, mode: 0o640 });
      expect(entries.find((e) => e.name === 'many/sub')).toMatchObject({ type: 'directory', size: 0 });
      const whole = await storage.list('many', { limit: 100 });
      expect(whole?.nextCursor).toBeNull();
      expect(whole?.entries).toHaveLength(8);
    });

    it('a recursive list names everything from the root, each directory before its contents', async () => {
      const storage = await open();
      await put(storage, 'top.txt', Buffer.from('t'));
      await put(storage, 'a/b/c/deep.txt', Buffer.from('d'));
      await put(storage, 'a/side.txt', Buffer.from('s'));
      const { entries } = await listAll(storage, '', 2, true);
      const names = entries.map((e) => e.name);
      expect([...names].sort()).toEqual(['a', 'a/b', 'a/b/c', 'a/b/c/deep.txt', 'a/side.txt', 'top.txt']);
      for (const name of names) {
        const parent = name.slice(0, name.lastIndexOf('/'));
        if (parent !== '' && name.includes('/')) expect(names.indexOf(parent)).toBeLessThan(names.indexOf(name));
      }
      const flat = await listAll(storage, 'a', 10);
      expect(flat.entries.map((e) => e.name).sort()).toEqual(['a/b', 'a/side.txt']);
    });

    it('list: null for no such directory, 400 for an unknown cursor', async () => {
      const storage = await open();
      await put(storage, 'f.txt', Buffer.from('f'));
      expect(await storage.list('nope', { limit: 5 })).toBeNull();
      expect(await storage.list('f.txt', { limit: 5 })).toBeNull();
      expect(await statusOf(storage.list('', { limit: 5, cursor: 'not-a-cursor' }))).toBe(400);
    });
  });
}
