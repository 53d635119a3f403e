/**
 * Recent landings, so that a retry whose verdict was lost learns that its upload succeeded
 * (docs/PROTOCOL.md §10). In memory for LANDED_MEMORY_MS; after a restart the backend's record of
 * the upload id that landed a file (StoredFile.uploadId) answers instead.
 */
import type { SourceIdentity } from '../storage/storage.js';

/** How long a landing is remembered here. */
export const LANDED_MEMORY_MS = 10 * 60 * 1000;

/** What is remembered of one landing. */
export interface LandedRecord {
  uploadId: string;
  size: number;
  source: SourceIdentity | null;
  md5: string;
  at: number;
}

function sameSource(a: SourceIdentity | null, b: SourceIdentity | null): boolean {
  return a !== null && b !== null && a.size === b.size && a.mtime === b.mtime;
}

/** Landings of the last minutes, by name. */
export class LandedMemory {
  private readonly landed = new Map<string, LandedRecord>();

  /** Remembers that upload `record.uploadId` landed `name`. */
  record(name: string, record: Omit<LandedRecord, 'at'>, now = Date.now()): void {
    this.landed.set(name, { ...record, at: now });
  }

  /** The md5 of a recent landing of this same logical upload (same id, size and source), if any. */
  find(name: string, uploadId: string, size: number, source: SourceIdentity | null, now = Date.now()): string | undefined {
    const record = this.landed.get(name);
    if (!record || now - record.at > LANDED_MEMORY_MS) return undefined;
    return record.uploadId === uploadId && record.size === size && sameSource(record.source, source) ? record.md5 : undefined;
  }

  /** Forgets landings older than LANDED_MEMORY_MS. */
  prune(now = Date.now()): void {
    for (const [name, record] of this.landed) if (now - record.at > LANDED_MEMORY_MS) this.landed.delete(name);
  }
}
