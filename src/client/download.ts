/**
 * The client's half of `get` (docs/PROTOCOL.md §6.11) on one connection: sends the request, then
 * reads its answer frame by frame (headers, data-frame bodies, trailers) and hands each file's
 * bytes to a sink. Every frame is checked against what was asked: another index, another name, an
 * offset that was not offered, too many or too few bytes are protocol errors.
 */
import { ConnectionLostError, ProtocolError, StatusError } from '../errors.js';
import { STATUS } from '../protocol/constants.js';
import type { FrameObject } from '../protocol/frame.js';
import { parseReply, replyError, type WaitNotice } from '../protocol/messages.js';
import { parseFileEnd, parseFileHeader, type FileEnd, type FileHeader } from '../protocol/read-replies.js';
import { DEFAULT_GET_CHUNK_SIZE, type GetFile } from '../protocol/read-requests.js';
import type { ClientConnection } from './connection.js';


/** A file's body goes here; a sink that fails keeps the exchange in step (the bytes are then skipped). */
export interface DownloadSink {
  write(chunk: Buffer): Promise<void> | void;
}

/** What the caller does with each file of the answer. */
export interface DownloadHandlers {
  /** A 200 header: where its bytes go. Throwing here (a local error) skips the body. */
  begin(index: number, header: Required<Pick<FileHeader, 'filename' | 'size' | 'mtime' | 'mode' | 'md5' | 'offset'>>): Promise<DownloadSink>;
  /** The body and trailer of a begun file arrived (`received` data bytes). */
  end(index: number, trailer: FileEnd, received: number): Promise<void>;
  /** A refusal instead of the file (404, 403). */
  refused(index: number, error: StatusError): void;
  /** A begin() or write() failed: the file is lost, the exchange goes on. */
  failed(index: number, error: unknown): void;
  /** Keep-alives while the server re-reads a kept prefix. */
  waiting?(notice: WaitNotice): void;
}

/** The next control frame that is not a heartbeat; wait frames go to `onWait`. */
async function nextFrame(link: ClientConnection, id: number, onWait?: (n: WaitNotice) => void): Promise<FrameObject> {
  for (;;) {
    const frame = await link.receiveFrame();
    if (frame === null) throw new ConnectionLostError('the server closed the connection during a get');
    if (frame.type === 'ping') continue;
    if (frame.type === 'wait' && frame.id === id) {
      onWait?.({ type: 'wait', message: String(frame.message ?? ''), ...(typeof frame.done === 'number' ? { done: frame.done } : {}), ...(typeof frame.total === 'number' ? { total: frame.total } : {}) });
      continue;
    }
    return frame;
  }
}

/** Reads one body into `sink`, or skips it once the sink failed; resolves with the data bytes. */
async function readBody(link: ClientConnection, chunkSize: number, sink: DownloadSink | undefined, onError: (e: unknown) => void): Promise<number> {
  let target = sink;
  return link.readDataFrames(chunkSize, (chunk) => {
    if (!target) return undefined;
    try {
      const pending = target.write(chunk);
      return pending?.catch((error: unknown) => {
        target = undefined;
        onError(error);
      });
    } catch (error) {
      target = undefined;
      onError(error);
      return undefined;
    }
  });
}

/** One attempt of a download: what to ask for (offsets from the kept partials), how to take it, what to do after. */
export interface DownloadPlan {
  files: GetFile[];
  handlers: DownloadHandlers;
  chunkSize?: number;
  /** Runs after the attempt, also when it failed (e.g. keeps the partial being written). */
  settle?: () => Promise<void>;
}

/**
 * Runs one get of `files` on `link` (nothing else may be outstanding on it). Rejects on a
 * connection or protocol failure; per-file outcomes go to `handlers`.
 */
export async function download(link: ClientConnection, files: GetFile[], handlers: DownloadHandlers, chunkSize = DEFAULT_GET_CHUNK_SIZE): Promise<void> {
  const id = link.nextId();
  link.send({ action: 'get', id, files, chunkSize });
  for (let index = 0; index < files.length; index++) {
    const frame = await nextFrame(link, id, handlers.waiting);
    if (frame.type === 'reply') {
      const reply = parseReply(frame);
      if (reply.id === id && reply.status !== STATUS.OK) throw replyError(reply);
      throw new ProtocolError(`the server ended get ${id} after ${index} of ${files.length} files`);
    }
    const header = parseFileHeader(frame);
    if (header.id !== id || header.index !== index) throw new ProtocolError(`the server answered file ${header.index} of get ${header.id}, expected file ${index} of get ${id}`);
    if (header.status !== STATUS.OK) {
      handlers.refused(index, new StatusError(header.status, header.code, header.message ?? header.code));
      continue;
    }
    const asked = files[index]!;
    if (header.filename !== asked.filename) throw new ProtocolError(`the server sent ${JSON.stringify(header.filename!.slice(0, 200))} for ${JSON.stringify(asked.filename)}`);
    if (header.offset !== 0 && header.offset !== asked.offset) throw new ProtocolError(`the server resumed ${asked.filename} at ${header.offset}, not at the ${asked.offset} asked for`);
    const fields = header as Required<FileHeader>;
    let sink: DownloadSink | undefined;
    let failure: unknown;
    try {
      sink = await handlers.begin(index, fields);
    } catch (error) {
      failure = error;
    }
    const received = await readBody(link, chunkSize, sink, (error) => (failure ??= error));
    const trailer = parseFileEnd(await nextFrame(link, id));
    if (trailer.id !== id || trailer.index !== index) throw new ProtocolError(`the server's trailer is for file ${trailer.index} of get ${trailer.id}`);
    if (received > fields.size - fields.offset) throw new ProtocolError(`the server sent ${received} bytes of ${asked.filename}, more than its size allows`);
    if (failure !== undefined) handlers.failed(index, failure);
    else await handlers.end(index, trailer, received);
  }
  const last = parseReply(await nextFrame(link, id));
  if (last.id !== id) throw new ProtocolError(`expected the end of get ${id}`);
  if (last.status !== STATUS.OK) throw replyError(last);
}
