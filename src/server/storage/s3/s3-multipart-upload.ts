/**
 * A large upload into S3, driven by ftx (not lib-storage's Upload, which can neither resume nor send
 * a per-part Content-MD5): body bytes fill whole parts; each part goes up with its Content-MD5 (the
 * store refuses a part that differs) while the next one fills; after each part the state (parts,
 * ETags, the md5 state at that boundary) is written to the bucket. commit() Completes from the ETags
 * it recorded, and only after the whole-file md5 matched and the lease was renewed; nothing is
 * visible under the name before that. Then `ftx-md5` is added to the object's metadata.
 */
import { createHash } from 'node:crypto';
import { StatusError } from '../../../errors.js';
import { ERROR_CODE } from '../../../protocol/constants.js';
import { refuseClash } from './s3-clash.js';
import { httpStatusOf } from './s3-errors.js';
import type { S3Bucket } from './s3-bucket.js';
import type { Lease } from './s3-lease.js';
import type { SavableMd5 } from './s3-md5.js';
import { deletePartialState, savePartialState, type PartialState } from './s3-partial-state.js';
import { landedMetadata, type ObjectFacts } from './s3-metadata.js';

/** Look at the lease this often while no part is in flight (a take-over waits ≤ 5 s for an answer). */
const LOOK_EVERY_MS = 1_000;
/** Renew it every this many looks (it holds 30 s). */
const RENEW_EVERY_LOOKS = 10;

/** What a multipart upload needs besides its state. */
export interface MultipartSetup {
  bucket: S3Bucket;
  /** The leases it holds (the requested name's, and with rename the landing name's). */
  leases: Lease[];
  state: PartialState;
  md5: SavableMd5;
  /** The key it lands under (the requested name, or a free numbered one). */
  target: string;
  overwrite: boolean;
  /** Write the state after each part (false: a stream or non-resumable put; the sweeper cleans up). */
  keepPartial: boolean;
  facts: ObjectFacts;
  /** Drop the connection: another attempt of this upload took over, or the lease was lost. */
  preempt?: () => void;
  /** Parts uploading at once (each holds one part in memory, plus one filling). */
  maxInFlight?: number;
}

/** A finished part, waiting for the parts before it to be recorded. */
interface DonePart { n: number; size: number; etag: string; end: number; md5State: string }

/** One multipart upload in progress (the Storage interface's Upload). */
export class MultipartUpload {
  readonly filename: string;
  readonly offset: number;
  received: number;
  private readonly s: MultipartSetup;
  private fill: Buffer | null = null;
  /** Part buffers whose upload finished, reused (fewer 16 MiB allocations, a flatter RSS). */
  private readonly spare: Buffer[] = [];
  private filled = 0;
  private nextPart: number;
  private sentEnd: number;
  private readonly inFlight = new Map<number, Promise<void>>();
  private readonly done = new Map<number, DonePart>();
  private failure: StatusError | null = null;
  private lost: 'handover' | 'lost' | null = null;
  private stateWrite: Promise<void> = Promise.resolve();
  private readonly renewTimer: NodeJS.Timeout;
  private finished = false;

  constructor(setup: MultipartSetup) {
    this.s = setup;
    this.filename = setup.target;
    this.offset = setup.state.durable;
    this.received = setup.state.durable;
    this.sentEnd = setup.state.durable;
    this.nextPart = setup.state.parts.length + 1;
    let looks = 0;
    this.renewTimer = setInterval(() => void (++looks % RENEW_EVERY_LOOKS === 0 ? this.renewAll() : this.lookAtLease()), LOOK_EVERY_MS);
    this.renewTimer.unref();
  }

  private get key(): string {
    return this.s.target;
  }

  /** Appends body bytes; a returned promise asks the caller to wait (parts in flight at the limit). */
  write(chunk: Buffer): Promise<void> | undefined {
    if (this.failure !== null) throw this.failure;
    const partSize = this.s.state.partSize;
    let at = 0;
    while (at < chunk.length) {
      this.fill ??= this.spare.pop() ?? Buffer.allocUnsafe(partSize);
      const take = Math.min(partSize - this.filled, chunk.length - at);
      chunk.copy(this.fill, this.filled, at, at + take);
      this.filled += take;
      at += take;
      if (this.filled === partSize) this.sendPart();
    }
    this.received += chunk.length;
    if (this.inFlight.size < (this.s.maxInFlight ?? 2)) return undefined;
    return Promise.race(this.inFlight.values());
  }

  /** Sends the filled buffer as the next part. */
  private sendPart(): void {
    const buffer = this.fill as Buffer;
    const data = buffer.subarray(0, this.filled);
    this.fill = null;
    this.filled = 0;
    const n = this.nextPart++;
    this.s.md5.update(data);
    const md5State = this.s.md5.save();
    this.sentEnd += data.length;
    const end = this.sentEnd;
    const partMd5 = createHash('md5').update(data).digest();
    const run = (async () => {
      await this.checkLease();
      const etag = await this.s.bucket.uploadPart(this.key, this.s.state.s3UploadId, n, data, partMd5);
      this.done.set(n, { n, size: data.length, etag, end, md5State });
      this.recordDone();
    })().catch((error: unknown) => { this.fail(error); }).finally(() => {
      this.inFlight.delete(n);
      if (!this.finished && buffer.length === this.s.state.partSize) this.spare.push(buffer);
    });
    this.inFlight.set(n, run);
  }

  /** Before each part: is the lease still ours? (a HEAD, ~2 ms) */
  private async checkLease(): Promise<void> {
    if (this.lost !== null) throw this.lostError();
    const seen = await (this.s.leases[0] as Lease).check();
    if (seen !== 'held') this.loseLease(seen);
  }

  private loseLease(how: 'handover' | 'lost'): never {
    this.lost ??= how;
    this.s.preempt?.();
    throw this.lostError();
  }

  private lostError(): StatusError {
    return new StatusError(423, ERROR_CODE.BUSY, this.lost === 'handover'
      ? `a newer attempt of the upload of ${this.filename} took over` : `the upload of ${this.filename} lost its lease to another server`);
  }

  private fail(error: unknown): void {
    if (this.failure !== null) return;
    if (httpStatusOf(error) === 404) {
      this.failure = new StatusError(500, ERROR_CODE.INTERNAL, `the partial upload of ${this.filename} is gone from the store (expired?); send it again`);
    } else {
      this.failure = error instanceof StatusError ? error : new StatusError(500, ERROR_CODE.INTERNAL, `upload of ${this.filename} failed: ${String(error)}`);
    }
  }

  /** Records the finished parts that continue the recorded prefix, then writes the state. */
  private recordDone(): void {
    const st = this.s.state;
    let advanced = false;
    for (let next = this.done.get(st.parts.length + 1); next !== undefined; next = this.done.get(st.parts.length + 1)) {
      this.done.delete(next.n);
      st.parts.push({ n: next.n, size: next.size, etag: next.etag });
      st.durable = next.end;
      st.md5State = next.md5State;
      advanced = true;
    }
    if (advanced && this.s.keepPartial) this.queueStateWrite();
  }

  private queueStateWrite(): void {
    const snapshot: PartialState = { ...this.s.state, parts: [...this.s.state.parts] };
    this.stateWrite = this.stateWrite.then(() => savePartialState(this.s.bucket, snapshot)).catch(() => {
      // A state write that failed only makes less durable; the next part's write tries again.
    });
  }

  /** Between parts (a client that pauses, a dead connection): has a retry asked for the lease? */
  private async lookAtLease(): Promise<void> {
    if (this.finished || this.lost !== null || this.inFlight.size > 0) return;
    try {
      await this.checkLease();
    } catch {
      // preempted, or the store did not answer: the next part's check or the commit decides
    }
  }

  private async renewAll(): Promise<void> {
    if (this.finished || this.lost !== null) return;
    try {
      for (const lease of this.s.leases) if (!(await lease.renew())) this.loseLease('lost');
    } catch {
      // lost (preempted) or the store did not answer: the next part's check or the commit decides
    }
  }

  private async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight.values());
  }

  /** Verifies the md5, then lands: renew the lease, re-check the name, Complete, record ftx-md5. */
  async commit(claimedMd5: string): Promise<{ filename: string; size: number; md5: string }> {
    if (this.failure !== null) throw this.failure;
    if (this.filled > 0 || this.nextPart === 1) this.sendPart();
    await this.drain();
    if (this.failure !== null) throw this.failure;
    const md5 = this.s.md5.digestHex();
    if (md5 !== claimedMd5) {
      await this.discard();
      throw new StatusError(422, ERROR_CODE.CHECKSUM_MISMATCH, `md5 of ${this.filename} is ${md5}, the client said ${claimedMd5}; nothing was stored`);
    }
    await this.stateWrite;
    for (const lease of this.s.leases) {
      if (!(await lease.renewFor(this.s.bucket.timeoutMs * 2))) this.loseLease('lost');
    }
    if (!this.s.overwrite && (await this.s.bucket.head(this.key)) !== null) {
      await this.discard();
      throw new StatusError(409, ERROR_CODE.EXISTS, `${this.filename} exists`);
    }
    try {
      await refuseClash(this.s.bucket, this.key);
    } catch (error) {
      if (error instanceof StatusError) await this.discard();
      throw error;
    }
    try {
      await this.s.bucket.completeMultipart(this.key, this.s.state.s3UploadId, this.s.state.parts, !this.s.overwrite);
    } catch (error) {
      if (httpStatusOf(error) !== 412) throw error;
      await this.discard();
      throw new StatusError(409, ERROR_CODE.EXISTS, `${this.filename} exists`);
    }
    this.finished = true;
    clearInterval(this.renewTimer);
    // Data, ETag and Last-Modified stay; a crash before this leaves the object without ftx-md5
    // (check with md5 then says "different", like a lost digest-log line on disk).
    await this.s.bucket.replaceMetadata(this.key, landedMetadata({ ...this.s.facts, md5 }));
    await deletePartialState(this.s.bucket, this.s.state.name).catch(() => undefined);
    for (const lease of this.s.leases) await lease.release().catch(() => undefined);
    return { filename: this.filename, size: this.received, md5 };
  }

  /** The connection broke: waits for the parts in flight, writes the state, frees the lease. */
  async suspend(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.renewTimer);
    await this.drain();
    this.fill = null; // the tail under one part is sent again on resume
    if (this.lost === 'lost') return; // another server owns the name now: leave its state alone
    if (!this.s.keepPartial) {
      await this.discard();
      return;
    }
    this.queueStateWrite();
    await this.stateWrite;
    for (const lease of this.s.leases) await lease.release().catch(() => undefined);
  }

  /** Aborts the multipart upload and removes its state; nothing appears under the name. Idempotent. */
  async discard(): Promise<void> {
    this.finished = true;
    clearInterval(this.renewTimer);
    await this.drain();
    this.fill = null;
    if (this.lost === 'lost') return;
    await this.stateWrite; // a state write still on its way would bring the deleted state back
    await this.s.bucket.abortMultipart(this.key, this.s.state.s3UploadId).catch(() => undefined);
    await deletePartialState(this.s.bucket, this.s.state.name).catch(() => undefined);
    for (const lease of this.s.leases) await lease.release().catch(() => undefined);
  }
}
