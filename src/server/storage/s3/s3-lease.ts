/**
 * The per-name lease that makes one server at a time the writer of a large upload, across servers
 * sharing a bucket (this RGW ignores conditions on CompleteMultipartUpload, so "no overwrite" for a
 * multipart upload rests on it). Design and measurements: ../shared/s3/design-notes.md §4.
 *
 * The lease object `.ftx-state/locks/<key>` is created with If-None-Match: * and changed only by
 * compare-and-swap (If-Match: its ETag). Each write carries a fresh nonce, so every version has a new
 * ETag (the md5 of its body) and a writer that got an unclear answer (RGW sends 500 to many losing
 * racers) HEADs and decides by the nonce. Expiry is judged on the store's clock (Last-Modified vs the
 * reply's Date), so the servers' clocks do not matter. A lease is never deleted (DeleteObject
 * ignores If-Match here): it is set `free`.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { HeadInfo, S3Bucket } from './s3-bucket.js';
import { leaseKey } from './s3-keys.js';

/** How long a lease holds without renewal; the store's clock has 1 s resolution. */
export const LEASE_MS = 30_000;
const MARGIN_MS = 2_000;
/** A take-over waits this long for the old holder to hand the lease back (as on disk). */
const HANDOVER_WAIT_MS = 5_000;

type LeaseMode = 'held' | 'free' | 'handover';

/** What a lease version says. */
interface LeaseFields {
  state: LeaseMode;
  owner: string;
  uploadId: string;
  nonce: string;
}

/** Who wants the lease. */
export interface LeaseClaim {
  /** This server's id (random per process). */
  owner: string;
  /** The client's id of the logical upload: the same id may take the lease over. */
  uploadId: string;
  leaseMs?: number;
}

const fieldsOf = (head: HeadInfo): LeaseFields => ({
  state: (['held', 'free', 'handover'].includes(head.metadata['ftx-state'] ?? '') ? head.metadata['ftx-state'] : 'held') as LeaseMode,
  owner: head.metadata['ftx-owner'] ?? '',
  uploadId: head.metadata['ftx-upload-id'] ?? '',
  nonce: head.metadata['ftx-nonce'] ?? '',
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A lease this server holds. */
export class Lease {
  private constructor(
    private readonly bucket: S3Bucket,
    readonly name: string,
    private readonly claim: LeaseClaim,
    private etag: string,
    private renewedAt: number,
  ) {}

  /** Writes one version; the new ETag, or null when another write won (decided by nonce after an unclear answer). */
  private static async write(bucket: S3Bucket, key: string, fields: LeaseFields, ifMatch?: string): Promise<string | null> {
    const body = Buffer.from(JSON.stringify(fields));
    const md5 = createHash('md5').update(body).digest();
    const metadata = { 'ftx-state': fields.state, 'ftx-owner': fields.owner, 'ftx-upload-id': fields.uploadId, 'ftx-nonce': fields.nonce };
    const result = await bucket.put(key, body, md5, metadata, ifMatch === undefined ? { ifNoneMatch: true } : { ifMatch });
    if (result !== 'conflict') return result;
    const now = await bucket.head(key);
    return now !== null && now.metadata['ftx-nonce'] === fields.nonce ? now.etag : null;
  }

  /**
   * Takes the lease of `name`: free, expired, or held by an earlier attempt of the same upload (it is
   * asked to hand over and given up to 5 s). Null when another upload holds it (423 busy).
   */
  static async acquire(bucket: S3Bucket, name: string, claim: LeaseClaim): Promise<Lease | null> {
    const key = leaseKey(name);
    const leaseMs = claim.leaseMs ?? LEASE_MS;
    const held = (): LeaseFields => ({ state: 'held', owner: claim.owner, uploadId: claim.uploadId, nonce: randomBytes(12).toString('hex') });
    for (let round = 0; round < 8; round++) {
      const created = await Lease.write(bucket, key, held());
      if (created !== null) return new Lease(bucket, name, claim, created, Date.now());
      const head = await bucket.head(key);
      if (head === null) continue;
      const fields = fieldsOf(head);
      const expired = head.serverTime - head.lastModified > leaseMs + MARGIN_MS;
      const ours = claim.uploadId !== '' && fields.uploadId === claim.uploadId;
      if (fields.state !== 'free' && !expired && !ours) return null;
      if (fields.state === 'held' && !expired) {
        // An earlier attempt of this upload holds it: ask it to hand over, then look again.
        await Lease.askHandover(bucket, key, head, fields, claim.owner);
        continue;
      }
      const swapped = await Lease.write(bucket, key, held(), head.etag);
      if (swapped !== null) return new Lease(bucket, name, claim, swapped, Date.now());
    }
    return null;
  }

  /** Marks a held lease `handover` and waits (≤ 5 s) while its holder still has not answered (freed it). */
  private static async askHandover(bucket: S3Bucket, key: string, head: HeadInfo, fields: LeaseFields, taker: string): Promise<void> {
    const asked = await Lease.write(bucket, key, { ...fields, state: 'handover', nonce: `${taker}.${randomBytes(8).toString('hex')}` }, head.etag);
    if (asked === null) return;
    const until = Date.now() + HANDOVER_WAIT_MS;
    while (Date.now() < until && (await bucket.head(key))?.etag === asked) await sleep(200);
  }

  /** Milliseconds since the last successful write of this lease (by the local clock). */
  get age(): number {
    return Date.now() - this.renewedAt;
  }

  /** Is the lease still ours? 'handover' when an attempt of the same upload asked for it. */
  async check(): Promise<'held' | 'handover' | 'lost'> {
    const head = await this.bucket.head(leaseKey(this.name));
    if (head === null) return 'lost';
    if (head.etag === this.etag) return 'held';
    const fields = fieldsOf(head);
    return fields.state === 'handover' && fields.uploadId === this.claim.uploadId ? 'handover' : 'lost';
  }

  /** Renews by compare-and-swap; false when the lease was lost (never complete after that). */
  async renew(): Promise<boolean> {
    const fields: LeaseFields = { state: 'held', owner: this.claim.owner, uploadId: this.claim.uploadId, nonce: randomBytes(12).toString('hex') };
    const etag = await Lease.write(this.bucket, leaseKey(this.name), fields, this.etag);
    if (etag === null) return false;
    this.etag = etag;
    this.renewedAt = Date.now();
    return true;
  }

  /** True when a renewal just now left at least `needMs` of the lease (before a Complete). */
  async renewFor(needMs: number): Promise<boolean> {
    const t0 = Date.now();
    if (!(await this.renew())) return false;
    return (this.claim.leaseMs ?? LEASE_MS) - MARGIN_MS - (Date.now() - t0) > needMs;
  }

  /** Sets the lease free: from our version, or from a `handover` of our upload. Best effort. */
  async release(): Promise<void> {
    const key = leaseKey(this.name);
    const free = (): LeaseFields => ({ state: 'free', owner: this.claim.owner, uploadId: '', nonce: randomBytes(12).toString('hex') });
    if ((await Lease.write(this.bucket, key, free(), this.etag)) !== null) return;
    const head = await this.bucket.head(key);
    if (head !== null && fieldsOf(head).state === 'handover' && fieldsOf(head).uploadId === this.claim.uploadId) {
      await Lease.write(this.bucket, key, free(), head.etag);
    }
  }
}
