/**
 * A small upload into S3: the body stays in memory until its md5 is verified, then lands as one
 * PutObject with Content-MD5 (the store refuses bytes that differ) and all metadata, ftx-md5
 * included, which becomes visible atomically. Without overwrite it carries If-None-Match: *, the
 * store's own atomic "create if absent", so two servers cannot both land the name; with rename each
 * numbered candidate is tried the same way.
 */
import { createHash } from 'node:crypto';
import { StatusError } from '../../../errors.js';
import { ERROR_CODE } from '../../../protocol/constants.js';
import type { S3Bucket } from './s3-bucket.js';
import type { ClashChecks } from './s3-clash.js';
import { landedMetadata, type ObjectFacts } from './s3-metadata.js';

/** Most numbered names tried with rename (as on disk). */
const MAX_RENAME = 1000;

/** How a small upload lands. */
export interface SmallSetup {
  bucket: S3Bucket;
  /** The storage's clash checks (shared by the files of a batch). */
  clash: ClashChecks;
  filename: string;
  overwrite: boolean;
  rename: boolean;
  facts: ObjectFacts;
  /** "stem.N.ext" for a name (the uploads layer's rule). */
  numbered: (name: string, n: number) => string;
}

/** One small upload in progress (the Storage interface's Upload). */
export class SmallUpload {
  readonly filename: string;
  readonly offset = 0;
  received = 0;
  private chunks: Buffer[] = [];
  private readonly hash = createHash('md5');

  constructor(private readonly s: SmallSetup) {
    this.filename = s.filename;
  }

  /** Keeps a copy of the bytes (the caller's chunk is only valid during the call). */
  write(chunk: Buffer): undefined {
    this.chunks.push(Buffer.from(chunk));
    this.hash.update(chunk);
    this.received += chunk.length;
    return undefined;
  }

  /** Verifies the md5, then one conditional PutObject per candidate name. */
  async commit(claimedMd5: string): Promise<{ filename: string; size: number; md5: string }> {
    const digest = this.hash.digest();
    const md5 = digest.toString('hex');
    const body = Buffer.concat(this.chunks);
    this.chunks = [];
    if (md5 !== claimedMd5) {
      throw new StatusError(422, ERROR_CODE.CHECKSUM_MISMATCH, `md5 of ${this.filename} is ${md5}, the client said ${claimedMd5}; nothing was stored`);
    }
    const metadata = landedMetadata({ ...this.s.facts, md5 });
    const last = this.s.rename && !this.s.overwrite ? MAX_RENAME : 0;
    // A file where a directory should be (the same for every numbered name), or a directory at the name.
    const [, directory] = await Promise.all([this.s.clash.refuseFileAbove(this.filename), this.s.clash.isDirectory(this.filename)]);
    for (let n = 0; n <= last; n++) {
      const name = n === 0 ? this.filename : this.s.numbered(this.filename, n);
      if (n === 0 ? directory : await this.s.clash.isDirectory(name)) {
        if (last > 0) continue;
        throw new StatusError(409, ERROR_CODE.EXISTS, `${name} exists and is a directory`);
      }
      const put = await this.s.bucket.put(name, body, digest, metadata, this.s.overwrite ? {} : { ifNoneMatch: true });
      if (put !== 'conflict') return { filename: name, size: body.length, md5 };
      // RGW answers 412 to an If-None-Match loser; make sure that a refusal really means "taken".
      if ((await this.s.bucket.head(name)) === null) {
        throw new StatusError(500, ERROR_CODE.INTERNAL, `the object store refused ${name} without holding it; try again`);
      }
    }
    throw new StatusError(409, ERROR_CODE.EXISTS, this.s.rename ? `${this.filename} and its numbered names are taken` : `${this.filename} exists`);
  }

  /** Nothing is kept of a small upload (it is sent again whole). */
  async suspend(): Promise<void> {
    this.chunks = [];
  }

  /** Nothing was stored; drops the bytes. */
  async discard(): Promise<void> {
    this.chunks = [];
  }
}
