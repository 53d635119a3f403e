/**
 * `ftx put` for scripts: many sources (files, trees, or stdin), a check of what the server already
 * has, a decision per file (--if-exists), then small files batched and large ones resumable, one
 * failure never stopping the others (docs/PROTOCOL.md §12). Reports through plain callbacks; knows
 * nothing of terminals. Every request goes through the FtxClient, which retries per its policy.
 */
import { ProducerError, StatusError } from '../../errors.js';
import type { FtxClient } from '../client.js';
import { SMALL_FILE_MAX_BYTES, type SmallFile, type SmallFileResult } from '../put/batches.js';
import type { Decision, JobFile, UploadEvents, UploadJob, UploadSummary } from './job-types.js';
import { asJobFile, decide, isSkippedByPolicy, SKIPPED_EXISTING } from './upload-decisions.js';
import { collectSources, type WalkEntry, type WalkFailure } from './walk.js';

export type { FileResult, IfExists, JobFile, UploadEvents, UploadJob, UploadSummary } from './job-types.js';

/** The counting side of a run: every outcome goes through here into the summary and the events. */
class Tally {
  readonly summary: UploadSummary = { sent: 0, skipped: 0, failed: 0, bytes: 0, seconds: 0 };
  private readonly started = performance.now();

  constructor(readonly job: UploadJob, public events: UploadEvents) {}

  sent(file: JobFile, receipt: Parameters<UploadEvents['sent']>[1], bytes: number): void {
    this.summary.sent++;
    this.summary.bytes += bytes;
    this.events.sent(file, receipt);
  }

  skipped(file: JobFile, reason: string): void {
    this.summary.skipped++;
    this.events.skipped(file, reason);
  }

  fail(file: JobFile, error: unknown): void {
    this.summary.failed++;
    this.summary.firstError ??= error;
    this.events.failed(file, error);
  }

  /** A name taken between our check and our put: what the policy says for an existing name. */
  failOrSkip(file: JobFile, error: unknown): void {
    if (isSkippedByPolicy(this.job, error)) this.skipped(file, SKIPPED_EXISTING);
    else this.fail(file, error);
  }

  /** Counts what a dry run would do, for the summary line. */
  countDryRun(): void {
    const dry = { send: 0, fail: 0 };
    this.summary.dryRun = dry;
    const wouldSend = this.events.wouldSend;
    this.events = { ...this.events, wouldSend: (file, how) => { if (how.startsWith('fail')) dry.fail++; else dry.send++; wouldSend(file, how); } };
  }

  finish(): UploadSummary {
    return { ...this.summary, seconds: (performance.now() - this.started) / 1000 };
  }
}

/** Runs a job. Fatal failures (connect, auth, protocol, retries exhausted) throw; per-file ones are counted. */
export async function runUpload(client: FtxClient, job: UploadJob, events: UploadEvents): Promise<UploadSummary> {
  const tally = new Tally(job, events);
  if (job.dryRun) tally.countDryRun();
  if (job.stream) await uploadStream(client, job.stream, tally);
  else await uploadTree(client, tally);
  return tally.finish();
}

/** One stream (stdin, a command's output) under its name; not resumed, not retried once begun. */
async function uploadStream(client: FtxClient, stream: NonNullable<UploadJob['stream']>, tally: Tally): Promise<void> {
  const { job, events } = tally;
  const file: JobFile = { name: [job.remoteDir.replace(/^\/+|\/+$/g, ''), stream.name].filter(Boolean).join('/'), localPath: '-', size: null };
  events.planned([file], 0);
  if (job.dryRun) return tally.events.wouldSend(file, `stream from ${stream.from ?? 'stdin'}`);
  events.started(file);
  try {
    const receipt = await client.putStream(stream.input, {
      remoteName: file.name, chunkSize: job.chunkSize, overwrite: job.ifExists === 'overwrite', rename: job.ifExists === 'rename',
      onProgress: (done) => events.progressed(file, done),
      ...(stream.beforeEnd ? { beforeEnd: stream.beforeEnd } : {}),
    });
    tally.sent(file, receipt, receipt.size);
  } catch (error) {
    if (!(error instanceof StatusError) && !(error instanceof ProducerError)) throw error;
    tally.failOrSkip(file, error);
  }
}

/** Files and trees: walk, check, decide, create empty directories, then send. */
async function uploadTree(client: FtxClient, tally: Tally): Promise<void> {
  const { job, events } = tally;
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
    if (job.dryRun) tally.events.wouldSend(file, `fail: ${error.message}`);
    else tally.fail(file, error);
  });
  const decisions = await decide(client, files, job);
  reportDecisions(decisions, tally);
  if (job.dryRun) {
    for (const dir of dirs) tally.events.wouldSend({ name: `${dir.remoteName}/`, localPath: dir.localPath, size: 0 }, 'create directory');
    return;
  }
  await makeEmptyDirectories(client, dirs, tally);
  await sendFiles(client, decisions.filter((d) => d.action === 'send'), tally);
}

/** Skips and failures decided before anything is sent; a dry run reports what it would send. */
function reportDecisions(decisions: Decision[], tally: Tally): void {
  for (const d of decisions) {
    const file = asJobFile(d.entry);
    if (d.action === 'skip') tally.skipped(file, d.reason!);
    else if (d.action === 'fail' && !tally.job.dryRun) tally.fail(file, d.error);
    else if (d.action === 'fail') {
      tally.summary.firstError ??= d.error; // the dry run exits as the real run would
      tally.events.wouldSend(file, `fail: ${d.error!.message}`);
    } else if (tally.job.dryRun) {
      tally.events.wouldSend(file, d.overwrite ? 'overwrite' : d.rename ? 'send under a new name' : 'send');
    }
  }
}

/** Directories with no file below them, where the server offers `mkdir`. */
async function makeEmptyDirectories(client: FtxClient, dirs: WalkEntry[], tally: Tally): Promise<void> {
  if (dirs.length === 0 || !(await client.supports('mkdir'))) return;
  for (const dir of dirs) {
    await client.mkdir(dir.remoteName).catch((error: unknown) => {
      if (!(error instanceof StatusError)) throw error;
      tally.fail({ name: `${dir.remoteName}/`, localPath: dir.localPath, size: 0 }, error);
    });
  }
}

/** Failures that concern one file only (the run goes on). */
function isPerFile(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'local_io' || code === 'verification_failed';
}

/** Small files in batches where the server takes them (every v1 server does), the others one at a time, resumable. */
async function sendFiles(client: FtxClient, toSend: Decision[], tally: Tally): Promise<void> {
  const { job, events } = tally;
  const batches = toSend.length > 0 && (await client.supports('putmany'));
  const small = (d: Decision): boolean => batches && d.entry.size <= SMALL_FILE_MAX_BYTES;
  await sendSmall(client, toSend.filter(small), tally);
  for (const d of toSend.filter((x) => !small(x))) {
    const file = asJobFile(d.entry);
    events.started(file);
    try {
      const receipt = await client.put(d.entry.localPath, {
        remoteName: d.entry.remoteName, overwrite: d.overwrite, rename: d.rename, chunkSize: job.chunkSize, resume: job.resume,
        mode: d.entry.mode, onProgress: (done) => events.progressed(file, done),
      });
      tally.sent(file, receipt, receipt.bytesSent);
    } catch (error) {
      if (!(error instanceof StatusError) && !isPerFile(error)) throw error;
      tally.failOrSkip(file, error);
    }
  }
}

/** The small files as putmany batches; the client re-sends those a broken connection cut off. */
async function sendSmall(client: FtxClient, decisions: Decision[], tally: Tally): Promise<void> {
  if (decisions.length === 0) return;
  const byPath = new Map(decisions.map((d) => [d.entry.localPath, d]));
  const files: SmallFile[] = decisions.map((d) => ({
    localPath: d.entry.localPath, remoteName: d.entry.remoteName, mtime: d.entry.mtime, mode: d.entry.mode,
    overwrite: d.overwrite, rename: d.rename,
  }));
  await client.putMany(files, {
    onResult: (result: SmallFileResult) => {
      const file = asJobFile(byPath.get(result.file.localPath)!.entry);
      if (result.receipt) tally.sent(file, result.receipt, result.receipt.size);
      else tally.failOrSkip(file, result.error);
    },
    onSent: (sent, bytes) => {
      const file = asJobFile(byPath.get(sent.localPath)!.entry);
      tally.events.started(file);
      tally.events.progressed(file, bytes);
    },
  });
}
