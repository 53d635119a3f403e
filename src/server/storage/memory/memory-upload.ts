/** One upload into a MemoryStorage: bytes gathered in memory, landed whole once the md5 matches. */
import { md5Hex } from '../../../checksum.js';
import { StatusError } from '../../../errors.js';
import { ERROR_CODE, STATUS } from '../../../protocol/constants.js';
import type { SourceIdentity, StoredFile, StoredReceipt, Upload, UploadRequest } from '../storage.js';

/** A landed file. */
export interface MemoryFile extends StoredFile {
  data: Buffer;
  md5: string;
}

/** What a suspended upload leaves for a resume. */
export interface KeptPartial {
  size: number;
  source: SourceIdentity | null;
  data: Buffer;
  updated: number;
}

/** What the upload needs from its storage. */
export interface MemoryUploadHost {
  land(name: string, file: MemoryFile, policy: { overwrite: boolean; rename: boolean }): string;
  keep(partial: KeptPartial): void;
}

/** An upload held in memory. */
export class MemoryUpload implements Upload {
  readonly filename: string;
  readonly offset: number;
  received: number;
  landing: Promise<void> | undefined;
  private parts: Buffer[] = [];
  private closed = false;

  constructor(private readonly request: UploadRequest, kept: KeptPartial | undefined, private readonly host: MemoryUploadHost) {
    this.filename = request.name;
    // Resume offsets are whole chunks (docs/PROTOCOL.md, "Resume").
    this.offset = kept ? kept.data.length - (kept.data.length % request.chunkSize) : 0;
    if (kept && this.offset > 0) this.parts.push(kept.data.subarray(0, this.offset));
    this.received = this.offset;
  }

  write(chunk: Buffer): undefined {
    if (this.closed) throw new StatusError(STATUS.INTERNAL, ERROR_CODE.INTERNAL, 'upload already closed');
    this.parts.push(Buffer.from(chunk)); // a copy: the chunk is only valid during the call
    this.received += chunk.length;
    return undefined;
  }

  commit(claimedMd5: string): Promise<StoredReceipt> {
    const work = Promise.resolve().then(() => {
      if (this.closed) throw new StatusError(STATUS.INTERNAL, ERROR_CODE.INTERNAL, 'upload already closed');
      this.closed = true;
      const data = Buffer.concat(this.parts);
      this.parts = [];
      const md5 = md5Hex(data);
      if (md5 !== claimedMd5) {
        throw new StatusError(STATUS.CHECKSUM_MISMATCH, ERROR_CODE.CHECKSUM_MISMATCH,
          `md5 mismatch: the stored data hashes to ${md5}, the client sent ${claimedMd5}; nothing was stored`);
      }
      const { request } = this;
      const file: MemoryFile = {
        data, size: data.length, mtime: request.mtime ?? Date.now(), mode: request.mode, md5,
        ...(request.uploadId !== undefined ? { uploadId: request.uploadId } : {}),
      };
      const filename = this.host.land(request.name, file, { overwrite: request.overwrite, rename: request.rename });
      return { filename, size: data.length, md5 };
    });
    this.landing = work.then(() => undefined, () => undefined);
    return work;
  }

  async suspend(): Promise<void> {
    const { request } = this;
    if (this.closed) return;
    if (request.keepPartial && request.size !== null) {
      this.host.keep({ size: request.size, source: request.source, data: Buffer.concat(this.parts), updated: Date.now() });
    }
    await this.discard();
  }

  async discard(): Promise<void> {
    this.closed = true;
    this.parts = [];
  }
}
