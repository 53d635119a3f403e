/**
 * One upload per name at a time (docs/PROTOCOL.md §6.2 step 5): a name is reserved from the moment a put
 * for it is accepted until its upload is committed, suspended or discarded. A second put of the
 * name is refused 423, unless it is a newer attempt of the same logical upload (same uploadId):
 * the holder's connection is then presumed dead and is asked to let go (a take-over).
 */
import { StatusError } from '../../errors.js';
import { ERROR_CODE, STATUS } from '../../protocol/constants.js';
import type { Upload } from '../storage/storage.js';

/** How long a take-over waits for the old attempt to suspend before the new one is refused 423. */
export const TAKE_OVER_WAIT_MS = 5000;

/** A name held by an upload being opened or open. */
export interface Reservation {
  name: string;
  /** Declared size (null: a stream), counted as still to be written until the upload is open. */
  size: number | null;
  /** The client's id of the logical upload holding the name. */
  uploadId?: string;
  /** Asks the holder to let go (its connection is presumed dead). */
  preempt?: () => void;
  /** Set once the backend has opened the upload. */
  upload?: Upload;
}

const busy = (name: string): StatusError =>
  new StatusError(STATUS.BUSY, ERROR_CODE.BUSY, `${name} is being uploaded by another client; retry later`);

/** The names reserved on one server. */
export class Reservations {
  private readonly held = new Map<string, Reservation>();
  /** Declared sizes of the held reservations: promisedBytes() never exceeds it (a size never changes). */
  private declared = 0;

  /**
   * Reserves `wanted.name`, taking it over from an older attempt of the same upload if need be;
   * throws StatusError 423 while another upload holds it.
   */
  async reserve(wanted: Reservation): Promise<Reservation> {
    await this.takeOver(wanted.name, wanted.uploadId);
    // Synchronously after the check: no await between has() and set().
    if (this.held.has(wanted.name)) throw busy(wanted.name);
    const reservation = { ...wanted };
    this.held.set(wanted.name, reservation);
    this.declared += reservation.size ?? 0;
    return reservation;
  }

  /** Lets go of a reservation (idempotent; a newer holder of the name is left alone). */
  release(reservation: Reservation): void {
    if (this.held.get(reservation.name) !== reservation) return;
    this.held.delete(reservation.name);
    this.declared -= reservation.size ?? 0;
  }

  /** The upload open under `name`, if any. */
  uploadOf(name: string): Upload | undefined {
    return this.held.get(name)?.upload;
  }

  /** True while some upload holds `name`. */
  has(name: string): boolean {
    return this.held.has(name);
  }

  /** Every upload open now. */
  uploads(): Upload[] {
    return [...this.held.values()].flatMap((r) => (r.upload ? [r.upload] : []));
  }

  /**
   * At most how many bytes the other reserved uploads still have to write: their declared sizes, a
   * running total (the exact figure, promisedBytes, costs a pass over every reservation).
   */
  promisedAtMost(except: Reservation): number {
    return this.declared - (this.held.get(except.name) === except ? except.size ?? 0 : 0);
  }

  /** Bytes the other reserved uploads still have to write (space promised to them). */
  promisedBytes(except: Reservation): number {
    let promised = 0;
    for (const reservation of this.held.values()) {
      if (reservation === except) continue;
      const upload = reservation.upload;
      promised += upload ? Math.max(0, (reservation.size ?? 0) - upload.received) : (reservation.size ?? 0);
    }
    return promised;
  }

  /**
   * A new attempt of the same logical upload (same uploadId) while the old attempt still holds the
   * name: the old connection is dead from the client's point of view (it retried), though this
   * server may not know yet. Ask the old one to let go, and wait (bounded) until it has suspended.
   */
  private async takeOver(name: string, uploadId: string | undefined): Promise<void> {
    const holder = this.held.get(name);
    if (!holder || uploadId === undefined || holder.uploadId !== uploadId || !holder.preempt) return;
    holder.preempt();
    const until = Date.now() + TAKE_OVER_WAIT_MS;
    while (this.held.get(name) === holder && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  }
}
