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

/** What a backend may legitimately do differently. */
export interface ContractOptions {
  /**
   * False for a backend that keeps no partial of a file this small (a few MiB): the resume and
   * expiry tests then check only what holds for every backend (offsets in whole chunks, never
   * more than was written, a correct file in the end). Default true.
   */
  resumesSmallFiles?: boolean;
  /**
   * False for a backend where a file and a directory of the same name can coexist (a known gap of
   * the object store: "x" and "x/..." are independent keys). Default true.
   */
  refusesFileDirectoryClash?: boolean;
}

/**
 * Opens an upload that must be refused 409 because of what is at (or above) `name`: at begin, or
 * at the latest at commit (a backend that cannot tell before, like an object store). Either way
 * nothing is replaced.
 */
async function refused409(storage: Storage, name: string, data: Buffer, extra: Partial<UploadRequest> = {}): Promise<number | string> {
  let upload: Upload;
  try {
    upload = await beginPut(storage, name, data, extra);
  } catch (error) {
    return error instanceof StatusError ? error.status : String(error);
  }
  await writeAll(upload, data);
  return statusOf(upload.commit(md5(data)));
}

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
export function runStorageContract(makeStorage: MakeStorage, options: ContractOptions = {}): void {
  const resumes = options.resumesSmallFiles !== false;
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

  describe('upload side', () => {
    it('commit lands exactly the bytes sent, with the receipt, mode, mtime and upload id', async () => {
      const storage = await open();
      const data = randomBytes(1_500_000);
      const receipt = await put(storage, 'up/exact.bin', data, { uploadId: 'u-exact-1' });
      expect(receipt).toEqual({ filename: 'up/exact.bin', size: data.length, md5: md5(data) });
      expect((await readAll(await storage.read('up/exact.bin'))).equals(data)).toBe(true);
      expect(await storage.stat('up/exact.bin')).toMatchObject({ mode: 0o640, mtime: MTIME, md5: md5(data), uploadId: 'u-exact-1' });
    });

    it('a stream of unknown size lands what was written', async () => {
      const storage = await open();
      const data = randomBytes(700_000);
      const upload = await beginPut(storage, 'stream.bin', data, { size: null, keepPartial: false, source: null });
      await writeAll(upload, data);
      expect(await upload.commit(md5(data))).toEqual({ filename: 'stream.bin', size: data.length, md5: md5(data) });
      expect((await readAll(await storage.read('stream.bin'))).equals(data)).toBe(true);
    });

    it('a wrong md5 is 422 and leaves nothing; the name is free for the next put', async () => {
      const storage = await open();
      const data = randomBytes(300_000);
      const upload = await beginPut(storage, 'bad.bin', data);
      await writeAll(upload, data);
      expect(await statusOf(upload.commit(md5(Buffer.from('something else'))))).toBe(422);
      expect(await storage.stat('bad.bin')).toBeNull();
      expect((await listAll(storage, '', 10, true)).entries).toEqual([]);
      await put(storage, 'bad.bin', data);
      expect((await storage.stat('bad.bin'))?.md5).toBe(md5(data));
    });

    it('a taken name: 409 without overwrite, replaced with it, numbered with rename', async () => {
      const storage = await open();
      await put(storage, 'd/db.sql.gz', Buffer.from('first'));
      expect(await refused409(storage, 'd/db.sql.gz', Buffer.from('second'))).toBe(409);
      expect((await readAll(await storage.read('d/db.sql.gz'))).toString()).toBe('first');
      await put(storage, 'd/db.sql.gz', Buffer.from('second'), { overwrite: true });
      expect((await readAll(await storage.read('d/db.sql.gz'))).toString()).toBe('second');
      expect((await put(storage, 'd/db.sql.gz', Buffer.from('third'), { rename: true })).filename).toBe('d/db.1.sql.gz');
      expect((await put(storage, 'd/db.sql.gz', Buffer.from('fourth'), { rename: true })).filename).toBe('d/db.2.sql.gz');
      expect((await readAll(await storage.read('d/db.1.sql.gz'))).toString()).toBe('third');
      expect((await readAll(await storage.read('d/db.sql.gz'))).toString()).toBe('second');
    });

    it.runIf(options.refusesFileDirectoryClash !== false)('a directory at the name, or a file where a directory should be, is 409', async () => {
      const storage = await open();
      await storage.makeDirectory('adir');
      await put(storage, 'afile', Buffer.from('x'));
      expect(await refused409(storage, 'adir', Buffer.from('y'), { overwrite: true })).toBe(409);
      expect(await refused409(storage, 'afile/below.txt', Buffer.from('y'))).toBe(409);
      expect((await readAll(await storage.read('afile'))).toString()).toBe('x');
      expect(await statusOf(storage.makeDirectory('afile'))).toBe(409);
    });

    it('discard leaves nothing and may be called twice', async () => {
      const storage = await open();
      const data = randomBytes(200_000);
      const upload = await beginPut(storage, 'gone/x.bin', data);
      await writeAll(upload, data);
      await upload.discard();
      await upload.discard();
      expect(await storage.stat('gone/x.bin')).toBeNull();
      const again = await beginPut(storage, 'gone/x.bin', data, { resume: true });
      expect(again.offset).toBe(0);
      await again.discard();
    });

    it('a suspended upload resumes at a whole chunk of what was written, for the same source only', async () => {
      const storage = await open();
      const chunkSize = 64 * 1024;
      const data = randomBytes(40 * chunkSize + 123);
      const first = await beginPut(storage, 'res/big.bin', data, { chunkSize });
      await writeAll(first, data.subarray(0, 25 * chunkSize + 500));
      await first.suspend();
      const second = await beginPut(storage, 'res/big.bin', data, { chunkSize, resume: true });
      expect(second.offset % chunkSize).toBe(0);
      if (resumes) expect(second.offset).toBeGreaterThan(0);
      expect(second.offset).toBeLessThanOrEqual(25 * chunkSize + 500);
      await writeAll(second, data);
      await second.commit(md5(data));
      expect((await readAll(await storage.read('res/big.bin'))).equals(data)).toBe(true);

      const third = await beginPut(storage, 'res/other.bin', data, { chunkSize });
      await writeAll(third, data.subarray(0, 10 * chunkSize));
      await third.suspend();
      const changed = await beginPut(storage, 'res/other.bin', data, { chunkSize, resume: true, source: { size: data.length, mtime: MTIME + 1 } });
      expect(changed.offset).toBe(0);
      await changed.discard();
    });

    it('nothing is kept for a resume of a batched file or a stream', async () => {
      const storage = await open();
      const data = randomBytes(300_000);
      const batched = await beginPut(storage, 'nk.bin', data, { keepPartial: false });
      await writeAll(batched, data.subarray(0, 200_000));
      await batched.suspend();
      const again = await beginPut(storage, 'nk.bin', data, { resume: true });
      expect(again.offset).toBe(0);
      await again.discard();
    });

    it('expirePartials removes kept partials older than the TTL, except those of open uploads', async () => {
      const storage = await open();
      const data = randomBytes(5 * 65536);
      for (const name of ['old-a.bin', 'old-b.bin']) {
        const upload = await beginPut(storage, name, data, { chunkSize: 65536 });
        await writeAll(upload, data.subarray(0, 3 * 65536));
        await upload.suspend();
      }
      expect(await storage.expirePartials({ ttlMs: 60_000 })).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await storage.expirePartials({ ttlMs: 5, isOpen: (name) => name === 'old-b.bin' })).toBe(resumes ? 1 : 0);
      const a = await beginPut(storage, 'old-a.bin', data, { chunkSize: 65536, resume: true });
      const b = await beginPut(storage, 'old-b.bin', data, { chunkSize: 65536, resume: true });
      expect([a.offset, b.offset]).toEqual([0, resumes ? 3 * 65536 : 0]);
      await Promise.all([a.discard(), b.discard()]);
    });
  });

  describe('check and makeDirectory', () => {
    it('check: missing, identical by size and mtime, or by md5 when one is given', async () => {
      const storage = await open();
      const data = Buffer.from('checked content');
      await put(storage, 'c/f.txt', data);
      const answers = await storage.check([
        { filename: 'c/none.txt', size: 1, mtime: MTIME },
        { filename: 'c/f.txt', size: data.length, mtime: MTIME },
        { filename: 'c/f.txt', size: data.length, mtime: MTIME + 1000 },
        { filename: 'c/f.txt', size: data.length + 1, mtime: MTIME },
        { filename: 'c/f.txt', size: data.length, mtime: 0, md5: md5(data) },
        { filename: 'c/f.txt', size: data.length, mtime: MTIME, md5: md5(Buffer.from('other')) },
      ]);
      expect(answers.map((a) => a.state)).toEqual(['missing', 'identical', 'different', 'different', 'identical', 'different']);
    });

    it('makeDirectory creates parents, says whether it was new, and the directories list', async () => {
      const storage = await open();
      expect(await storage.makeDirectory('m/n/o')).toBe(true);
      expect(await storage.makeDirectory('m/n/o')).toBe(false);
      expect(await storage.makeDirectory('m/n')).toBe(false);
      const { entries } = await listAll(storage, '', 10, true);
      expect(entries.map((e) => [e.name, e.type])).toEqual([['m', 'directory'], ['m/n', 'directory'], ['m/n/o', 'directory']]);
    });
  });
}
