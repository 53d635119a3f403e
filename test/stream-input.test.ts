import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, openSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HashPool } from '../src/hashing/md5-pool.js';
import { FrameBlocks } from '../src/client/put/frame-blocks.js';
import { pumpInput, type StreamInput } from '../src/client/put/stream-input.js';

const pool = new HashPool(1);
let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'ftx-stream-input-')); });
afterAll(async () => {
  await pool.close();
  await rm(dir, { recursive: true, force: true });
});

const md5 = (data: Buffer): string => createHash('md5').update(data).digest('hex');

/** The payloads of the data frames in `sent` (each send whole frames), checking each against `chunkSize`. */
function payloadsOf(sent: Buffer[], chunkSize: number): Buffer[] {
  const payloads: Buffer[] = [];
  for (const data of sent) {
    for (let at = 0; at < data.length;) {
      const length = data.readUInt32BE(at);
      expect(length).toBeGreaterThan(0);
      expect(length).toBeLessThanOrEqual(chunkSize);
      payloads.push(Buffer.from(data.subarray(at + 4, at + 4 + length)));
      at += 4 + length;
      expect(at).toBeLessThanOrEqual(data.length);
    }
  }
  return payloads;
}

/**
 * Frame blocks whose sends are recorded (`full`: each send says the socket is full): a copy of each send is taken when it is made, and
 * `intact()` later says whether the memory of every send still holds those bytes until its `done`.
 */
function recordingBlocks(chunkSize: number, { holdDone = false, full = false } = {}) {
  const hash = pool.open();
  const sent: Buffer[] = [];
  const pending: Array<{ view: Buffer; copy: Buffer; done: () => void }> = [];
  let payload = 0;
  const blocks = new FrameBlocks(chunkSize, hash, (data, bytes, done) => {
    sent.push(Buffer.from(data));
    payload += bytes;
    if (holdDone) pending.push({ view: data, copy: Buffer.from(data), done });
    else done();
    return !full;
  });
  return {
    blocks, hash, sent, payload: () => payload,
    /** True while every send not yet done still has its bytes in place. */
    intact: () => pending.every((p) => p.view.equals(p.copy)),
    releaseAll: () => { for (const p of pending.splice(0)) p.done(); },
  };
}

const control = { drain: () => Promise.resolve(), stop: () => false };

describe('FrameBlocks', () => {
  it('frames bytes read into its spaces, in order, each region one frame of at most the chunk size', async () => {
    const rec = recordingBlocks(100_000);
    const data = randomBytes(3 * 1024 * 1024 + 17);
    for (let at = 0; at < data.length;) {
      const regions = rec.blocks.spaces(300_000);
      let read = 0;
      for (const region of regions) {
        const n = data.copy(region, 0, at + read, Math.min(data.length, at + read + region.length));
        read += n;
        if (n < region.length) break;
      }
      rec.blocks.took(read);
      at += read;
    }
    rec.blocks.flush();
    await rec.blocks.settle(true);
    expect(Buffer.concat(payloadsOf(rec.sent, 100_000)).equals(data)).toBe(true);
    expect(rec.payload()).toBe(data.length);
    expect(await rec.hash.digest()).toBe(md5(data));
  });

  it('a flush while a read is pending sends what is there; the pending read lands after it, in the next send', async () => {
    // A slow producer: the partial-block timer flushes between two reads into the same region.
    const rec = recordingBlocks(256 * 1024);
    const first = randomBytes(1000);
    const second = randomBytes(2000);
    first.copy(rec.blocks.spaces()[0]!);
    rec.blocks.took(first.length);
    const pendingRead = rec.blocks.spaces()[0]!;
    rec.blocks.flush();
    second.copy(pendingRead);
    rec.blocks.took(second.length);
    rec.blocks.flush();
    await rec.blocks.settle(true);
    expect(rec.sent.length).toBe(2);
    expect(payloadsOf([rec.sent[0]!], 256 * 1024)).toEqual([first]);
    expect(payloadsOf([rec.sent[1]!], 256 * 1024)).toEqual([second]);
    expect(await rec.hash.digest()).toBe(md5(Buffer.concat([first, second])));
  });

  it('does not reuse a block before the socket has taken every part of it', async () => {
    const rec = recordingBlocks(64 * 1024, { holdDone: true });
    const data = randomBytes(8 * 1024 * 1024);
    for (let at = 0, reads = 0; at < data.length; reads++) {
      const n = data.copy(rec.blocks.spaces()[0]!, 0, at);
      rec.blocks.took(n);
      at += n;
      if (reads % 5 === 0) rec.blocks.flush(); // parts of blocks, as the partial timer sends them
      await rec.blocks.settle(true); // the hash thread is done: only the socket still holds the memory
      expect(rec.intact()).toBe(true);
    }
    rec.releaseAll();
    rec.blocks.flush();
    await rec.blocks.settle(true);
    expect(Buffer.concat(payloadsOf(rec.sent, 64 * 1024)).equals(data)).toBe(true);
    await rec.hash.digest();
  });

  it('copies a Readable\'s pieces in as frames (add)', async () => {
    const rec = recordingBlocks(4096);
    const pieces = [randomBytes(10_000), randomBytes(1), randomBytes(2 * 1024 * 1024)];
    for (const piece of pieces) rec.blocks.add(piece);
    rec.blocks.flush();
    await rec.blocks.settle(true);
    expect(Buffer.concat(payloadsOf(rec.sent, 4096)).equals(Buffer.concat(pieces))).toBe(true);
    expect(await rec.hash.digest()).toBe(md5(Buffer.concat(pieces)));
  });
});

/** Pumps `input` into recorded frame blocks; resolves with what was sent. */
async function pumped(input: StreamInput, chunkSize = 256 * 1024, pumpControl = control, options: { full?: boolean } = {}) {
  const rec = recordingBlocks(chunkSize, options);
  const size = await pumpInput(input, rec.blocks, pumpControl);
  rec.blocks.flush();
  await rec.blocks.settle(true);
  return { size, payloads: payloadsOf(rec.sent, chunkSize), md5: await rec.hash.digest() };
}

describe('pumpInput', () => {
  it('reads a file descriptor of a file in frames of the whole chunk size, several per read', async () => {
    const data = randomBytes(5 * 1024 * 1024 + 5);
    const path = join(dir, 'file.bin');
    await writeFile(path, data);
    const fd = openSync(path, 'r');
    try {
      const { size, payloads, md5: digest } = await pumped({ fd });
      expect(size).toBe(data.length);
      expect(digest).toBe(md5(data));
      // Every frame but those at a block's end and the last is a whole chunk (a Readable's would be 64 KiB).
      expect(payloads.filter((p) => p.length === 256 * 1024).length).toBeGreaterThanOrEqual(15);
    } finally {
      closeSync(fd);
    }
  });

  it('reads a pipe (a FIFO) into the blocks: every byte in order, the md5 as sent, through pauses and a full socket', async () => {
    const data = randomBytes(20 * 1024 * 1024 + 3);
    const source = join(dir, 'fifo-src.bin');
    await writeFile(source, data);
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    // Our read end first (non-blocking open), then the write end, handed to the writer alone: the
    // pipe ends when the writer exits. The writer pauses: some reads find the pipe empty.
    const fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writeEnd = openSync(fifo, 'w');
    const writer = spawn('sh', ['-c', `head -c 70000 "${source}"; sleep 0.05; tail -c +70001 "${source}"`], { stdio: ['ignore', writeEnd, 'inherit'] });
    closeSync(writeEnd);
    // Every send asks to wait: reading stops and goes on after each drain.
    let drains = 0;
    const waiting = { drain: () => { drains++; return new Promise<void>((resolve) => setTimeout(resolve, 1)); }, stop: () => false };
    try {
      const { size, payloads, md5: digest } = await pumped({ fd }, 256 * 1024, waiting, { full: true });
      expect(size).toBe(data.length);
      expect(Buffer.concat(payloads).equals(data)).toBe(true);
      expect(digest).toBe(md5(data));
      expect(drains).toBeGreaterThan(10);
    } finally {
      writer.kill();
    }
  });

  it('stops reading a pipe once told to (the server answered early)', async () => {
    const fifo = join(dir, 'fifo-endless');
    execFileSync('mkfifo', [fifo]);
    const fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writeEnd = openSync(fifo, 'w');
    const writer = spawn('sh', ['-c', 'exec cat /dev/zero'], { stdio: ['ignore', writeEnd, 'ignore'] });
    closeSync(writeEnd);
    try {
      const rec = recordingBlocks(256 * 1024);
      // Told to stop from the first read on: nothing more is read than that one read.
      const size = await pumpInput({ fd }, rec.blocks, { drain: () => Promise.resolve(), stop: () => true });
      expect(size).toBeGreaterThan(0);
      expect(size).toBeLessThanOrEqual(256 * 1024);
    } finally {
      writer.kill();
    }
  });

  it('copies a Readable in', async () => {
    const pieces = [randomBytes(100_000), randomBytes(3)];
    const { size, payloads } = await pumped(Readable.from(pieces));
    expect(size).toBe(100_003);
    expect(Buffer.concat(payloads).equals(Buffer.concat(pieces))).toBe(true);
  });
});
