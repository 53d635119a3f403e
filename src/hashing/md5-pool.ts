/**
 * md5 off the event loop: a few worker threads (md5-worker.js) that hold md5 states and hash the
 * very blocks the caller reads or writes. A block in a SharedArrayBuffer is shared, not copied; the
 * caller reuses it once `update` resolves. One state lives on one thread (its updates stay in
 * order); states spread over the threads, so N uploads hash on up to N cores. Snapshots for resume
 * are `copy()`s made on the same thread, ordered after the updates posted so far.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { HashThreadError } from '../errors.js';

// '../hashing/' rather than './': the same line also runs bundled into dist/cli/program.js.
const WORKER_URL = new URL('../hashing/md5-worker.js', import.meta.url);

interface Reply {
  seq: number;
  /** Bytes hashed (update, frames). */
  bytes?: number;
  digest?: string;
  error?: string;
}

/** One worker thread and the replies it owes. */
class HashThread {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: (reply: Reply) => void; reject: (error: Error) => void }>();
  private nextSeq = 1;
  /** States open on this thread. */
  states = 0;
  /** Set once the thread died: every later request fails with it. */
  failure: HashThreadError | undefined;

  constructor(private readonly pool: { hashedBytes: number }, private readonly onDeath: (thread: HashThread) => void) {
    this.worker = new Worker(WORKER_URL, { name: 'ftx-md5' });
    this.worker.unref(); // only a pending request keeps a process alive (ref'd in request())
    this.worker.on('message', (reply: Reply) => {
      const waiter = this.waiting.get(reply.seq);
      if (!waiter) return;
      this.waiting.delete(reply.seq);
      if (this.waiting.size === 0) this.worker.unref();
      if (reply.error !== undefined) waiter.reject(new HashThreadError(`md5 thread failed: ${reply.error}`));
      else waiter.resolve(reply);
    });
    this.worker.on('error', (error) => this.die(new HashThreadError(`md5 thread crashed: ${error.message}`, { cause: error })));
    this.worker.on('exit', (code) => this.die(new HashThreadError(`md5 thread exited (code ${code})`)));
  }

  /** Posts a message that needs no answer (open, drop). */
  post(message: object): void {
    if (!this.failure) this.worker.postMessage(message);
  }

  /** Posts a message and resolves with the thread's reply to it. */
  request(message: object, transfer?: ArrayBuffer[]): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    const seq = this.nextSeq++;
    if (this.waiting.size === 0) this.worker.ref();
    return new Promise<Reply>((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      this.worker.postMessage({ ...message, seq }, transfer);
    });
  }

  /** Adds the bytes the thread says it hashed to the pool's hashedBytes. */
  async countHashed(reply: Promise<Reply>): Promise<void> {
    const { bytes = 0 } = await reply; // awaited first: `x += await y` would read x before the wait
    this.pool.hashedBytes += bytes;
  }

  private die(failure: HashThreadError): void {
    if (this.failure) return;
    this.failure = failure;
    for (const waiter of this.waiting.values()) waiter.reject(failure);
    this.waiting.clear();
    this.onDeath(this);
  }

  /** Stops the thread; requests still waiting fail. */
  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}

let nextStateId = 1;

/** An md5 whose state lives on a hash thread. */
export class PooledMd5 {
  private closed = false;

  /** @internal made by HashPool.open and copy() */
  constructor(private readonly thread: HashThread, private readonly id: number, from?: number) {
    thread.states++;
    thread.post({ op: 'open', id, from });
  }

  /**
   * Hashes `data` after everything posted before. A view of a SharedArrayBuffer is shared, not
   * copied: do not change those bytes before the promise resolves. Any other view is copied.
   */
  update(data: Uint8Array): Promise<void> {
    return this.post('update', data);
  }

  /**
   * Like update, for bytes that are whole data frames (docs/PROTOCOL.md §6.6: uint32 big-endian
   * length, payload): hashes the payloads only, as a stream's md5 covers them.
   */
  updateFrames(frames: Uint8Array): Promise<void> {
    return this.post('frames', frames);
  }

  private post(op: 'update' | 'frames', data: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new HashThreadError('md5 state already finished'));
    const shared = data.buffer instanceof SharedArrayBuffer;
    const buffer = shared ? data.buffer : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    const message = { op, id: this.id, buffer, offset: shared ? data.byteOffset : 0, length: data.byteLength };
    return this.thread.countHashed(this.thread.request(message, shared ? undefined : [buffer as ArrayBuffer]));
  }

  /** Whether its thread died (the state is lost). */
  get lost(): boolean {
    return this.thread.failure !== undefined;
  }

  /** A snapshot: an independent state with the bytes posted so far (on the same thread). */
  copy(): PooledMd5 {
    if (this.closed) throw new HashThreadError('md5 state already finished');
    return new PooledMd5(this.thread, nextStateId++, this.id);
  }

  /** The hex md5 of everything posted; the state is finished. */
  async digest(): Promise<string> {
    if (this.closed) throw new HashThreadError('md5 state already finished');
    this.closed = true;
    this.thread.states--;
    const reply = await this.thread.request({ op: 'digest', id: this.id });
    return reply.digest!;
  }

  /** Forgets the state (a snapshot no longer needed). */
  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    this.thread.states--;
    this.thread.post({ op: 'drop', id: this.id });
  }
}

/** Hash threads, started on demand up to `size`; a new md5 goes to the thread with the fewest states. */
export class HashPool {
  private threads: HashThread[] = [];
  /** Bytes the threads have confirmed hashing, over the pool's life (tests and diagnostics). */
  hashedBytes = 0;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`hash pool size must be a positive integer, got ${size}`);
  }

  /** A fresh md5 on the least busy thread (a new thread while fewer than `size` run). */
  open(): PooledMd5 {
    let thread = this.threads.reduce<HashThread | undefined>((best, t) => (!best || t.states < best.states ? t : best), undefined);
    if (!thread || (thread.states > 0 && this.threads.length < this.size)) {
      thread = new HashThread(this, (dead) => { this.threads = this.threads.filter((t) => t !== dead); });
      this.threads.push(thread);
    }
    return new PooledMd5(thread, nextStateId++);
  }

  /** Threads running now. */
  get running(): number {
    return this.threads.length;
  }

  /** Stops every thread; md5s still open on them fail with HashThreadError. */
  async close(): Promise<void> {
    const threads = this.threads;
    this.threads = [];
    await Promise.all(threads.map((t) => t.terminate()));
  }
}

let shared: HashPool | undefined;

/** The process's default pool, one thread per core (started only as md5s are opened). */
export function sharedHashPool(): HashPool {
  shared ??= new HashPool(availableParallelism());
  return shared;
}
