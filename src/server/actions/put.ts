/** The `put` action: refuse early or ack 200, receive exactly `size` bytes, verify md5, land atomically. */
import { performance } from 'node:perf_hooks';
import { createMd5 } from '../../checksum.js';
import { ConnectionLostError, StatusError } from '../../errors.js';
import { ERROR_CODE, STATUS } from '../../protocol/constants.js';
import { asRequest, errorReply, parseEndRequest, parsePutRequest, type Reply } from '../../protocol/messages.js';
import type { FramedConnection } from '../../transport/framed-connection.js';
import type { ActionHandler } from '../context.js';
import type { Upload } from '../storage.js';

/** Receives the body and its trailer; returns the md5 the client claims and the one we computed. */
async function receiveBody(conn: FramedConnection, upload: Upload, size: number, id: number): Promise<{ claimed: string; actual: string }> {
  const hash = createMd5();
  await conn.readBody(size, (chunk) => {
    hash.update(chunk);
    return upload.write(chunk);
  });
  // The socket may have been paused for disk backpressure: receive() resumes it for the trailer.
  const frame = await conn.receive();
  if (frame === null) throw new ConnectionLostError('connection closed before the md5 trailer');
  const end = parseEndRequest(asRequest(frame), id);
  return { claimed: end.md5, actual: hash.digest('hex') };
}

export const handlePut: ActionHandler = async (conn, frame, context) => {
  const started = performance.now();
  const request = parsePutRequest(frame);
  const record = { peer: conn.peer, action: 'put', filename: request.filename, bytes: 0 };
  const fail = (error: StatusError): void => {
    context.logTransfer({ ...record, ms: performance.now() - started, error: { status: error.status, code: error.code, message: error.message } });
  };
  let upload: Upload;
  try {
    upload = await context.storage.beginUpload({
      filename: request.filename,
      size: request.size,
      overwrite: request.overwrite,
      ...(request.mtime !== undefined ? { mtime: request.mtime } : {}),
    });
  } catch (error) {
    if (error instanceof StatusError) fail(error);
    throw error;
  }
  record.filename = upload.filename;
  conn.send({ type: 'reply', id: request.id, status: STATUS.OK, code: 'ok', message: 'send the body', offset: 0 } satisfies Reply);

  let bodyDone = false;
  try {
    const { claimed, actual } = await receiveBody(conn, upload, request.size, request.id);
    bodyDone = true;
    record.bytes = request.size;
    if (claimed !== actual) {
      throw new StatusError(STATUS.CHECKSUM_MISMATCH, ERROR_CODE.CHECKSUM_MISMATCH,
        `md5 mismatch: received data hashes to ${actual}, client sent ${claimed}; nothing was stored`);
    }
    await upload.commit();
    const receipt = { filename: upload.filename, size: request.size, md5: actual };
    conn.send({ type: 'reply', id: request.id, status: STATUS.OK, code: 'ok', message: 'stored and verified', receipt } satisfies Reply);
    context.logTransfer({ ...record, ms: performance.now() - started, md5: actual });
    return undefined;
  } catch (error) {
    await upload.abort();
    if (!(error instanceof StatusError)) {
      const status = error instanceof ConnectionLostError ? 499 : STATUS.BAD_REQUEST;
      const code = (error as { code?: string }).code ?? 'internal';
      context.logTransfer({ ...record, ms: performance.now() - started, error: { status, code, message: (error as Error).message } });
      throw error;
    }
    fail(error);
    conn.send(errorReply(error, request.id));
    // A refusal mid-body (disk full) leaves unread body bytes on the wire: the connection is done.
    return bodyDone ? undefined : 'close';
  }
};
