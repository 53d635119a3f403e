/**
 * A backend's upload as the handlers see it: the size limit in front of its body, its reservation
 * held until it is committed, suspended or discarded, and its landing remembered for a retry.
 */
import type { StoredReceipt, Upload } from '../storage/storage.js';
import { limitBody, type BodySink } from './body-pieces.js';
import type { LandedMemory } from './landed-memory.js';
import type { Reservation, Reservations } from './reservations.js';
import type { UploadTarget } from './uploads.js';

/** One open upload, between the handler and the backend. */
export class ServedUpload implements Upload {
  private readonly body: BodySink;
  landing: Promise<void> | undefined;

  constructor(
    private readonly inner: Upload,
    private readonly target: UploadTarget,
    private readonly reservation: Reservation,
    private readonly context: { reservations: Reservations; landed: LandedMemory; maxSize: number },
  ) {
    this.body = limitBody(context.maxSize, inner.offset, (chunk) => inner.write(chunk));
  }

  get filename(): string {
    return this.inner.filename;
  }

  get offset(): number {
    return this.inner.offset;
  }

  get received(): number {
    return this.inner.received;
  }

  write(chunk: Buffer): Promise<void> | undefined {
    return this.body(chunk);
  }

  async commit(claimedMd5: string): Promise<StoredReceipt> {
    const work = this.inner.commit(claimedMd5);
    this.landing = work.then(() => undefined, () => undefined);
    try {
      const receipt = await work;
      const { uploadId, source } = this.target;
      if (uploadId !== undefined) this.context.landed.record(this.reservation.name, { uploadId, size: receipt.size, source, md5: receipt.md5 });
      return receipt;
    } finally {
      this.context.reservations.release(this.reservation);
    }
  }

  async suspend(): Promise<void> {
    await this.landing;
    await this.inner.suspend().finally(() => this.context.reservations.release(this.reservation));
  }

  async discard(): Promise<void> {
    await this.landing;
    await this.inner.discard().finally(() => this.context.reservations.release(this.reservation));
  }
}
