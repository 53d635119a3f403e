/**
 * Many small files as `putmany` batches (docs/PROTOCOL.md §6.10): each file is read whole and
 * hashed, up to MAX_BATCH_FILES of them (and MAX_BATCH_BYTES of bodies, MAX_BATCH_NAME_BYTES of
 * names) go as one request with their bodies right behind it, a few batches are unanswered at once,
 * and each batch's reply gives every file's verdict.
 */
import { readFileSync } from 'node:fs';
import { createMd5 } from '../checksum.js';
import { LocalFileError, StatusError, VerificationError } from '../errors.js';
import { MAX_BATCH_BYTES, MAX_BATCH_FILE_BYTES, MAX_BATCH_FILES, MAX_BATCH_NAME_BYTES, STATUS } from '../protocol/constants.js';
import type { BatchFile, PutManyRequest, Reply } from '../protocol/messages.js';
import { replyError, type ClientConnection } from './connection.js';

/** Largest file sent in a batch; bigger ones go as classic (resumable) puts. */
export const SMALL_FILE_MAX_BYTES = MAX_BATCH_FILE_BYTES;

/** One small file to send. */
export interface SmallFile {
  localPath: string;
  remoteName: string;
  mtime: number;
  mode?: number;
  overwrite: boolean;
  rename: boolean;
}

/** The outcome of one small file. */
export interface SmallFileResult {
  file: SmallFile;
  filename?: string;
  size?: number;
  md5?: string;
  seconds?: number;
  error?: unknown;
}

/** A small file's bytes, read at once: a synchronous read costs microseconds, far less than a promise round trip. */
function readSmallFile(file: SmallFile): Buffer | LocalFileError {
  try {
    return readFileSync(file.localPath);
  } catch (error) {
    return new LocalFileError(`cannot read ${file.localPath}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/** Most batches sent and not yet answered (the server lands one while it reads the next). */
const WINDOW_BATCHES = 4;
/** Most body bytes of those (a batch of large small files holds up to 8 MiB). */
const WINDOW_BYTES = 16 * 1024 * 1024;

interface Pending {
  file: SmallFile;
  data: Buffer;
  entry: BatchFile;
}

/** Sends `files` in batches; calls `onResult` for each file as its batch's reply arrives. */
export async function putBatched(
  link: ClientConnection,
  files: SmallFile[],
  onResult: (result: SmallFileResult) => void,
  onSent?: (file: SmallFile, bytes: number) => void,
): Promise<void> {
  const outstanding = new Set<Promise<void>>();
  let batch: Pending[] = [];
  let bytes = 0;
  let nameBytes = 0;
  let unansweredBytes = 0;

  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const sending = batch;
    const sendingBytes = bytes;
    batch = [];
    bytes = 0;
    nameBytes = 0;
    while (outstanding.size >= WINDOW_BATCHES || (outstanding.size > 0 && unansweredBytes + sendingBytes > WINDOW_BYTES)) {
      await Promise.race(outstanding);
    }
    unansweredBytes += sendingBytes;
    const id = link.nextId();
    const started = performance.now();
    const reply = link.expect(id);
    // Request and bodies leave together: send() corks the socket until the next tick.
    link.conn.send({ action: 'putmany', id, files: sending.map((p) => p.entry) } satisfies PutManyRequest);
    for (const p of sending) {
      if (p.data.length > 0) link.conn.sendRaw(p.data);
      onSent?.(p.file, p.data.length);
    }
    const settled = reply.then(
      (answer) => report(sending, answer, (performance.now() - started) / 1000, onResult),
      (error: unknown) => { for (const p of sending) onResult({ file: p.file, error }); },
    ).finally(() => {
      unansweredBytes -= sendingBytes;
      outstanding.delete(settled);
    });
    outstanding.add(settled);
  };

  for (const file of files) {
    const data = readSmallFile(file);
    if (data instanceof LocalFileError) {
      onResult({ file, error: data });
      continue;
    }
    const names = Buffer.byteLength(file.remoteName, 'utf8');
    if (batch.length >= MAX_BATCH_FILES || bytes + data.length > MAX_BATCH_BYTES || nameBytes + names > MAX_BATCH_NAME_BYTES) await flush();
    const entry: BatchFile = {
      filename: file.remoteName, size: data.length, md5: createMd5().update(data).digest('hex'),
      overwrite: file.overwrite, rename: file.rename, mtime: file.mtime,
      ...(file.mode !== undefined ? { mode: file.mode } : {}),
    };
    batch.push({ file, data, entry });
    bytes += data.length;
    nameBytes += names;
  }
  await flush();
  await Promise.all(outstanding);
}

/** Turns a batch's reply into one result per file. */
function report(sent: Pending[], reply: Reply, seconds: number, onResult: (result: SmallFileResult) => void): void {
  if (reply.status !== STATUS.OK || reply.files?.length !== sent.length) {
    const error = reply.status !== STATUS.OK ? replyError(reply) : new VerificationError(`the server answered ${reply.files?.length ?? 0} verdicts for ${sent.length} files`);
    for (const p of sent) onResult({ file: p.file, error });
    return;
  }
  sent.forEach(({ file, data, entry }, i) => {
    const verdict = reply.files![i]!;
    if (verdict.status !== STATUS.OK) {
      onResult({ file, error: new StatusError(verdict.status, verdict.code, verdict.message ?? verdict.code) });
    } else if (verdict.md5 !== entry.md5) {
      onResult({ file, error: new VerificationError(`server reports md5 ${verdict.md5 ?? 'none'}, local file is ${entry.md5}`) });
    } else {
      onResult({ file, filename: verdict.filename ?? entry.filename, size: data.length, md5: entry.md5, seconds });
    }
  });
}
