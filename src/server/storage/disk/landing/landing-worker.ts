/**
 * The landing worker (started by landing-pool.ts, one module per thread): for each batch of small
 * files, write + fchmod + futimes + fsync + close each temp file, append their md5s and inodes to
 * the digest log in one go, link (or rename) each to its name (place.ts, the rule the main thread
 * uses too), then one fsync per directory. Synchronous calls: one message per batch instead of a
 * thread-pool round trip per call.
 */
import {
  appendFileSync, closeSync, fchmodSync, fstatSync, fsyncSync, futimesSync, openSync, unlinkSync, writeSync,
} from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { placeSync } from './place.js';
import type { WorkerBatch, WorkerJob, WorkerResult } from './landing-pool.js';

/** A new temp file, never an existing inode (a name left by a crash between link and unlink is a landed file). */
function createExclusiveSync(path: string): number {
  try {
    return openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  unlinkSync(path);
  return openSync(path, 'wx', 0o600);
}

/** Writes the temp file completely and durably; returns its inode number. */
function prepare(job: WorkerJob, data: Buffer): string {
  const fd = createExclusiveSync(job.temp);
  try {
    for (let at = 0; at < job.size;) at += writeSync(fd, data, job.start + at, job.size - at, at);
    fchmodSync(fd, job.mode);
    if (job.mtime !== undefined) futimesSync(fd, new Date(), new Date(job.mtime));
    fsyncSync(fd);
    return String(fstatSync(fd, { bigint: true }).ino);
  } finally {
    closeSync(fd);
  }
}

function failed(job: WorkerJob, error: unknown): WorkerResult {
  try {
    unlinkSync(job.temp);
  } catch {
    // never created, or already gone
  }
  const { code, message } = error as NodeJS.ErrnoException;
  return { id: job.id, error: { code: code ?? 'EIO', message: String(message) } };
}

/**
 * Before any link: the md5 of each file with the inode it will land as. After a crash before the
 * verdict, the restarted server knows the file under that name (that inode) is this content.
 */
function recordLandings(batch: WorkerJob[], inodes: (string | undefined)[]): void {
  const byLog = new Map<string, string>();
  batch.forEach((job, i) => {
    const ino = inodes[i];
    if (!job.digest || ino === undefined) return;
    const line = `${JSON.stringify({ f: job.digest.name, size: job.size, mtime: job.mtime, md5: job.digest.md5, ino })}\n`;
    byLog.set(job.digest.log, (byLog.get(job.digest.log) ?? '') + line);
  });
  for (const [log, lines] of byLog) {
    try {
      appendFileSync(log, lines, { mode: 0o600 });
    } catch {
      // the log is a cache: a lost line only means that file is compared by size and mtime
    }
  }
}

/** One fsync per directory and batch makes the new names durable before any verdict is sent. */
function syncDirectories(batch: WorkerJob[], results: WorkerResult[]): void {
  const dirs = new Map<string, string>();
  results.forEach((result, i) => {
    const job = batch[i]!;
    if (!result.error) dirs.set(job.dir, job.final.slice(0, job.final.lastIndexOf('/')) || '/');
  });
  for (const via of dirs.values()) {
    try {
      const fd = openSync(via, 'r');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch {
      // the names are there; only their durability across a crash is not confirmed
    }
  }
}

/** Lands one batch; the results are in the batch's order. */
export function landBatch(batch: WorkerJob[], data: Buffer): WorkerResult[] {
  const prepared = batch.map((job) => {
    try {
      return { ino: prepare(job, data) };
    } catch (error) {
      return { result: failed(job, error) };
    }
  });
  recordLandings(batch, prepared.map((p) => p.ino));
  const results = batch.map((job, i): WorkerResult => {
    const early = prepared[i]!.result;
    if (early) return early;
    try {
      return { id: job.id, n: placeSync(job.temp, job.final, job) };
    } catch (error) {
      return failed(job, error);
    }
  });
  syncDirectories(batch, results);
  return results;
}

parentPort?.on('message', ({ batch, bytes }: WorkerBatch) => {
  const results = landBatch(batch, Buffer.from(bytes));
  // The bytes go back with the verdicts: freed by the main thread's collector, which runs often,
  // instead of piling up in this thread's, which has almost nothing else to collect.
  parentPort!.postMessage({ results, bytes }, [bytes]);
});
