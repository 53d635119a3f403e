/**
 * The body of an upload is a chain of small pieces, each passing bytes on to the next, as in
 * tus-node-server's file store: the uploads layer's size limit first (here, in front of every
 * backend: ServedUpload), then the backend's Upload.write, which hashes and writes in its own way —
 * on disk a BlockWriter (storage/disk/block-writer.ts: 1 MiB write blocks, the chunk hasher of
 * uploads/chunk-hasher.ts sending whole chunks to a hash thread, one file write in flight); on S3 an md5 whose state is saved at each part boundary (a restart resumes from the
 * bucket, not from a re-read), then the part upload. A piece returns a promise to ask the one before
 * it to wait (backpressure), never buffers away what it cannot pass on.
 */
import { StatusError } from '../../errors.js';
import { ERROR_CODE, STATUS } from '../../protocol/constants.js';

/** Takes the body's bytes in order; a returned promise asks the caller to wait before the next. */
export type BodySink = (chunk: Buffer) => Promise<void> | undefined;

/**
 * Refuses (StatusError 413) a body that grows past `maxBytes` in all, counting from `offset`
 * (bytes held from an earlier attempt); once refused, every later write is refused too.
 */
export function limitBody(maxBytes: number, offset: number, next: BodySink): BodySink {
  let total = offset;
  let refusal: StatusError | undefined;
  return (chunk) => {
    if (!refusal && total + chunk.length > maxBytes) {
      refusal = new StatusError(STATUS.TOO_LARGE, ERROR_CODE.TOO_LARGE, `the stream grew over the server's limit of ${maxBytes} bytes`);
    }
    if (refusal) return Promise.reject(refusal);
    total += chunk.length;
    return next(chunk);
  };
}
