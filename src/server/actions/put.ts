/**
 * The `put` action: refuse early or ack 200 with the offset to start from, receive the rest of the
 * body, verify the md5 of the whole file, land atomically. A broken connection keeps the partial
 * for a resume; a bad md5 or a refusal mid-body discards it.
 */
import { performance } from 'node:perf_hooks';
import { ConnectionLostError, StatusError } from '../../errors.js';
import { STATUS } from '../../protocol/constants.js';
import { asRequest, errorReply, parseEndRequest, parsePutRequest, type Reply, type WaitNotice } from '../../protocol/messages.js';
import type { FramedConnection } from '../../transport/framed-connection.js';
import type { ActionHandler } from '../context.js';
import type { TransferRecord } from '../log.js';
import type { Upload } from '../storage.js';

/** Keep-alive interval while landing takes long (fsync of a large file). */
const WAIT_INTERVAL_MS = 5000;
/** A resuming client re-hashes its own prefix before sending: allow it this rate at least. */
const CLIENT_PREFIX_HASH_BYTES_PER_MS = 50_000;

/** Runs `work`, sending a `wait` frame every few seconds so the client's idle timer stays quiet. */
async function withKeepAlive<T>(conn: FramedConnection, id: number, message: string, work: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => conn.send({ type: 'wait', id, message } satisfies WaitNotice), WAIT_INTERVAL_MS);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

async function receiveEnd(conn: FramedConnection, id: number): Promise<string> {
  // The socket may have been paused for disk backpressure: receive() resumes it for the trailer.
  const frame = await conn.receive();
  if (frame === null) throw new ConnectionLostError('connection closed before the md5 trailer');
  return parseEndRequest(asRequest(frame), id).md5;
}

export const handlePut: ActionHandler = async (conn, frame, context) => {
  const started = performance.now();
  const request = parsePutRequest(frame);
  const record: Omit<TransferRecord, 'ms'> = { peer: conn.peer, action: 'put', filename: request.filename, bytes: 0 };
  const log = (extra: Partial<TransferRecord>): void => context.logTransfer({ ...record, ms: performance.now() - started, ...extra });
  const logError = (error: { status?: number; code: string; message: string }): void =>
    log({ error: { status: error.status ?? 499, code: error.code, message: error.message } });

  let upload: Upload;
  try {
    const begun = await context.storage.beginUpload({
      filename: request.filename, size: request.size, overwrite: request.overwrite, chunkSize: request.chunkSize,
      resume: request.resume, source: request.source,
      ...(request.uploadId !== undefined ? { uploadId: request.uploadId } : {}),
      ...(request.mtime !== undefined ? { mtime: request.mtime } : {}),
      onWait: (done, total) => conn.send({ type: 'wait', id: request.id, message: 'verifying kept data', done, total } satisfies WaitNotice),
    });
    if ('landed' in begun) {
      const receipt = begun.landed;
      conn.send({ type: 'reply', id: request.id, status: STATUS.OK, code: 'ok', message: 'already stored and verified', offset: receipt.size, complete: true, receipt } satisfies Reply);
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
  conn.send({ type: 'reply', id: request.id, status: STATUS.OK, code: 'ok', message: 'send the body', offset: upload.offset } satisfies Reply);
  const idle = conn.idleTimeoutMs;
  if (upload.offset > 0 && idle > 0) conn.setIdleTimeout(idle + upload.offset / CLIENT_PREFIX_HASH_BYTES_PER_MS);

  let bodyDone = false;
  try {
    await conn.readBody(request.size - upload.offset, (chunk) => upload.write(chunk));
    conn.setIdleTimeout(idle);
    bodyDone = true;
    record.bytes = request.size - upload.offset;
    const claimed = await receiveEnd(conn, request.id);
    const receipt = await withKeepAlive(conn, request.id, 'landing', () => upload.commit(claimed));
    conn.send({ type: 'reply', id: request.id, status: STATUS.OK, code: 'ok', message: 'stored and verified', receipt } satisfies Reply);
    log({ md5: receipt.md5 });
    return undefined;
  } catch (error) {
    conn.setIdleTimeout(idle);
    if (error instanceof ConnectionLostError) {
      // Keep what arrived: the client will ask to resume.
      await upload.suspend();
      record.bytes = upload.received - upload.offset;
      logError({ code: error.code, message: `${error.message}; partial kept for resume` });
      throw error;
    }
    await upload.discard();
    if (!(error instanceof StatusError)) {
      logError({ status: STATUS.BAD_REQUEST, code: (error as { code?: string }).code ?? 'internal', message: (error as Error).message });
      throw error;
    }
    logError(error);
    conn.send(errorReply(error, request.id));
    // A refusal mid-body (disk full) leaves unread body bytes on the wire: the connection is done.
    return bodyDone ? undefined : 'close';
  }
};
