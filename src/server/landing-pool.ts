/**
 * A few worker threads that land small files with synchronous system calls: write, fchmod,
 * futimes, fsync, close, then link (or rename). One message each way per file instead of a thread
 * pool round trip per call: with thousands of small files those round trips were the cost.
 */
import { Worker } from 'node:worker_threads';

/** One small file to land. */
export interface SmallLandingJob {
  temp: string;
  final: string;
  data: Buffer;
  mode: number;
  mtime?: number;
  overwrite: boolean;
  rename: boolean;
}

/** Where it landed: n = 0 under its own name, n > 0 as "stem.n.ext". */
export interface SmallLandingResult {
  n: number;
}

/** Failure of a landing, carrying the errno code. */
export class LandingError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

// Plain CommonJS run with `eval`, so it works from the built files and from the test sources alike.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK']);
function numbered(path, n) {
  const slash = path.lastIndexOf('/') + 1;
  const base = path.slice(slash);
  const dot = base.indexOf('.', 1);
  return path.slice(0, slash) + (dot < 0 ? base + '.' + n : base.slice(0, dot) + '.' + n + base.slice(dot));
}
function exists(path) { try { fs.lstatSync(path); return true; } catch { return false; } }
function landOne(job) {
  const { id, temp, final, data, mode, mtime, overwrite, rename } = job;
  try {
    const fd = fs.openSync(temp, 'w', 0o600);
    try {
      let at = 0;
      while (at < data.length) at += fs.writeSync(fd, data, at, data.length - at, at);
      fs.fchmodSync(fd, mode);
      if (mtime !== undefined) fs.futimesSync(fd, new Date(), new Date(mtime));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (overwrite) {
      fs.renameSync(temp, final);
      return { id, n: 0 };
    }
    for (let n = 0; n <= 1000; n++) {
      const path = n === 0 ? final : numbered(final, n);
      try {
        fs.linkSync(temp, path);
        fs.unlinkSync(temp);
        return { id, n };
      } catch (error) {
        if (error.code === 'EEXIST') { if (rename) continue; throw error; }
        if (!NO_LINKS.has(error.code)) throw error;
        if (exists(path)) { if (rename) continue; const e = new Error('exists'); e.code = 'EEXIST'; throw e; }
        fs.renameSync(temp, path);
        return { id, n };
      }
    }
    const e = new Error('no free numbered name'); e.code = 'EEXIST'; throw e;
  } catch (error) {
    try { fs.unlinkSync(temp); } catch {}
    return { id, error: { code: error.code || 'EIO', message: String(error.message) } };
  }
}
parentPort.on('message', (batch) => {
  parentPort.postMessage(batch.map(landOne));
});
`;

interface Pending {
  resolve: (result: SmallLandingResult) => void;
  reject: (error: LandingError) => void;
}

/** A fixed set of landing workers, started on first use and unref'd (they never keep a process alive). */
export class LandingPool {
  private workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private turn = 0;
  private queue: (SmallLandingJob & { id: number })[] = [];

  constructor(private readonly size = 4) {}

  /**
   * Lands one file; rejects with LandingError (e.g. code EEXIST, ENOSPC). Files asked for in the same
   * tick travel together: one message per worker and batch, not per file (a thread hand-off costs
   * more than the system calls of a small file here).
   */
  land(job: SmallLandingJob): Promise<SmallLandingResult> {
    if (this.workers.length === 0) this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.queue.push({ id, ...job });
      if (this.queue.length === 1) setImmediate(() => this.dispatch());
    });
  }

  private dispatch(): void {
    const jobs = this.queue;
    this.queue = [];
    if (this.workers.length === 0) return;
    const per = Math.ceil(jobs.length / this.workers.length);
    for (let i = 0; i < jobs.length; i += per) {
      const batch = jobs.slice(i, i + per);
      const worker = this.workers[this.turn++ % this.workers.length]!;
      // The data's memory moves to the worker (no copy); callers hand over exact-size buffers.
      const transfer = batch.flatMap((job) =>
        job.data.byteOffset === 0 && job.data.byteLength === job.data.buffer.byteLength ? [job.data.buffer as ArrayBuffer] : []);
      worker.postMessage(batch, transfer);
    }
  }

  /** Stops the workers (after their current jobs have been answered or abandoned). */
  async close(): Promise<void> {
    const workers = this.workers;
    this.workers = [];
    await Promise.all(workers.map((w) => w.terminate()));
    for (const p of this.pending.values()) p.reject(new LandingError('ECANCELED', 'server shutting down'));
    this.pending.clear();
  }

  private start(): void {
    for (let i = 0; i < this.size; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.unref();
      worker.on('message', (results: { id: number; n?: number; error?: { code: string; message: string } }[]) => {
        for (const message of results) {
          const p = this.pending.get(message.id);
          if (!p) continue;
          this.pending.delete(message.id);
          if (message.error) p.reject(new LandingError(message.error.code, message.error.message));
          else p.resolve({ n: message.n ?? 0 });
        }
      });
      worker.on('error', (error) => {
        for (const p of this.pending.values()) p.reject(new LandingError('EIO', `landing worker failed: ${error.message}`));
        this.pending.clear();
      });
      this.workers.push(worker);
    }
  }
}
