/**
 * Many small files as `putmany` batches (docs/PROTOCOL.md §6.10, §12 step 5): each file is read
 * whole and hashed, up to MAX_BATCH_FILES of them (and MAX_BATCH_BYTES of bodies, MAX_BATCH_NAME_BYTES
 * of names) go as one request with their bodies right behind it, a few batches are unanswered at
 * once, and each batch's reply gives every file's verdict.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { md5Hex } from '../../checksum.js';
import { LocalFileError, StatusError, VerificationError } from '../../errors.js';
import { MAX_BATCH_BYTES, MAX_BATCH_FILE_BYTES, MAX_BATCH_FILES, MAX_BATCH_NAME_BYTES, STATUS } from '../../protocol/constants.js';
import { parsePutManyReply, type BatchFile, type PutManyReply, type PutManyRequest } from '../../protocol/messages.js';
import type { ClientConnection } from '../connection.js';
import { isRetryable } from '../retry.js';
import type { PutReceipt } from './file.js';

/** Largest file sent in a batch (the protocol's limit); bigger ones go as resumable puts. */
export const SMALL_FILE_MAX_BYTES = MAX_BATCH_FILE_BYTES;
/** Most batches sent and not yet answered (the server lands one while it reads the next). */
const WINDOW_BATCHES = 4;
/** Most body bytes of those (a batch holds up to 8 MiB). */
const WINDOW_BYTES = 16 * 1024 * 1024;

/** One small file to send. */
export interface SmallFile {
  localPath: string;
  remoteName: string;
  mtime: number;
  mode?: number;
  overwrite: boolean;
  rename: boolean;
}

/** The outcome of one small file: its receipt, or why it failed. */
export interface SmallFileResult {
  file: SmallFile;
  receipt?: PutReceipt;
  error?: unknown;
}

/** Who hears about the files of putMany. */
export interface SmallFileHandlers {
  /** Each file's final outcome, in the order the verdicts arrive. */
  onResult: (result: SmallFileResult) => void;
  /** A file's bytes went to the socket. */
  onSent?: (file: SmallFile, bytes: number) => void;
}

/** Files a broken connection cut off (no verdict, or refused busy by what it still held), and why. */
export interface CutOff {
  files: SmallFile[];
  error: unknown;
}

interface Pending {
  file: SmallFile;
  data: Buffer;
  entry: BatchFile;
}

/** A small file's bytes, read at once: a synchronous read costs microseconds, far less than a promise round trip. */
function readSmallFile(file: SmallFile): Buffer | LocalFileError {
  try {
    return readFileSync(file.localPath);
  } catch (error) {
    return new LocalFileError(`cannot read ${file.localPath}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/** A failure that concerns the connection, not the file: the file is sent again on a new one. */
function isCutOff(error: unknown): boolean {
  return (isRetryable(error) && !(error instanceof StatusError)) || (error instanceof StatusError && error.status === STATUS.BUSY);
}

/** Sends `files` in batches; reports each final outcome; resolves with the files cut off. */
export async function putBatches(link: ClientConnection, files: SmallFile[], handlers: SmallFileHandlers): Promise<CutOff> {
  const cut: CutOff = { files: [], error: undefined };
  const report = (result: SmallFileResult): void => {
    if (result.error === undefined || !isCutOff(result.error)) return handlers.onResult(result);
    cut.files.push(result.file);
    cut.error = result.error;
  };
  const window = new BatchWindow(link, report, handlers.onSent);
  let batch: Pending[] = [];
  let bytes = 0;
  let nameBytes = 0;
  for (const file of files) {
    const data = readSmallFile(file);
    if (data instanceof LocalFileError) {
      handlers.onResult({ file, error: data });
      continue;
    }
    const names = Buffer.byteLength(file.remoteName, 'utf8');
    if (batch.length >= MAX_BATCH_FILES || bytes + data.length > MAX_BATCH_BYTES || nameBytes + names > MAX_BATCH_NAME_BYTES) {
      await window.send(batch, bytes);
      [batch, bytes, nameBytes] = [[], 0, 0];
    }
    const entry: BatchFile = {
      filename: file.remoteName, size: data.length, md5: md5Hex(data),
      overwrite: file.overwrite, rename: file.rename, mtime: file.mtime,
      ...(file.mode !== undefined ? { mode: file.mode } : {}),
    };
    batch.push({ file, data, entry });
    bytes += data.length;
    nameBytes += names;
  }
  await window.send(batch, bytes);
  await window.settled();
  return cut;
}

/** The batches sent and not yet answered: at most WINDOW_BATCHES of them and WINDOW_BYTES of bodies. */
class BatchWindow {
  private readonly outstanding = new Set<Promise<void>>();
  private unansweredBytes = 0;

  constructor(
    private readonly link: ClientConnection,
    private readonly report: (result: SmallFileResult) => void,
    private readonly onSent: SmallFileHandlers['onSent'],
  ) {}

  /** Sends one batch once the window has room for it (a batch alone always fits). */
  async send(batch: Pending[], bytes: number): Promise<void> {
    if (batch.length === 0) return;
    while (this.outstanding.size >= WINDOW_BATCHES || (this.outstanding.size > 0 && this.unansweredBytes + bytes > WINDOW_BYTES)) {
      await Promise.race(this.outstanding);
    }
    this.unansweredBytes += bytes;
    const id = this.link.nextId();
    const started = performance.now();
    const reply = this.link.expect(id, parsePutManyReply);
    // Request and bodies leave together: send() corks the socket until the next tick.
    this.link.send({ action: 'putmany', id, files: batch.map((p) => p.entry) } satisfies PutManyRequest);
    for (const p of batch) {
      if (p.data.length > 0) this.link.sendRaw(p.data);
      this.onSent?.(p.file, p.data.length);
    }
    // Every outcome, rejections included, ends in report(): nothing is left unhandled.
    const settled = reply.then(
      (answer) => reportBatch(batch, answer, (performance.now() - started) / 1000, this.report),
      (error: unknown) => { for (const p of batch) this.report({ file: p.file, error }); },
    ).finally(() => {
      this.unansweredBytes -= bytes;
      this.outstanding.delete(settled);
    });
    this.outstanding.add(settled);
  }

  /** Resolves once every batch sent has been answered or failed. */
  async settled(): Promise<void> {
    await Promise.all(this.outstanding);
  }
}

/** Turns a batch's reply into one result per file; a reply with the wrong number of verdicts verifies none. */
function reportBatch(sent: Pending[], reply: PutManyReply, seconds: number, report: (result: SmallFileResult) => void): void {
  if (reply.files.length !== sent.length) {
    const error = new VerificationError(`the server answered ${reply.files.length} verdicts for ${sent.length} files`);
    for (const p of sent) report({ file: p.file, error });
    return;
  }
  sent.forEach(({ file, data, entry }, i) => {
    const verdict = reply.files[i]!;
    if (verdict.status !== STATUS.OK) {
      report({ file, error: new StatusError(verdict.status, verdict.code, verdict.message ?? verdict.code) });
    } else if (verdict.md5 !== entry.md5) {
      report({ file, error: new VerificationError(`server reports md5 ${verdict.md5 ?? 'none'}, local file is ${entry.md5}`) });
    } else {
      const receipt = { localPath: file.localPath, filename: verdict.filename ?? entry.filename, size: data.length, md5: entry.md5, seconds, resumedFrom: 0, bytesSent: data.length };
      report({ file, receipt });
    }
  });
}
