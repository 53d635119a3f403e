/**
 * A few worker threads that land small files with synchronous system calls: write, fchmod,
 * futimes, fsync, close of each file of a batch, one append of their md5s and inodes to the digest
 * log, then link (or rename) each, and one fsync per directory and batch. One message
 * each way per batch instead of a thread-pool round trip per call: with thousands of small files
 * those round trips were the cost.
 */
import { existsSync } from 'node:fs';
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

/** A job as the worker gets it: its bytes are `size` bytes at `start` of the batch's one buffer. */
export type WorkerJob = Omit<SmallLandingJob, 'data'> & { id: number; start: number; size: number };

/** One message to a worker: the batch and the memory of its bytes (transferred, not copied). */
export interface WorkerBatch {
  batch: WorkerJob[];
  bytes: ArrayBuffer;
}

/** One file's outcome, as the worker sends it back. */
export interface WorkerResult {
  id: number;
  n?: number;
  error?: { code: string; message: string };
}

/**
 * The worker's module (landing-worker.ts) as built: beside this module in dist/; from the CLI
 * bundle (dist/cli/program.js) at its place in dist/; from the sources (vitest) in the build, which
 * `npm test` makes first. A worker runs JavaScript only, so the sources' .ts cannot be used.
 */
function workerUrl(): URL {
  const candidates = [
    new URL('./landing-worker.js', import.meta.url),
    new URL('../server/storage/disk/landing/landing-worker.js', import.meta.url),
    new URL(new URL('./landing-worker.js', import.meta.url).href.replace(/\/src\/server\//, '/dist/server/')),
  ];
  const found = candidates.find((url) => existsSync(url));
  if (!found) throw new Error('the landing worker module is missing: run npm run build');
  return found;
}

interface Pending {
  resolve: (result: SmallLandingResult) => void;
  reject: (error: LandingError) => void;
}

/** One worker with the jobs assigned to it: `queue` waits for the batch it has in hand (`inFlight`). */
interface Slot {
  worker: Worker;
  queue: { id: number; job: SmallLandingJob }[];
  inFlight: number;
  /** Jobs handed to this worker since it started (LandingPool.load). */
  assigned: number;
}

/**
 * A fixed set of landing workers, started on first use and unref'd (they never keep a process
 * alive), stopped again after a while without work: each costs ~15 MB of memory while it runs.
 */
export class LandingPool {
  private slots: Slot[] = [];
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private dispatchQueued = false;

  constructor(private readonly size = 4, private readonly idleStopMs = 30_000) {}

  /** Workers running now (0 before the first file and after a quiet spell). */
  get running(): number {
    return this.slots.length;
  }

  /** Jobs handed to each worker since the workers started, in worker order. */
  get load(): number[] {
    return this.slots.map((slot) => slot.assigned);
  }

  /** Starts the workers now if they are not running (a client about to send many small files). */
  warm(): void {
    if (this.slots.length === 0) this.start();
    if (this.pending.size === 0) this.stopLater();
  }

  /** (Re)arms the stop after a quiet spell. */
  private stopLater(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.stopWhenQuiet(), this.idleStopMs);
    this.idleTimer.unref();
  }

  /**
   * Lands one file; rejects with LandingError (e.g. code EEXIST, ENOSPC). Each file goes at once to
   * the worker with the fewest files in hand or waiting, so a batch that arrives while every worker
   * is busy is still spread over all of them (taken from one shared queue, the first worker to come
   * free took the whole next batch and fsynced it alone while the others idled). A worker holds one
   * batch at a time; what is assigned to it meanwhile goes as its next batch (one message per many
   * files: a thread hand-off costs more than the system calls of a small file).
   */
  land(job: SmallLandingJob): Promise<SmallLandingResult> {
    clearTimeout(this.idleTimer);
    if (this.slots.length === 0) this.start();
    const id = this.nextId++;
    const slot = this.slots.reduce((best, s) => (s.queue.length + s.inFlight < best.queue.length + best.inFlight ? s : best));
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      slot.queue.push({ id, job });
      slot.assigned++;
      if (!this.dispatchQueued) {
        this.dispatchQueued = true;
        setImmediate(() => {
          this.dispatchQueued = false;
          for (const s of this.slots) this.post(s);
        });
      }
    });
  }

  /** Posts a slot's waiting jobs as one batch if its worker has none in hand. */
  private post(slot: Slot): void {
    if (slot.inFlight > 0 || slot.queue.length === 0) return;
    const jobs = slot.queue;
    slot.queue = [];
    slot.inFlight = jobs.length;
    // All the batch's bytes in one buffer whose memory moves to the worker: one transfer per batch
    // (a socket chunk is a view into a larger buffer, and posting a view would clone all of it).
    const bytes = Buffer.allocUnsafeSlow(jobs.reduce((sum, { job }) => sum + job.data.length, 0));
    let at = 0;
    // Every field by name, one object shape: object spread and rest cost microseconds per file here.
    const batch = jobs.map(({ id, job }): WorkerJob => {
      const start = at;
      at += job.data.copy(bytes, at);
      return {
        id, dir: job.dir, temp: job.temp, final: job.final, start, size: job.data.length, mode: job.mode, mtime: job.mtime,
        overwrite: job.overwrite, rename: job.rename, digest: job.digest,
      };
    });
    slot.worker.postMessage({ batch, bytes: bytes.buffer as ArrayBuffer } satisfies WorkerBatch, [bytes.buffer as ArrayBuffer]);
  }

  private async stopWhenQuiet(): Promise<void> {
    if (this.pending.size === 0) await this.terminateWorkers();
  }

  private async terminateWorkers(): Promise<void> {
    const slots = this.slots;
    this.slots = [];
    await Promise.all(slots.map((s) => s.worker.terminate()));
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
      const slot: Slot = { worker: new Worker(workerUrl()), queue: [], inFlight: 0, assigned: 0 };
      slot.worker.unref();
      slot.worker.on('message', ({ results }: { results: WorkerResult[] }) => {
        slot.inFlight = 0;
        this.post(slot);
        for (const message of results) {
          const p = this.pending.get(message.id);
          if (!p) continue;
          this.pending.delete(message.id);
          if (message.error) p.reject(new LandingError(message.error.code, message.error.message));
          else p.resolve({ n: message.n ?? 0 });
        }
        if (this.pending.size === 0) this.stopLater();
      });
      slot.worker.on('error', (error) => {
        for (const p of this.pending.values()) p.reject(new LandingError('EIO', `landing worker failed: ${error.message}`));
        this.pending.clear();
      });
      this.slots.push(slot);
    }
  }
}
