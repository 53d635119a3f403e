/**
 * Uploading a stream of unknown length (stdin): the body is data frames of at most one chunk each,
 * ended by an empty one (docs/PROTOCOL.md, "Stream bodies"). Nothing is spooled to disk on either
 * side; the md5 is computed as the bytes pass. A stream cannot be replayed, so it is not resumed.
 */
import type { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { createMd5 } from '../checksum.js';
import { LocalFileError, VerificationError } from '../errors.js';
import { DATA_FRAME_HEADER_BYTES, DEFAULT_CHUNK_SIZE, STATUS } from '../protocol/constants.js';
import type { PutRequest, Reply } from '../protocol/messages.js';
import { replyError, throwEarlyRefusal, type ClientConnection } from './connection.js';

/** Options of a stream upload. */
export interface StreamPutOptions {
  remoteName: string;
  overwrite?: boolean;
  rename?: boolean;
  chunkSize?: number;
  /** Called with the bytes the socket has accepted so far (the total is unknown). */
  onProgress?: (done: number) => void;
}

/** What a landed stream reports. */
export interface StreamReceipt {
  filename: string;
  size: number;
  md5: string;
  seconds: number;
}

/** Frames one piece of input as whole data frames of at most `chunkSize` payload bytes (one copy). */
function frame(data: Buffer, chunkSize: number): Buffer {
  const frames = Math.ceil(data.length / chunkSize);
  const out = Buffer.allocUnsafe(data.length + frames * DATA_FRAME_HEADER_BYTES);
  let at = 0;
  for (let from = 0; from < data.length; from += chunkSize) {
    const length = Math.min(chunkSize, data.length - from);
    out.writeUInt32BE(length, at);
    data.copy(out, at + DATA_FRAME_HEADER_BYTES, from, from + length);
    at += DATA_FRAME_HEADER_BYTES + length;
  }
  return out;
}

/** Streams `input` to the server under `remoteName`; resolves once landed and verified. */
export async function putStream(link: ClientConnection, input: Readable, options: StreamPutOptions): Promise<StreamReceipt> {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const started = performance.now();
  const id = link.nextId();
  const request: PutRequest = {
    action: 'put', id, filename: options.remoteName, size: null, stream: true, wait: true, chunkSize,
    overwrite: options.overwrite ?? false, rename: options.rename ?? false, mtime: Date.now(), resume: false, source: null,
  };
  link.conn.send(request);
  const ack = await link.expect(id);
  if (ack.status !== STATUS.OK) throw replyError(ack);
  let verdict: Reply | undefined;
  const verdictPromise = link.expect(id).then((reply) => (verdict = reply));
  verdictPromise.catch(() => undefined);
  const hash = createMd5();
  let size = 0;
  let accepted = 0;
  try {
    for await (const piece of input) {
      const data = Buffer.isBuffer(piece) ? piece : Buffer.from(piece as string);
      if (data.length === 0) continue;
      hash.update(data);
      size += data.length;
      const length = data.length;
      const ok = link.conn.sendRaw(frame(data, chunkSize), (error) => {
        if (!error) {
          accepted += length;
          options.onProgress?.(accepted);
        }
      });
      if (verdict) break;
      if (!ok) await link.conn.drain();
    }
  } catch (error) {
    await throwEarlyRefusal(verdictPromise);
    if ((error as { code?: string }).code === 'connection_lost') throw error;
    link.destroy();
    throw new LocalFileError(`cannot read the input stream: ${(error as Error).message}`, { cause: error });
  }
  const md5 = hash.digest('hex');
  if (verdict === undefined) {
    link.conn.sendRaw(Buffer.alloc(DATA_FRAME_HEADER_BYTES)); // the empty frame: end of data
    link.conn.send({ action: 'end', id, md5 });
  }
  const reply = await verdictPromise;
  if (reply.status !== STATUS.OK) throw replyError(reply);
  if (!reply.receipt || reply.receipt.md5 !== md5 || reply.receipt.size !== size) {
    throw new VerificationError(`server reports md5 ${reply.receipt?.md5 ?? 'none'} for ${reply.receipt?.size ?? '?'} bytes, sent ${md5} for ${size}`);
  }
  return { filename: reply.receipt.filename, size, md5, seconds: (performance.now() - started) / 1000 };
}
