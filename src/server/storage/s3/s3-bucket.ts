/**
 * The S3 calls ftx makes, on one bucket and prefix, each with a deadline (an AbortSignal per call;
 * the client's requestTimeout, s3-client.ts, as a socket-idle guard) and failures mapped by
 * s3-errors.ts. Loaded only for an s3:// target.
 */
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand,
  DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command,
  ListPartsCommand, PutObjectCommand, type S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { DEFAULT_TIMEOUT_MS, PART_MIN_TIMEOUT_MS } from './s3-client.js';
import type { S3Location } from './s3-location.js';
import { httpStatusOf, is404, isConditionFailure, toStatusError, type S3CallKind } from './s3-errors.js';

/** What HEAD says about an object. */
export interface HeadInfo {
  size: number;
  /** Unquoted ETag. */
  etag: string;
  /** User metadata (x-amz-meta-*), lowercase keys without the prefix. */
  metadata: Record<string, string>;
  lastModified: number;
  /** The store's clock at the reply (its Date header), ms; the local clock if it sent none. */
  serverTime: number;
}

/** Conditions of a PUT: create only (If-None-Match: *) or compare-and-swap (If-Match: etag). */
export interface PutCondition {
  ifNoneMatch?: boolean;
  ifMatch?: string;
}

/** One part of a multipart upload, as recorded. */
export interface PartInfo {
  n: number;
  size: number;
  etag: string;
}

/** An incomplete multipart upload found by listing. */
export interface MultipartInfo {
  key: string;
  uploadId: string;
  initiated: number;
}

const unquote = (etag: string | undefined): string => (etag ?? '').replace(/^"|"$/g, '');

/** One bucket/prefix with deadlines on every call. Keys passed in are relative to the prefix. */
export class S3Bucket {
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  readonly timeoutMs: number;

  constructor(client: S3Client, location: S3Location, timeoutMs = DEFAULT_TIMEOUT_MS) {
    this.client = client;
    this.bucket = location.bucket;
    this.prefix = location.prefix;
    this.timeoutMs = timeoutMs;
  }

  /** The deadline of a call that carries `bytes` of body. */
  deadlineFor(bytes: number): number {
    return bytes < 1 << 20 ? this.timeoutMs : Math.max(PART_MIN_TIMEOUT_MS, this.timeoutMs + (bytes >> 20) * 1000);
  }

  /**
   * Runs one SDK call under a deadline. Failures become StatusErrors, except those `answer` accepts
   * (a 404, a lost condition), which the caller turns into a result.
   */
  private async call<T>(kind: S3CallKind, what: string, bytes: number, run: (signal: AbortSignal) => Promise<T>,
    answer: (error: unknown) => boolean = never): Promise<T> {
    const ms = this.deadlineFor(bytes);
    // Cleared once `run` settles: a streamed GET body goes on at the reader's pace after that
    // (the handler's socket-idle timeout still guards a body that stalls).
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), ms);
    try {
      return await run(controller.signal);
    } catch (error) {
      if (!controller.signal.aborted && answer(error)) throw error;
      throw toStatusError(error, kind, what, ms, controller.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  /** HEAD; null when absent. */
  async head(key: string): Promise<HeadInfo | null> {
    try {
      const r = await this.call('read', `HEAD ${key}`, 0, (abortSignal) =>
        this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }), { abortSignal }), is404);
      return {
        size: r.ContentLength ?? 0,
        etag: unquote(r.ETag),
        metadata: r.Metadata ?? {},
        lastModified: r.LastModified?.getTime() ?? 0,
        serverTime: (r as { ftxServerTime?: number }).ftxServerTime ?? Date.now(),
      };
    } catch (error) {
      if (httpStatusOf(error) === 404) return null;
      throw error;
    }
  }

  /** PUT of a whole object with Content-MD5; 'conflict' when a condition failed (412, or 409/500 of a lost race). */
  async put(key: string, body: Buffer, md5: Buffer, metadata: Record<string, string>, condition: PutCondition = {}): Promise<string | 'conflict'> {
    try {
      const r = await this.call('write', `PUT ${key}`, body.length, (abortSignal) => this.client.send(new PutObjectCommand({
        Bucket: this.bucket, Key: this.prefix + key, Body: body, ContentLength: body.length,
        ContentMD5: md5.toString('base64'), Metadata: metadata,
        ...(condition.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
        ...(condition.ifMatch !== undefined ? { IfMatch: condition.ifMatch } : {}),
      }), { abortSignal }), isConditional(condition) ? isConditionFailure : never);
      return unquote(r.ETag);
    } catch (error) {
      if (isConditional(condition) && isConditionFailure(error)) return 'conflict';
      throw error;
    }
  }

  /** GET of a whole small object (state files); null when absent. */
  async getBuffer(key: string): Promise<Buffer | null> {
    try {
      return await this.call('read', `GET ${key}`, 0, async (abortSignal) => {
        const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }), { abortSignal });
        return Buffer.from(await (r.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
      }, is404);
    } catch (error) {
      if (httpStatusOf(error) === 404) return null;
      throw error;
    }
  }

  /** GET of bytes [start, end) as a stream (the deadline covers the reply's start, not the body); 404/412 thrown as the SDK's. */
  async getRange(key: string, start: number, end: number, ifMatch?: string): Promise<Readable> {
    const r = await this.call('read', `GET ${key}`, 0, (abortSignal) => this.client.send(new GetObjectCommand({
      Bucket: this.bucket, Key: this.prefix + key, Range: `bytes=${start}-${end - 1}`,
      ...(ifMatch !== undefined ? { IfMatch: ifMatch } : {}),
    }), { abortSignal }), (e) => httpStatusOf(e) === 412 || httpStatusOf(e) === 404);
    return r.Body as Readable;
  }

  /** DELETE (idempotent). */
  async delete(key: string): Promise<void> {
    await this.call('write', `DELETE ${key}`, 0, (abortSignal) =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }), { abortSignal }));
  }

  /** Replaces an object's metadata in place (a self-copy; data, ETag and Last-Modified stay). */
  async replaceMetadata(key: string, metadata: Record<string, string>): Promise<void> {
    await this.call('write', `COPY ${key}`, 0, (abortSignal) => this.client.send(new CopyObjectCommand({
      Bucket: this.bucket, Key: this.prefix + key, CopySource: encodeURI(`${this.bucket}/${this.prefix}${key}`),
      MetadataDirective: 'REPLACE', Metadata: metadata,
    }), { abortSignal }));
  }

  /** One page of keys under `dir` ("" or "a/b/"); a 400 (a continuation token the store does not know) is thrown as the SDK's error. */
  async listPage(dir: string, options: { cursor?: string; startAfter?: string; limit: number; recursive: boolean }): Promise<{
    objects: { key: string; size: number; etag: string; lastModified: number }[]; prefixes: string[]; next?: string;
  }> {
    const r = await this.call('read', `LIST ${dir}`, 0, (abortSignal) => this.client.send(new ListObjectsV2Command({
      Bucket: this.bucket, Prefix: this.prefix + dir, MaxKeys: options.limit,
      ...(options.recursive ? {} : { Delimiter: '/' }),
      ...(options.cursor !== undefined ? { ContinuationToken: options.cursor } : {}),
      ...(options.startAfter !== undefined ? { StartAfter: this.prefix + options.startAfter } : {}),
    }), { abortSignal }), (e) => httpStatusOf(e) === 400);
    const cut = (k: string | undefined): string => (k ?? '').slice(this.prefix.length);
    return {
      objects: (r.Contents ?? []).map((o) => ({
        key: cut(o.Key), size: o.Size ?? 0, etag: unquote(o.ETag), lastModified: o.LastModified?.getTime() ?? 0,
      })),
      prefixes: (r.CommonPrefixes ?? []).map((p) => cut(p.Prefix)),
      ...(r.IsTruncated && r.NextContinuationToken !== undefined ? { next: r.NextContinuationToken } : {}),
    };
  }

  /** Starts a multipart upload carrying the metadata known up front; returns its uploadId. */
  async createMultipart(key: string, metadata: Record<string, string>): Promise<string> {
    const r = await this.call('write', `CREATE-MULTIPART ${key}`, 0, (abortSignal) => this.client.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.prefix + key, Metadata: metadata }), { abortSignal }));
    if (r.UploadId === undefined) throw toStatusError(new Error('no UploadId'), 'write', `CREATE-MULTIPART ${key}`, 0);
    return r.UploadId;
  }

  /** Uploads one part with Content-MD5; returns its unquoted ETag. A 404 (upload swept: NoSuchUpload) is thrown as the SDK's error. */
  async uploadPart(key: string, uploadId: string, n: number, body: Buffer, md5: Buffer): Promise<string> {
    // As a stream, the SDK sends it UNSIGNED-PAYLOAD instead of hashing it with SHA-256 for the
    // signature (measured: 0.08 instead of 0.17-0.21 CPU-s per 128 MiB, and 15 % faster); the store
    // still checks Content-MD5 (BadDigest). The SDK cannot retry a stream: ftx retries once itself.
    const send = (abortSignal: AbortSignal) => this.client.send(new UploadPartCommand({
      Bucket: this.bucket, Key: this.prefix + key, UploadId: uploadId, PartNumber: n, Body: Readable.from([body]),
      ContentLength: body.length, ContentMD5: md5.toString('base64'),
    }), { abortSignal });
    const r = await this.call('write', `part ${n} of ${key}`, body.length, async (abortSignal) => {
      try {
        return await send(abortSignal);
      } catch (error) {
        const status = httpStatusOf(error);
        if (abortSignal.aborted || (status !== undefined && status < 500)) throw error;
        return send(abortSignal);
      }
    }, is404);
    return unquote(r.ETag);
  }

  /** The parts the store holds for an upload; null when the upload is gone (NoSuchUpload/404). */
  async listParts(key: string, uploadId: string): Promise<PartInfo[] | null> {
    const parts: PartInfo[] = [];
    let marker: string | undefined;
    try {
      for (;;) {
        const r = await this.call('read', `LIST-PARTS ${key}`, 0, (abortSignal) => this.client.send(new ListPartsCommand({
          Bucket: this.bucket, Key: this.prefix + key, UploadId: uploadId, ...(marker !== undefined ? { PartNumberMarker: marker } : {}),
        }), { abortSignal }), is404);
        for (const p of r.Parts ?? []) parts.push({ n: p.PartNumber ?? 0, size: p.Size ?? 0, etag: unquote(p.ETag) });
        if (!r.IsTruncated || r.NextPartNumberMarker === undefined) return parts;
        marker = r.NextPartNumberMarker;
      }
    } catch (error) {
      if (httpStatusOf(error) === 404) return null;
      throw error;
    }
  }

  /** Completes from the recorded parts (never from a listing). A 412 (a store that honours If-None-Match) is thrown as the SDK's error. */
  async completeMultipart(key: string, uploadId: string, parts: PartInfo[], ifNoneMatch: boolean): Promise<void> {
    await this.call('write', `COMPLETE ${key}`, 0, (abortSignal) => this.client.send(new CompleteMultipartUploadCommand({
      Bucket: this.bucket, Key: this.prefix + key, UploadId: uploadId,
      MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.n, ETag: `"${p.etag}"` })) },
      ...(ifNoneMatch ? { IfNoneMatch: '*' } : {}),
    }), { abortSignal }), (e) => httpStatusOf(e) === 412);
  }

  /** Aborts a multipart upload; absent is fine. */
  async abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await this.call('write', `ABORT ${key}`, 0, (abortSignal) => this.client.send(new AbortMultipartUploadCommand({
        Bucket: this.bucket, Key: this.prefix + key, UploadId: uploadId,
      }), { abortSignal }), is404);
    } catch (error) {
      if (httpStatusOf(error) !== 404) throw error;
    }
  }

  /** One page of incomplete multipart uploads under the prefix. */
  async listMultipart(cursor?: { key: string; uploadId: string }): Promise<{ uploads: MultipartInfo[]; next?: { key: string; uploadId: string } }> {
    const r = await this.call('read', 'LIST-MULTIPART', 0, (abortSignal) => this.client.send(new ListMultipartUploadsCommand({
      Bucket: this.bucket, Prefix: this.prefix,
      ...(cursor !== undefined ? { KeyMarker: cursor.key, UploadIdMarker: cursor.uploadId } : {}),
    }), { abortSignal }));
    const uploads = (r.Uploads ?? []).map((u) => ({
      key: (u.Key ?? '').slice(this.prefix.length), uploadId: u.UploadId ?? '', initiated: u.Initiated?.getTime() ?? 0,
    }));
    const next = r.IsTruncated && r.NextKeyMarker !== undefined ? { key: r.NextKeyMarker, uploadId: r.NextUploadIdMarker ?? '' } : undefined;
    return { uploads, ...(next !== undefined ? { next } : {}) };
  }
}

const isConditional = (c: PutCondition): boolean => c.ifNoneMatch === true || c.ifMatch !== undefined;
const never = (): boolean => false;
