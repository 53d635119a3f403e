/**
 * Reading a stream's input into its frame blocks (frame-blocks.ts). A Readable's pieces are
 * copied in. A file descriptor (stdin) is read straight into the blocks instead: a pipe or a
 * socket through a net.Socket whose `onread` buffer is the block itself (no allocation, no copy,
 * no Readable per 64 KiB), anything else (a file, a device) with readv into several frames at
 * once. Measured on 1 GiB from `cat` (bench/README.md, issue 15): see the stdin paragraph.
 */
import { fstat, readv } from 'node:fs';
import { Socket, type SocketConstructorOpts } from 'node:net';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { FrameBlocks } from './frame-blocks.js';

/**
 * A file descriptor to upload from, read without a Readable (stdin: a pipe, a socket, a file). A
 * pipe's or socket's descriptor is closed once the stream ends or stops (a net.Socket owns it
 * then); a file's is left open, at the offset where reading stopped.
 */
export interface FdInput {
  fd: number;
}

/** Where a stream comes from. */
export type StreamInput = Readable | FdInput;

/** What a pump needs besides its input and the blocks. */
export interface PumpControl {
  /** Resolves once the socket has taken what it was given (after a send asked to wait). */
  drain(): Promise<void>;
  /** True once the input should stop early (the server has answered). */
  stop(): boolean;
}

/** Longest a partly filled block waits for more input. */
const PARTIAL_BLOCK_DELAY_MS = 10;
/** Most bytes one readv of a file or device asks for. */
const FILE_READ_BYTES = 1024 * 1024;

const fstatAsync = promisify(fstat);
const readvAsync = promisify(readv);

/** Reads `input` into `blocks` until it ends or `control.stop()`; resolves with the bytes read. Does not flush the last block. */
export async function pumpInput(input: StreamInput, blocks: FrameBlocks, control: PumpControl): Promise<number> {
  if (!('fd' in input)) return pumpReadable(input, blocks, control);
  const stats = await fstatAsync(input.fd);
  return stats.isFIFO() || stats.isSocket() ? pumpPipe(input.fd, blocks, control) : pumpFile(input.fd, blocks, control);
}

/** Waits for the socket and the hash thread when either asked to. */
async function backOff(blocks: FrameBlocks, control: PumpControl): Promise<void> {
  if (blocks.needsDrain) {
    blocks.needsDrain = false;
    await control.drain();
  }
  await blocks.settle();
}

/** A slow producer's data does not wait for a full block: it goes out after at most 10 ms. */
function partialFlusher(blocks: FrameBlocks): { arm(): void; stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  return {
    arm: () => {
      timer ??= setTimeout(() => {
        timer = undefined;
        blocks.flush();
      }, PARTIAL_BLOCK_DELAY_MS);
    },
    stop: () => clearTimeout(timer),
  };
}

async function pumpReadable(source: Readable, blocks: FrameBlocks, control: PumpControl): Promise<number> {
  let size = 0;
  const flusher = partialFlusher(blocks);
  try {
    for await (const piece of source) {
      const data = Buffer.isBuffer(piece) ? piece : Buffer.from(piece as string);
      if (data.length === 0) continue;
      size += data.length;
      blocks.add(data);
      flusher.arm();
      if (control.stop()) break;
      await backOff(blocks, control);
    }
  } finally {
    flusher.stop();
  }
  return size;
}

/**
 * A pipe or socket: each read lands in the block as one frame (at most 64 KiB from a pipe). A
 * false return from the callback stops reading (Node's onread contract) until resume().
 */
function pumpPipe(fd: number, blocks: FrameBlocks, control: PumpControl): Promise<number> {
  return new Promise((resolve, reject) => {
    let size = 0;
    let finished = false;
    const flusher = partialFlusher(blocks);
    const finish = (error?: Error): void => {
      if (finished) return;
      finished = true;
      flusher.stop();
      socket.destroy();
      if (error) reject(error);
      else resolve(size);
    };
    const resumeLater = async (): Promise<void> => {
      await backOff(blocks, control);
      if (control.stop()) finish();
      else socket.resume();
    };
    const onread = {
      buffer: (): Buffer => blocks.spaces()[0]!,
      callback: (length: number): boolean => {
        size += length;
        const ok = blocks.took(length);
        flusher.arm();
        if (control.stop()) {
          finish();
          return false;
        }
        if (ok && !blocks.overHashWindow) return true;
        resumeLater().catch(finish);
        return false;
      },
    };
    // `onread` is an option of the constructor (Node's net docs), missing from @types/node's SocketConstructorOpts.
    const socket = new Socket({ fd, readable: true, writable: false, onread } as SocketConstructorOpts);
    socket.on('end', () => finish());
    socket.on('error', finish);
    socket.resume();
  });
}

/** A file or a device: readv into the payloads of several frames at once, on the libuv pool. */
async function pumpFile(fd: number, blocks: FrameBlocks, control: PumpControl): Promise<number> {
  let size = 0;
  for (;;) {
    const { bytesRead: read } = await readvAsync(fd, blocks.spaces(FILE_READ_BYTES)); // from the current offset
    blocks.took(read);
    if (read === 0) return size;
    size += read;
    if (control.stop()) return size;
    await backOff(blocks, control);
  }
}
