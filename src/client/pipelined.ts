/**
 * Many small files on one connection without a round trip each (docs/PROTOCOL.md, "Pipelining"):
 * each put goes out with `wait: false`, its body and trailer right behind it; up to a window of
 * puts are unanswered at once; verdicts come back by id as the files land.
 */
import { readFileSync } from 'node:fs';
import { createMd5 } from '../checksum.js';
import { LocalFileError, VerificationError } from '../errors.js';
import { DEFAULT_CHUNK_SIZE, STATUS } from '../protocol/constants.js';
import type { PutRequest } from '../protocol/messages.js';
import { replyError, type ClientConnection } from './connection.js';

/** Largest file sent pipelined; bigger ones go classic (resumable). */
export const PIPELINE_MAX_FILE_BYTES = 1024 * 1024;
/** Most unanswered pipelined puts. */
const WINDOW_FILES = 128;
/** Most unanswered pipelined bytes. */
const WINDOW_BYTES = 16 * 1024 * 1024;

/** One small file to send. */
export interface PipelinedFile {
  localPath: string;
  remoteName: string;
  mtime: number;
  mode?: number;
  overwrite: boolean;
  rename: boolean;
}

/** The outcome of one pipelined put. */
export interface PipelinedResult {
  file: PipelinedFile;
  filename?: string;
  size?: number;
  md5?: string;
  seconds?: number;
  error?: unknown;
}

/** A small file's bytes, read at once: a synchronous read costs microseconds, far less than a promise round trip. */
export function readSmallFile(file: PipelinedFile): Buffer | LocalFileError {
  try {
    return readFileSync(file.localPath);
  } catch (error) {
    return new LocalFileError(`cannot read ${file.localPath}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/** Sends `files` pipelined; calls `onResult` for each as its verdict arrives (in any order). */
export async function putPipelined(
  link: ClientConnection,
  files: PipelinedFile[],
  onResult: (result: PipelinedResult) => void,
  onSent?: (file: PipelinedFile, bytes: number) => void,
  chunkSize = DEFAULT_CHUNK_SIZE,
): Promise<void> {
  const outstanding = new Set<Promise<void>>();
  let slotFreed: (() => void) | undefined;
  let unansweredBytes = 0;
  for (let i = 0; i < files.length; i++) {
    const file = files[i]!;
    const data = readSmallFile(file);
    if (data instanceof LocalFileError) {
      onResult({ file, error: data });
      continue;
    }
    while (outstanding.size >= WINDOW_FILES || (outstanding.size > 0 && unansweredBytes + data.length > WINDOW_BYTES)) {
      await new Promise<void>((resolve) => (slotFreed = resolve));
    }
    const md5 = createMd5().update(data).digest('hex');
    const id = link.nextId();
    const started = performance.now();
    const request: PutRequest = {
      action: 'put', id, filename: file.remoteName, size: data.length, chunkSize, stream: false, wait: false,
      overwrite: file.overwrite, rename: file.rename, mtime: file.mtime, resume: false, source: null,
      ...(file.mode !== undefined ? { mode: file.mode } : {}),
    };
    const verdict = link.expect(id);
    // Header, body and trailer leave together: send() corks the socket until the next tick.
    link.conn.send(request);
    if (data.length > 0) link.conn.sendRaw(data);
    link.conn.send({ action: 'end', id, md5 });
    onSent?.(file, data.length);
    unansweredBytes += data.length;
    const settled = verdict.then(
      (reply) => {
        if (reply.status !== STATUS.OK) return onResult({ file, error: replyError(reply) });
        if (!reply.receipt || reply.receipt.md5 !== md5) {
          return onResult({ file, error: new VerificationError(`server reports md5 ${reply.receipt?.md5 ?? 'none'}, local file is ${md5}`) });
        }
        onResult({ file, filename: reply.receipt.filename, size: data.length, md5, seconds: (performance.now() - started) / 1000 });
      },
      (error: unknown) => onResult({ file, error }),
    ).finally(() => {
      unansweredBytes -= data.length;
      outstanding.delete(settled);
      slotFreed?.();
      slotFreed = undefined;
    });
    outstanding.add(settled);
  }
  await Promise.all(outstanding);
}
