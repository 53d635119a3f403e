/**
 * What a client remembers across attempts of one upload: its source's identity, md5 states at
 * recent block boundaries (so a resume at offset X re-reads at most a little of the file), and how
 * the last attempt went. Lives in memory only: a new process re-hashes the prefix once. The states
 * themselves live on a hash thread (copies made there); this keeps their handles.
 */
import { randomBytes } from 'node:crypto';
import type { PooledMd5 } from '../../hashing/md5-pool.js';
import type { SourceIdentityFields } from '../../protocol/messages.js';

/** Keep md5 states at the last this-many block boundaries... */
const RECENT_SNAPSHOTS = 32;
/** ...and at every multiple of this many bytes. */
const SPARSE_SNAPSHOT_BYTES = 64 * 1024 * 1024;

/** Resume memory of one upload. */
export class ResumeState {
  /** Id of this logical upload, sent with every attempt. */
  readonly uploadId = randomBytes(12).toString('hex');
  private identity: SourceIdentityFields | undefined;
  private readonly snapshots = new Map<number, PooledMd5>();
  private recent: number[] = [];
  /** md5 of the whole source once an attempt has read it all. */
  fullMd5: string | undefined;
  /** Offset the server offered in the last attempt (-1 before any). */
  lastOffset = -1;

  /** Starts over when the source is not the one these snapshots describe. */
  adopt(identity: SourceIdentityFields): void {
    if (this.identity && this.identity.size === identity.size && this.identity.mtime === identity.mtime) return;
    this.reset();
    this.identity = identity;
  }

  /** Forgets everything (the source changed, or the server discarded its partial). */
  reset(): void {
    for (const snapshot of this.snapshots.values()) snapshot.dispose();
    this.snapshots.clear();
    this.recent = [];
    this.fullMd5 = undefined;
    this.identity = undefined;
  }

  /** Records the md5 state after `offset` bytes (`hash` must have been given exactly those bytes). */
  record(offset: number, hash: PooledMd5): void {
    if (this.snapshots.has(offset)) return;
    this.snapshots.set(offset, hash.copy());
    this.recent.push(offset);
    if (this.recent.length > RECENT_SNAPSHOTS) {
      const old = this.recent.shift()!;
      if (old % SPARSE_SNAPSHOT_BYTES !== 0) {
        this.snapshots.get(old)?.dispose();
        this.snapshots.delete(old);
      }
    }
  }

  /** A copy of the latest md5 state at or before `offset`, with its offset; undefined if none. */
  bestAtOrBefore(offset: number): { offset: number; hash: PooledMd5 } | undefined {
    let best = -1;
    for (const [at, snapshot] of this.snapshots) if (at <= offset && at > best && !snapshot.lost) best = at;
    return best < 0 ? undefined : { offset: best, hash: this.snapshots.get(best)!.copy() };
  }
}
