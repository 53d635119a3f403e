/**
 * The `putmany` action (docs/PROTOCOL.md §6.10): many small files in one request, their bodies right
 * behind it. Each file is checked, md5-verified and landed on its own (a refusal concerns that file
 * only); the one reply lists every file's verdict, in order. A batch lands in
 * the background while the session reads the next request.
 */
import { performance } from 'node:perf_hooks';
import { ConnectionLostError, StatusError } from '../../errors.js';
import { DEFAULT_CHUNK_SIZE, ERROR_CODE, MAX_BATCH_MESSAGE_CHARS, STATUS } from '../../protocol/constants.js';
import { parsePutManyRequest, type BatchFile, type BatchVerdict, type PutManyReply } from '../../protocol/messages.js';
import type { FramedConnection } from '../../transport/framed-connection.js';
import type { ActionHandler, ServerContext } from '../context.js';
import type { Upload } from '../storage/storage.js';
import { withKeepAlive } from './keep-alive.js';

const refusalOf = (error: unknown): StatusError =>
  error instanceof StatusError ? error : new StatusError(STATUS.INTERNAL, ERROR_CODE.INTERNAL, String(error));

function refused(error: StatusError): BatchVerdict {
  const message = error.message.length > MAX_BATCH_MESSAGE_CHARS ? `${error.message.slice(0, MAX_BATCH_MESSAGE_CHARS - 1)}…` : error.message;
  return { status: error.status, code: error.code, message };
}

/** Opens an upload for each file; a file refused before its body gets its refusal instead. */
async function beginAll(conn: FramedConnection, files: BatchFile[], context: ServerContext): Promise<(Upload | StatusError)[]> {
  const uploads: (Upload | StatusError)[] = [];
  try {
    for (const file of files) {
      // Gone already: hold no more names (the client's retry on a new connection will want them).
      if (conn.gone) throw new ConnectionLostError('connection closed while the batch was opened');
      const begun = await context.uploads.begin({
        filename: file.filename, size: file.size, overwrite: file.overwrite, rename: file.rename, chunkSize: DEFAULT_CHUNK_SIZE,
        resume: false, keepPartial: false, source: null,
        ...(file.mode !== undefined ? { mode: file.mode } : {}),
        ...(file.mtime !== undefined ? { mtime: file.mtime } : {}),
      }).catch((error: unknown) => {
        if (error instanceof StatusError) return error;
        throw error;
      });
      if (begun instanceof StatusError) uploads.push(begun);
      else if ('upload' in begun) uploads.push(begun.upload);
      else throw new Error('an already landed answer exists only for resumable puts');
    }
    return uploads;
  } catch (error) {
    await discardAll(uploads);
    throw error;
  }
}

async function discardAll(uploads: (Upload | StatusError)[]): Promise<void> {
  await Promise.all(uploads.map((upload) => (upload instanceof StatusError ? undefined : upload.discard())));
}

export const handlePutMany: ActionHandler = async (conn, frame, context) => {
  const started = performance.now();
  const request = parsePutManyRequest(frame);
  const { files } = request;
  // The bodies stay in memory until they land: wait for room in the server's budget first.
  const total = files.reduce((sum, file) => sum + file.size, 0);
  const release = await context.bodyBudget.reserve(total);
  let uploads: (Upload | StatusError)[];
  try {
    uploads = await beginAll(conn, files, context);
  } catch (error) {
    release();
    throw error;
  }

  // The bodies, back to back: each byte goes to its file's upload (or nowhere, for a refused file).
  // A write that asks to wait is waited for (no promise is dropped); its failure refuses that file.
  const failed = new Map<number, unknown>();
  let index = 0;
  let left = files[0]!.size;
  try {
    await conn.readBody(total, (chunk) => {
      const waits: Promise<void>[] = [];
      for (let at = 0; at < chunk.length;) {
        while (left === 0) left = files[++index]!.size;
        const n = Math.min(left, chunk.length - at);
        const upload = uploads[index]!;
        const i = index;
        const wait = upload instanceof StatusError || failed.has(i) ? undefined : upload.write(chunk.subarray(at, at + n));
        if (wait) waits.push(wait.catch((error: unknown) => void failed.set(i, error)));
        at += n;
        left -= n;
      }
      return waits.length > 0 ? Promise.all(waits).then(() => undefined) : undefined;
    });
    // Read from what was buffered before the connection went away: the client never learns the
    // verdicts and will ask again, so landing now would race with that.
    if (conn.gone) throw new ConnectionLostError('connection closed before the verdicts could be sent');
  } catch (error) {
    await discardAll(uploads);
    release();
    throw error;
  }

  const log = (file: BatchFile, verdict: BatchVerdict): void => context.logTransfer({
    peer: conn.peer, action: 'putmany', filename: verdict.filename ?? file.filename, bytes: file.size,
    ms: performance.now() - started,
    ...(verdict.status === STATUS.OK
      ? { md5: verdict.md5! }
      : { error: { status: verdict.status, code: verdict.code, message: verdict.message ?? verdict.code } }),
  });
  const land = async (): Promise<void> => {
    const verdicts = await withKeepAlive(conn, request.id, 'landing', () => Promise.all(uploads.map(async (upload, i) => {
      if (upload instanceof StatusError) return refused(upload);
      const file = files[i]!;
      if (failed.has(i)) {
        await upload.discard();
        return refused(refusalOf(failed.get(i)));
      }
      try {
        const receipt = await upload.commit(file.md5);
        return { status: STATUS.OK, code: 'ok', md5: receipt.md5, ...(receipt.filename !== file.filename ? { filename: receipt.filename } : {}) };
      } catch (error) {
        return refused(refusalOf(error));
      }
    })));
    verdicts.forEach((verdict, i) => log(files[i]!, verdict));
    const stored = verdicts.filter((v) => v.status === STATUS.OK).length;
    conn.send({
      type: 'reply', id: request.id, status: STATUS.OK, code: 'ok',
      message: `${stored} stored and verified, ${verdicts.length - stored} refused`, files: verdicts,
    } satisfies PutManyReply);
  };
  return { background: land().finally(release), bytes: total };
};
