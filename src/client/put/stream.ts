/**
 * Uploading a stream of unknown length (stdin): the body is data frames of at most one chunk each,
 * ended by an empty one (docs/PROTOCOL.md §6.6). Nothing is spooled to disk on either
 * side; the md5 is computed as the bytes pass. A stream cannot be replayed, so it is not resumed.
 */
import { performance } from 'node:perf_hooks';
import { HashThreadError, LocalFileError, VerificationError } from '../../errors.js';
import { sharedHashPool, type PooledMd5 } from '../../hashing/md5-pool.js';
import { DATA_FRAME_HEADER_BYTES } from '../../protocol/constants.js';
import { parsePutAck, parsePutVerdict, type PutRequest } from '../../protocol/messages.js';
import { throwEarlyRefusal, type ClientConnection } from '../connection.js';
import type { PutReceipt } from './file.js';
import { FrameBlocks } from './frame-blocks.js';
import { pumpInput, type StreamInput } from './stream-input.js';

/** Options of a stream upload. */
export interface StreamPutOptions {
  remoteName: string;
  overwrite?: boolean;
  rename?: boolean;
  chunkSize?: number;
  /** Called with the bytes the socket has accepted so far (the total is unknown). */
  onProgress?: (done: number) => void;
  /**
   * Awaited once the input has ended, before the end of the data is sent (the commit). A rejection
   * abandons the upload: the connection is dropped, so the server discards the stream (§6.5).
   */
  beforeEnd?: () => Promise<void>;
}

/**
 * Largest data frame of a stream unless the caller chose one: a stream is never resumed, so its
 * chunk size only sets the frame size, and a frame costs both sides a header and a call each
 * (4 KiB frames: 262,144 per GiB). 256 KiB, like a get's default (docs/PROTOCOL.md §6.11).
 */
export const STREAM_CHUNK_SIZE = 256 * 1024;

/**
 * Streams `input` to the server under `remoteName`; resolves once landed and verified. A function
 * is called for the input once the server has accepted the upload (a producer starts only then).
 * A file descriptor ({fd}, e.g. stdin) is read straight into the frame blocks (stream-input.ts).
 */
export async function putStream(link: ClientConnection, input: StreamInput | (() => StreamInput), options: StreamPutOptions): Promise<PutReceipt> {
  const chunkSize = options.chunkSize ?? STREAM_CHUNK_SIZE;
  const started = performance.now();
  const id = link.nextId();
  const request: PutRequest = {
    action: 'put', id, filename: options.remoteName, size: null, stream: true, wait: true, chunkSize,
    overwrite: options.overwrite ?? false, rename: options.rename ?? false, mtime: Date.now(), resume: false, source: null,
  };
  // Until the end trailer no ping frame may go out: the server reads the ack's body next.
  link.sending = 'body';
  try {
    link.send(request);
    await link.expect(id, parsePutAck);
    // Data frames from here: a pause of the producer is bridged by heartbeat data frames.
    link.sending = 'stream';
    return await sendStream(link, typeof input === 'function' ? input() : input, options, request, started);
  } finally {
    link.sending = 'requests';
  }
}

/** What was sent of a stream. */
interface Sent {
  md5: string;
  size: number;
}

/** The data frames, the end of the data and the trailer; then the verdict, checked against what was sent. */
async function sendStream(link: ClientConnection, source: StreamInput, options: StreamPutOptions, request: PutRequest, started: number): Promise<PutReceipt> {
  const { id } = request;
  let answered = false;
  const verdict = link.expect(id, parsePutVerdict).finally(() => (answered = true));
  verdict.catch(() => undefined);
  const sent = await sendFrames(link, source, options, request.chunkSize, verdict, () => answered);
  if (!answered && options.beforeEnd) {
    try {
      await options.beforeEnd();
    } catch (error) {
      link.destroy();
      throw error;
    }
  }
  if (!answered) {
    link.sendRaw(Buffer.alloc(DATA_FRAME_HEADER_BYTES)); // the empty frame: end of data
    link.send({ action: 'end', id, md5: sent.md5 });
    link.sending = 'requests';
  }
  const { receipt } = await verdict;
  if (!receipt || receipt.md5 !== sent.md5 || receipt.size !== sent.size) {
    throw new VerificationError(`server reports md5 ${receipt?.md5 ?? 'none'} for ${receipt?.size ?? '?'} bytes, sent ${sent.md5} for ${sent.size}`);
  }
  return { localPath: '-', filename: receipt.filename, size: sent.size, md5: sent.md5, seconds: (performance.now() - started) / 1000, resumedFrom: 0, bytesSent: sent.size };
}

/** Frames `source` onto the connection until it ends or the server answers; an input failure abandons the upload. */
async function sendFrames(
  link: ClientConnection, source: StreamInput, options: StreamPutOptions, chunkSize: number, verdict: Promise<unknown>, answered: () => boolean,
): Promise<Sent> {
  const hash = sharedHashPool().open();
  try {
    return await sendFramesHashed(link, source, options, chunkSize, verdict, answered, hash);
  } finally {
    hash.dispose(); // a no-op once digested
  }
}

async function sendFramesHashed(
  link: ClientConnection, source: StreamInput, options: StreamPutOptions, chunkSize: number, verdict: Promise<unknown>, answered: () => boolean,
  hash: PooledMd5,
): Promise<Sent> {
  let size = 0;
  let accepted = 0;
  try {
    const blocks = new FrameBlocks(chunkSize, hash, (data, payload, done) => link.sendRaw(data, (error) => {
      if (error) return;
      done();
      accepted += payload;
      options.onProgress?.(accepted);
    }));
    size = await pumpInput(source, blocks, { drain: () => link.drain(), stop: answered });
    blocks.flush();
    await blocks.settle(true);
  } catch (error) {
    await throwEarlyRefusal(verdict);
    if ((error as { code?: string }).code === 'connection_lost') throw error;
    link.destroy();
    if (error instanceof HashThreadError) throw error;
    throw new LocalFileError(`cannot read the input stream: ${(error as Error).message}`, { cause: error });
  }
  return { md5: await hash.digest(), size };
}
