/**
 * A few worker threads that land small files with synchronous system calls: write, fchmod,
 * futimes, fsync, close of each file of a batch, one append of their md5s and inodes to the digest
 * log, then link (or rename) each, and one fsync per directory and batch. One message
 * each way per batch instead of a thread-pool round trip per call: with thousands of small files
 * those round trips were the cost.
 */
import { Worker } from 'node:worker_threads';

/** One small file to land. */
export interface SmallLandingJob {
  /** Its directory's path as a client names it: the directory fsync is shared by this key. */
  dir: string;
  /** `/proc/self/fd/<dirfd>/<name>` paths (served-root.ts): the worker shares the process's fds. */
  temp: string;
  final: string;
  /** The file's bytes (copied into the batch's single buffer when it goes to a worker). */
  data: Buffer;
  mode: number;
  mtime?: number;
  overwrite: boolean;
  rename: boolean;
  /** Recorded in the digest log `log` under `name`, with the temp file's inode, before the link. */
  digest?: { log: string; name: string; md5: string };
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
// Never opens an existing inode: a name left by a crash between link and unlink is a landed file.
function createExclusive(path) {
  try { return fs.openSync(path, 'wx', 0o600); } catch (error) { if (error.code !== 'EEXIST') throw error; }
  fs.unlinkSync(path);
  return fs.openSync(path, 'wx', 0o600);
}
// Write, fchmod, futimes, fsync: the temp file is complete; returns its inode number.
function prepare(job, data) {
  const { temp, start, size, mode, mtime } = job;
  const fd = createExclusive(temp);
  try {
    let at = 0;
    while (at < size) at += fs.writeSync(fd, data, start + at, size - at, at);
    fs.fchmodSync(fd, mode);
    if (mtime !== undefined) fs.futimesSync(fd, new Date(), new Date(mtime));
    fs.fsyncSync(fd);
    return String(fs.fstatSync(fd, { bigint: true }).ino);
  } finally {
    fs.closeSync(fd);
  }
}
// Link (or rename) the temp file to its name or the first free numbered one; returns n.
function place(job) {
  const { temp, final, overwrite, rename } = job;
  if (overwrite) {
    fs.renameSync(temp, final);
    return 0;
  }
  for (let n = 0; n <= 1000; n++) {
    const path = n === 0 ? final : numbered(final, n);
    try {
      fs.linkSync(temp, path);
      fs.unlinkSync(temp);
      return n;
    } catch (error) {
      if (error.code === 'EEXIST') { if (rename) continue; throw error; }
      if (!NO_LINKS.has(error.code)) throw error;
      if (exists(path)) { if (rename) continue; const e = new Error('exists'); e.code = 'EEXIST'; throw e; }
      fs.renameSync(temp, path);
      return n;
    }
  }
  const e = new Error('no free numbered name'); e.code = 'EEXIST'; throw e;
}
function failed(job, error) {
  try { fs.unlinkSync(job.temp); } catch {}
  return { id: job.id, error: { code: error.code || 'EIO', message: String(error.message) } };
}
// Before any link: the md5 of each file with the inode it will land as. After a crash before the
// verdict, the restarted server knows the file under that name (that inode) is this content.
function recordLandings(batch, inodes) {
  const byLog = new Map();
  batch.forEach((job, i) => {
    if (!job.digest || inodes[i].ino === undefined) return;
    const line = JSON.stringify({ f: job.digest.name, size: job.size, mtime: job.mtime, md5: job.digest.md5, ino: inodes[i].ino }) + '\\n';
    byLog.set(job.digest.log, (byLog.get(job.digest.log) || '') + line);
  });
  for (const [log, lines] of byLog) { try { fs.appendFileSync(log, lines, { mode: 0o600 }); } catch {} }
}
function syncDirectory(dir) {
  const fd = fs.openSync(dir, 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}
parentPort.on('message', ({ batch, bytes }) => {
  const data = Buffer.from(bytes);
  const inodes = batch.map((job) => { try { return { ino: prepare(job, data) }; } catch (error) { return { result: failed(job, error) }; } });
  recordLandings(batch, inodes);
  const results = batch.map((job, i) => {
    if (inodes[i].result) return inodes[i].result;
    try { return { id: job.id, n: place(job) }; } catch (error) { return failed(job, error); }
  });
  // One fsync per directory and batch makes the new names durable before any verdict is sent.
  const dirs = new Map();
  results.forEach((result, i) => { if (!result.error) dirs.set(batch[i].dir, batch[i].final.slice(0, batch[i].final.lastIndexOf('/'))); });
  for (const via of dirs.values()) { try { syncDirectory(via || '/'); } catch {} }
  // The bytes go back with the verdicts: freed by the main thread's collector, which runs often,
  // instead of piling up in this thread's, which has almost nothing else to collect.
  parentPort.postMessage({ results, bytes }, [bytes]);
});
`;

interface Pending {
  resolve: (result: SmallLandingResult) => void;
  reject: (error: LandingError) => void;
}

/**
 * A fixed set of landing workers, started on first use and unref'd (they never keep a process
 * alive), stopped again after a while without work: each costs ~15 MB of memory while it runs.
 */
export class LandingPool {
  private workers: Worker[] = [];
  private idleTimer: NodeJS.Timeout | undefined;
  /** Workers with no batch in hand. */
  private idle: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private queue: (SmallLandingJob & { id: number })[] = [];

  constructor(private readonly size = 4, private readonly idleStopMs = 30_000) {}

  /** Workers running now (0 before the first file and after a quiet spell). */
  get running(): number {
    return this.workers.length;
  }

  /** Starts the workers now if they are not running (a client about to send many small files). */
  warm(): void {
    if (this.workers.length === 0) this.start();
    if (this.pending.size === 0 && this.queue.length === 0) this.stopLater();
  }

  /** (Re)arms the stop after a quiet spell. */
  private stopLater(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.stopWhenQuiet(), this.idleStopMs);
    this.idleTimer.unref();
  }

  /**
   * Lands one file; rejects with LandingError (e.g. code EEXIST, ENOSPC). A worker holds one batch
   * at a time: files that arrive while every worker is busy wait and go together as the next batch
   * (no delay when a worker is free, one message per many files under load: a thread hand-off
   * costs more than the system calls of a small file here).
   */
  land(job: SmallLandingJob): Promise<SmallLandingResult> {
    clearTimeout(this.idleTimer);
    if (this.workers.length === 0) this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.queue.push({ id, ...job });
      if (this.queue.length === 1) setImmediate(() => this.dispatch());
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0 && this.idle.length > 0) {
      const worker = this.idle.pop()!;
      const jobs = this.queue.splice(0, Math.ceil(this.queue.length / (this.idle.length + 1)));
      // All the batch's bytes in one buffer whose memory moves to the worker: one transfer per batch
      // (a socket chunk is a view into a larger buffer, and posting a view would clone all of it).
      const bytes = Buffer.allocUnsafeSlow(jobs.reduce((sum, job) => sum + job.data.length, 0));
      let at = 0;
      const batch = jobs.map(({ data, ...job }) => {
        const start = at;
        at += data.copy(bytes, at);
        return { ...job, start, size: data.length };
      });
      worker.postMessage({ batch, bytes: bytes.buffer }, [bytes.buffer as ArrayBuffer]);
    }
  }

  private async stopWhenQuiet(): Promise<void> {
    if (this.pending.size === 0 && this.queue.length === 0) await this.terminateWorkers();
  }

  private async terminateWorkers(): Promise<void> {
    const workers = this.workers;
    this.workers = [];
    this.idle = [];
    await Promise.all(workers.map((w) => w.terminate()));
  }

  /** Stops the workers (after their current jobs have been answered or abandoned). */
  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    await this.terminateWorkers();
    for (const p of this.pending.values()) p.reject(new LandingError('ECANCELED', 'server shutting down'));
    this.pending.clear();
  }

  private start(): void {
    for (let i = 0; i < this.size; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      worker.unref();
      worker.on('message', ({ results }: { results: { id: number; n?: number; error?: { code: string; message: string } }[] }) => {
        this.idle.push(worker);
        this.dispatch();
        for (const message of results) {
          const p = this.pending.get(message.id);
          if (!p) continue;
          this.pending.delete(message.id);
          if (message.error) p.reject(new LandingError(message.error.code, message.error.message));
          else p.resolve({ n: message.n ?? 0 });
        }
        if (this.pending.size === 0 && this.queue.length === 0) this.stopLater();
      });
      worker.on('error', (error) => {
        for (const p of this.pending.values()) p.reject(new LandingError('EIO', `landing worker failed: ${error.message}`));
        this.pending.clear();
      });
      this.workers.push(worker);
      this.idle.push(worker);
    }
  }
}
