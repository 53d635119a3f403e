/**
 * The `put` action (docs/PROTOCOL.md, "put"): refuse early or ack 200 with the offset to start from,
 * then receive the rest. The md5 of the whole file is verified and the file lands atomically before
 * the verdict. A broken connection keeps the partial for a resume; a bad md5 or a refusal mid-body
 * discards it.
 */
import { performance } from 'node:perf_hooks';
import { ConnectionLostError, StatusError } from '../../errors.js';
import { STATUS } from '../../protocol/constants.js';
import {
  asRequest, errorReply, parseEndRequest, parsePutRequest, type PutAck, type PutRequest, type PutVerdict, type WaitNotice,
} from '../../protocol/messages.js';
import type { BodyHandler, FramedConnection } from '../../transport/framed-connection.js';
import type { ActionHandler, ActionOutcome, ServerContext } from '../context.js';
import type { TransferRecord } from '../log/transfer-log.js';
import type { Upload } from '../storage/storage.js';
import { withKeepAlive } from './keep-alive.js';

/** A resuming client re-hashes its own prefix before sending: allow it this rate at least. */
const CLIENT_PREFIX_HASH_BYTES_PER_MS = 50_000;

/** Reads the body (sized, or data frames for a stream) into `onData`; resolves with its length. */
async function readBody(conn: FramedConnection, request: PutRequest, offset: number, onData: BodyHandler): Promise<number> {
  if (request.size !== null) {
    await conn.readBody(request.size - offset, onData);
    return request.size - offset;
  }
  return conn.readDataFrames(request.chunkSize, onData);
}

async function receiveEnd(conn: FramedConnection, id: number): Promise<string> {
  // The socket may have been paused for disk backpressure: receive() resumes it for the trailer.
  const frame = await conn.receive();
  if (frame === null) throw new ConnectionLostError('connection closed before the md5 trailer');
  return parseEndRequest(asRequest(frame), id).md5;
}

export const handlePut: ActionHandler = (conn, frame, context) => receivePut(conn, parsePutRequest(frame), context);

async function receivePut(conn: FramedConnection, request: PutRequest, context: ServerContext): Promise<ActionOutcome> {
  const started = performance.now();
  const record: Omit<TransferRecord, 'ms'> = { peer: conn.peer, action: 'put', filename: request.filename, bytes: 0 };
  const log = (extra: Partial<TransferRecord>): void => context.logTransfer({ ...record, ms: performance.now() - started, ...extra });
  const logError = (error: { status?: number; code: string; message: string }): void =>
    log({ error: { status: error.status ?? 499, code: error.code, message: error.message } });

  let upload: Upload;
  try {
    const begun = await context.uploads.begin({
      filename: request.filename, size: request.size, overwrite: request.overwrite, chunkSize: request.chunkSize,
      rename: request.rename, resume: request.resume, source: request.source,
      keepPartial: request.size !== null,
      preempt: () => conn.destroy(new ConnectionLostError('a newer attempt of the same upload took over')),
      ...(request.mode !== undefined ? { mode: request.mode } : {}),
      ...(request.uploadId !== undefined ? { uploadId: request.uploadId } : {}),
      ...(request.mtime !== undefined ? { mtime: request.mtime } : {}),
      onWait: (done, total) => conn.send({ type: 'wait', id: request.id, message: 'verifying kept data', done, total } satisfies WaitNotice),
    });
    if ('landed' in begun) {
      const receipt = begun.landed;
      conn.send({ type: 'reply', id: request.id, status: STATUS.OK, code: 'ok', message: 'already stored and verified', offset: receipt.size, complete: true, receipt } satisfies PutAck);
      log({ filename: receipt.filename, md5: receipt.md5, note: 'already landed' });
      return undefined;
    }
    upload = begun.upload;
  } catch (error) {
    if (error instanceof StatusError) logError(error);
    throw error;
  }
  record.filename = upload.filename;
  record.offset = upload.offset;
  conn.send({ type: 'reply', id: request.id, status: STATUS.OK, code: 'ok', message: 'send the body', offset: upload.offset } satisfies PutAck);
  const idle = conn.idleTimeoutMs;
  if (upload.offset > 0 && idle > 0) conn.setIdleTimeout(idle + upload.offset / CLIENT_PREFIX_HASH_BYTES_PER_MS);

  let claimed: string;
  try {
    record.bytes = await readBody(conn, request, upload.offset, (chunk) => upload.write(chunk));
    conn.setIdleTimeout(idle);
    claimed = await receiveEnd(conn, request.id);
    // Read from what was buffered before the connection went away: the client never learns the
    // verdict and will try again, so landing now would race with that retry. Keep or drop instead.
    if (conn.gone) throw new ConnectionLostError('connection closed before the verdict could be sent');
  } catch (error) {
    conn.setIdleTimeout(idle);
    if (error instanceof ConnectionLostError) {
      // Keep what arrived: the client will ask to resume.
      await upload.suspend();
      record.bytes = upload.received - upload.offset;
      logError({ code: error.code, message: `${error.message}${request.size === null ? '' : '; partial kept for resume'}` });
      throw error;
    }
    await upload.discard();
    if (!(error instanceof StatusError)) {
      logError({ status: STATUS.BAD_REQUEST, code: (error as { code?: string }).code ?? 'internal', message: (error as Error).message });
      throw error;
    }
    logError(error);
    conn.send(errorReply(error, request.id));
    // A refusal mid-body (disk full, too large) leaves unread body bytes on the wire: the connection is done.
    return 'close';
  }

  try {
    const receipt = await withKeepAlive(conn, request.id, 'landing', () => upload.commit(claimed));
    conn.send({ type: 'reply', id: request.id, status: STATUS.OK, code: 'ok', message: 'stored and verified', receipt } satisfies PutVerdict);
    log({ filename: receipt.filename, md5: receipt.md5 });
  } catch (error) {
    const refusal = error instanceof StatusError ? error : new StatusError(STATUS.INTERNAL, 'internal', String(error));
    logError(refusal);
    conn.send(errorReply(refusal, request.id));
  }
  return undefined;
}
