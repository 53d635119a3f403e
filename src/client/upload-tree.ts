/**
 * `ftx put` for scripts: many sources (files, trees, or stdin), a check of what the server already
 * has, a decision per file (--if-exists), then small files batched and large ones resumable, one
 * failure never stopping the others. Reports through plain callbacks; knows nothing of terminals.
 */
import { ProducerError, ProtocolError, StatusError } from '../errors.js';
import { STATUS } from '../protocol/constants.js';
import type { PutReceipt } from './client.js';
import { putBatched, SMALL_FILE_MAX_BYTES, type SmallFile, type SmallFileResult } from './batched.js';
import {
  backoffDelay, isRetryable, putWithRetry, ReconnectingClient, withRetries, type RetryNotice,
} from './put-with-retry.js';
import { makeRemoteDirectory } from './requests.js';
import { putStream } from './stream-put.js';
import type { Decision, JobFile, UploadEvents, UploadJob, UploadSummary } from './job-types.js';
import { md5File } from '../checksum.js';
import { asJobFile, decide, IDENTICAL, isSkippedByPolicy, SKIPPED_EXISTING } from './upload-decisions.js';
import { collectSources, type WalkFailure } from './walk.js';

export type { FileResult, IfExists, JobFile, UploadEvents, UploadJob, UploadSummary } from './job-types.js';

/** Runs a job. Fatal failures (connect, auth, protocol, retries exhausted) throw; per-file ones are counted. */
export async function runUpload(session: ReconnectingClient, job: UploadJob, events: UploadEvents, onRetry: (notice: RetryNotice) => void): Promise<UploadSummary> {
  const started = performance.now();
  const summary: UploadSummary = { sent: 0, skipped: 0, failed: 0, bytes: 0, seconds: 0 };
  const fail = (file: JobFile, error: unknown): void => {
    summary.failed++;
    summary.firstError ??= error;
    events.failed(file, error);
  };
  // A name taken between our check and our put: what the policy says for an existing name.
  const failOrSkip = (file: JobFile, error: unknown): void => {
    if (!isSkippedByPolicy(job, error)) return fail(file, error);
    summary.skipped++;
    events.skipped(file, SKIPPED_EXISTING);
  };
  const finish = (): UploadSummary => ({ ...summary, seconds: (performance.now() - started) / 1000 });
  if (job.dryRun) {
    // Count what a real run would do, for the summary line.
    const dry = { send: 0, fail: 0 };
    summary.dryRun = dry;
    const wouldSend = events.wouldSend;
    events = { ...events, wouldSend: (file, how) => { if (how.startsWith('fail')) dry.fail++; else dry.send++; wouldSend(file, how); } };
  }

  if (job.stream) {
    const file: JobFile = { name: [job.remoteDir.replace(/^\/+|\/+$/g, ''), job.stream.name].filter(Boolean).join('/'), localPath: '-', size: null };
    events.planned([file], 0);
    if (job.dryRun) {
      events.wouldSend(file, `stream from ${job.stream.from ?? 'stdin'}`);
      return finish();
    }
    const link = (await withRetries(job.retry, onRetry, () => session.get())).connection;
    if (!link.supports('stream')) throw new ProtocolError('this server does not accept streams of unknown length (no "stream" feature)');
    events.started(file);
    try {
      const receipt = await putStream(link, job.stream.input, {
        remoteName: file.name, chunkSize: job.chunkSize, overwrite: job.ifExists === 'overwrite', rename: job.ifExists === 'rename',
        onProgress: (done) => events.progressed(file, done),
        beforeEnd: job.stream.beforeEnd,
      });
      summary.sent++;
      summary.bytes += receipt.size;
      events.sent(file, { ...receipt, resumedFrom: 0 });
    } catch (error) {
      if (!(error instanceof StatusError) && !(error instanceof ProducerError)) throw error;
      if (error instanceof ProducerError) session.drop(); // the upload was abandoned with its connection
      failOrSkip(file, error);
    }
    return finish();
  }

  const unreadable: WalkFailure[] = [];
  const entries = await collectSources(job.sources, {
    remoteDir: job.remoteDir, exclude: job.exclude, followSymlinks: job.followSymlinks, onWarning: events.note, onFailed: (f) => unreadable.push(f),
  });
  const files = entries.filter((e) => e.kind === 'file');
  const dirs = entries.filter((e) => e.kind === 'dir' && !entries.some((f) => f.kind === 'file' && f.remoteName.startsWith(`${e.remoteName}/`)));
  const unreadableFiles = unreadable.map((f): JobFile => ({ name: f.remoteName, localPath: f.localPath, size: 0 }));
  events.planned([...files.map(asJobFile), ...unreadableFiles], files.reduce((sum, f) => sum + f.size, 0));
  // What the walk could not read is a failed entry each (exit 10 when others made it), not a hole.
  unreadableFiles.forEach((file, i) => {
    const { error } = unreadable[i]!;
    if (job.dryRun) events.wouldSend(file, `fail: ${error.message}`);
    else fail(file, error);
  });
  const decisions = await withRetries(job.retry, onRetry, () => decide(session, files, job).catch((error: unknown) => {
    if (isRetryable(error)) session.drop();
    throw error;
  }));

  for (const d of decisions) {
    const file = asJobFile(d.entry);
    if (d.action === 'skip') {
      summary.skipped++;
      events.skipped(file, d.reason!);
    } else if (d.action === 'fail') {
      if (!job.dryRun) fail(file, d.error);
      else {
        summary.firstError ??= d.error; // the dry run exits as the real run would
        events.wouldSend(file, `fail: ${d.error!.message}`);
      }
    } else if (job.dryRun) {
      events.wouldSend(file, d.overwrite ? 'overwrite' : d.rename ? 'send under a new name' : 'send');
    }
  }
  if (job.dryRun) {
    for (const dir of dirs) events.wouldSend({ name: `${dir.remoteName}/`, localPath: dir.localPath, size: 0 }, 'create directory');
    return finish();
  }

  const canMkdir = dirs.length > 0 && (await withRetries(job.retry, onRetry, () => session.get())).connection.supports('mkdir');
  for (const dir of canMkdir ? dirs : []) {
    await withRetries(job.retry, onRetry, async () => makeRemoteDirectory((await session.get()).connection, dir.remoteName).catch((error: unknown) => {
      if (isRetryable(error)) session.drop();
      throw error;
    })).catch((error: unknown) => {
      if (!(error instanceof StatusError)) throw error;
      fail({ name: `${dir.remoteName}/`, localPath: dir.localPath, size: 0 }, error);
    });
  }

  const toSend = decisions.filter((d) => d.action === 'send');
  // Small files in batches where the server takes them (every v1 server does); else classic puts.
  const batches = (await withRetries(job.retry, onRetry, () => session.get())).connection.supports('putmany');
  const small = (d: Decision): boolean => batches && d.entry.size <= SMALL_FILE_MAX_BYTES;
  await sendSmall(session, toSend.filter(small), job, events, summary, failOrSkip, onRetry);
  for (const d of toSend.filter((x) => !small(x))) {
    const file = asJobFile(d.entry);
    events.started(file);
    try {
      const receipt: PutReceipt = await putWithRetry(session, d.entry.localPath, {
        remoteName: d.entry.remoteName, overwrite: d.overwrite, rename: d.rename, chunkSize: job.chunkSize, resume: job.resume,
        mode: d.entry.mode, onProgress: (done) => events.progressed(file, done),
      }, job.retry, onRetry);
      summary.sent++;
      summary.bytes += receipt.bytesSent;
      events.sent(file, receipt);
    } catch (error) {
      if (!(error instanceof StatusError) && !isPerFile(error)) throw error;
      failOrSkip(file, error);
    }
  }
  return finish();
}

/** 423: the name is being uploaded right now; worth asking again after a delay. */
function isBusy(error: unknown): boolean {
  return error instanceof StatusError && error.status === STATUS.BUSY;
}

/** Failures that concern one file only (the run goes on). */
function isPerFile(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'local_io' || code === 'verification_failed';
}

/** Batches the small files; those cut off by a broken connection are sent again after a reconnect. */
async function sendSmall(
  session: ReconnectingClient, decisions: Decision[], job: UploadJob, events: UploadEvents, summary: UploadSummary,
  fail: (file: JobFile, error: unknown) => void, onRetry: (notice: RetryNotice) => void,
): Promise<void> {
  let pending = decisions;
  for (let attempt = 0; pending.length > 0; attempt++) {
    const byPath = new Map(pending.map((d) => [d.entry.localPath, d]));
    const cutOff: Decision[] = [];
    let lastError: unknown;
    const link = (await withRetries(job.retry, onRetry, () => session.get())).connection;
    const files: SmallFile[] = pending.map((d) => ({
      localPath: d.entry.localPath, remoteName: d.entry.remoteName, mtime: d.entry.mtime, mode: d.entry.mode,
      overwrite: d.overwrite, rename: d.rename,
    }));
    const onResult = (result: SmallFileResult): void => {
      const d = byPath.get(result.file.localPath)!;
      const file = asJobFile(d.entry);
      if (result.error === undefined) {
        summary.sent++;
        summary.bytes += result.size!;
        events.sent(file, { filename: result.filename!, size: result.size!, md5: result.md5!, seconds: result.seconds!, resumedFrom: 0 });
      } else if ((isRetryable(result.error) && !(result.error instanceof StatusError)) || isBusy(result.error)) {
        // Cut off, or held by an upload that is going away (our own, on the connection that broke).
        cutOff.push(d);
        lastError = result.error;
      } else {
        fail(file, result.error);
      }
    };
    const onSent = (file: SmallFile, bytes: number): void => {
      const d = byPath.get(file.localPath)!;
      events.started(asJobFile(d.entry));
      events.progressed(asJobFile(d.entry), bytes);
    };
    await putBatched(link, files, onResult, onSent);
    if (cutOff.length === 0) return;
    session.drop();
    if (attempt >= job.retry.retries) throw lastError;
    const delayMs = backoffDelay(job.retry, attempt + 1);
    onRetry({ attempt: attempt + 1, of: job.retry.retries, delayMs, reason: `${cutOff.length} file(s) cut off: ${(lastError as Error).message}` });
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    pending = await recheck(session, cutOff, job, events, summary, fail, onRetry);
  }
}

/**
 * Files cut off may have landed anyway (their trailer arrived before the break). Ask again, by md5:
 * "identical" means the server recorded exactly our content at landing, so the file is sent and
 * verified; the others go through the --if-exists decision once more.
 */
async function recheck(
  session: ReconnectingClient, cutOff: Decision[], job: UploadJob, events: UploadEvents, summary: UploadSummary,
  fail: (file: JobFile, error: unknown) => void, onRetry: (notice: RetryNotice) => void,
): Promise<Decision[]> {
  const entries = cutOff.map((d) => d.entry);
  const again = await withRetries(job.retry, onRetry, () => decide(session, entries, { ...job, checksum: true }).catch((error: unknown) => {
    if (isRetryable(error)) session.drop();
    throw error;
  }));
  const next: Decision[] = [];
  for (const d of again) {
    const file = asJobFile(d.entry);
    if (d.action === 'skip' && d.reason === IDENTICAL) {
      summary.sent++;
      summary.bytes += d.entry.size;
      events.sent(file, { filename: d.entry.remoteName, size: d.entry.size, md5: await md5File(d.entry.localPath, d.entry.size), seconds: 0, resumedFrom: 0 });
    } else if (d.action === 'send') {
      next.push(d);
    } else if (d.action === 'fail') {
      fail(file, d.error);
    } else {
      summary.skipped++;
      events.skipped(file, d.reason!);
    }
  }
  return next;
}
