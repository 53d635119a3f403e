/**
 * Free space is shared with the uploads already open (uploads.ts checkSpace): a new upload must fit
 * in what the storage has free minus what the others still have to write. The per-file pass over
 * the others is skipped when their declared sizes fit anyway (a running total): that total must
 * follow every reserve and release, or uploads are let in that do not fit.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../src/server/storage/memory/memory-storage.js';
import type { Upload } from '../src/server/storage/storage.js';
import { Reservations } from '../src/server/uploads/reservations.js';
import { Uploads, type UploadTarget } from '../src/server/uploads/uploads.js';

const target = (filename: string, size: number | null): UploadTarget => ({
  filename, size, overwrite: false, chunkSize: 4096, resume: false, keepPartial: false, source: null,
});

async function open(uploads: Uploads, filename: string, size: number | null): Promise<Upload> {
  const begun = await uploads.begin(target(filename, size));
  if (!('upload' in begun)) throw new Error('expected an upload');
  return begun.upload;
}

const refusal = (uploads: Uploads, filename: string, size: number): Promise<unknown> =>
  uploads.begin(target(filename, size)).then(() => 'accepted', (error: { code?: string }) => error.code);

describe('space promised to the uploads already open', () => {
  it('counts what each open upload still has to write, and nothing once it is gone', async () => {
    const uploads = new Uploads(new MemoryStorage({ capacity: 10_000 }));
    const a = await open(uploads, 'a.bin', 6000);
    expect(await refusal(uploads, 'b.bin', 6000)).toBe('insufficient_storage');
    await a.write(Buffer.alloc(5000));
    // a still has 1,000 to write: 9,000 left for the others.
    const b = await open(uploads, 'b.bin', 6000);
    expect(await refusal(uploads, 'c.bin', 3001)).toBe('insufficient_storage');
    const c = await open(uploads, 'c.bin', 3000);
    await Promise.all([a.discard(), b.discard(), c.discard()]);
    await (await open(uploads, 'd.bin', 10_000)).discard();
  });

  it('a stream (no declared size) promises nothing; a refused or released name gives its share back', async () => {
    const uploads = new Uploads(new MemoryStorage({ capacity: 10_000 }));
    const stream = await open(uploads, 's.bin', null);
    for (let round = 0; round < 50; round++) {
      const held = await Promise.all([open(uploads, 'x.bin', 4000), open(uploads, 'y.bin', 4000)]);
      expect(await refusal(uploads, 'z.bin', 2001)).toBe('insufficient_storage');
      // A name already held is refused 423 and must not count twice.
      expect(await refusal(uploads, 'x.bin', 1)).toBe('busy');
      await Promise.all(held.map((upload) => upload.discard()));
    }
    const whole = await open(uploads, 'w.bin', 10_000);
    await Promise.all([whole.discard(), stream.discard()]);
  });
});

describe('Reservations.promisedAtMost (the running total)', () => {
  it('is the others\' declared sizes, never below what they still have to write, and 0 once all are released', async () => {
    const reservations = new Reservations();
    const a = await reservations.reserve({ name: 'a', size: 700 });
    const b = await reservations.reserve({ name: 'b', size: 300 });
    const s = await reservations.reserve({ name: 's', size: null });
    expect(reservations.promisedAtMost(a)).toBe(300);
    expect(reservations.promisedAtMost(b)).toBe(700);
    expect(reservations.promisedAtMost(s)).toBe(1000);
    expect(reservations.promisedAtMost(a)).toBeGreaterThanOrEqual(reservations.promisedBytes(a));
    reservations.release(b);
    reservations.release(b);
    const again = await reservations.reserve({ name: 'b', size: 50 });
    // A stale handle of a name held anew is no one's share.
    reservations.release(b);
    expect(reservations.promisedAtMost(s)).toBe(750);
    for (const r of [a, again, s]) reservations.release(r);
    const last = await reservations.reserve({ name: 'z', size: 1 });
    expect(reservations.promisedAtMost(last)).toBe(0);
  });
});
