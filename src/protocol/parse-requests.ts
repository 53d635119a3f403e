/** Parsers of client→server requests (run by the server). */
import { ProtocolError } from '../errors.js';
import {
  DEFAULT_CHUNK_SIZE, MAX_BATCH_BYTES, MAX_BATCH_FILE_BYTES, MAX_BATCH_FILES, MAX_BATCH_NAME_BYTES, MAX_CHECK_FILES,
  MAX_CHUNK_SIZE, MAX_FILE_SIZE, MAX_MTIME_MS, MIN_CHUNK_SIZE, MIN_MTIME_MS,
} from './constants.js';
import type { FrameObject } from './frame.js';
import type {
  BatchFile, CheckRequest, ClientHello, EndRequest, MkdirRequest, PutManyRequest, PutRequest, Request, SourceIdentityFields,
} from './messages.js';
import { badRequest, isSafeInteger, MD5_HEX } from './parse-shared.js';

/** Checks a decoded frame is a request (an object with a string `action`); else a protocol error. */
export function asRequest(frame: FrameObject): Request {
  if (typeof frame.action !== 'string' || frame.action.length === 0) {
    throw new ProtocolError('request frame has no string "action"');
  }
  return frame as Request;
}

/** Validates the client hello (protocol version is checked by the caller to give a 426). */
export function parseClientHello(frame: Request): ClientHello {
  if (frame.action !== 'hello') throw new ProtocolError(`expected "hello", got "${frame.action}"`);
  if (!isSafeInteger(frame.protocol, 0, 0xffff)) throw badRequest('hello.protocol must be an integer');
  if (frame.hmac !== undefined && typeof frame.hmac !== 'string') throw badRequest('hello.hmac must be a string');
  if (frame.heartbeat !== undefined && typeof frame.heartbeat !== 'boolean') throw badRequest('hello.heartbeat must be a boolean');
  if (frame.clientId !== undefined && (typeof frame.clientId !== 'string' || !/^[\x21-\x7e]{16,64}$/.test(frame.clientId))) {
    throw badRequest('hello.clientId must be 16-64 printable ASCII characters');
  }
  if (frame.tokenId !== undefined && (typeof frame.tokenId !== 'string' || !/^[0-9a-f]{32}$/.test(frame.tokenId))) {
    throw badRequest('hello.tokenId must be 32 lowercase hex digits');
  }
  return {
    action: 'hello',
    protocol: frame.protocol,
    client: typeof frame.client === 'string' ? frame.client : 'unknown',
    ...(typeof frame.hmac === 'string' ? { hmac: frame.hmac } : {}),
    ...(frame.heartbeat === true ? { heartbeat: true } : {}),
    ...(typeof frame.clientId === 'string' ? { clientId: frame.clientId } : {}),
    ...(typeof frame.tokenId === 'string' ? { tokenId: frame.tokenId } : {}),
  };
}

/** Validates the fields of a put request; `filename` safety is the server's job (server/uploads/names.ts). */
export function parsePutRequest(frame: Request): PutRequest {
  if (!isSafeInteger(frame.id, 0, MAX_FILE_SIZE)) throw badRequest('put.id must be a non-negative integer');
  if (typeof frame.filename !== 'string') throw badRequest('put.filename must be a string');
  const stream = frame.stream === undefined ? false : frame.stream;
  if (typeof stream !== 'boolean') throw badRequest('put.stream must be a boolean');
  if (stream ? frame.size !== undefined && frame.size !== null : !isSafeInteger(frame.size, 0, MAX_FILE_SIZE)) {
    throw badRequest(stream ? 'put.size must be absent when stream is true' : 'put.size must be a non-negative integer');
  }
  // Pipelined puts (`wait: false`) are not part of v1 (putmany supersedes them): refused, and as
  // their body follows at once, the session closes the connection (docs/PROTOCOL.md §6.1).
  if (frame.wait !== undefined && frame.wait !== true) throw badRequest('put.wait must be true or absent (pipelined puts are not supported: use putmany)');
  const rename = frame.rename === undefined ? false : frame.rename;
  if (typeof rename !== 'boolean') throw badRequest('put.rename must be a boolean');
  if (frame.mode !== undefined && !isSafeInteger(frame.mode, 0, 0o777)) throw badRequest('put.mode must be an integer from 0 to 511 (0o777)');
  const chunkSize = frame.chunkSize === undefined ? DEFAULT_CHUNK_SIZE : frame.chunkSize;
  if (!isSafeInteger(chunkSize, MIN_CHUNK_SIZE, MAX_CHUNK_SIZE)) {
    throw badRequest(`put.chunkSize must be an integer from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE}`);
  }
  const overwrite = frame.overwrite === undefined ? false : frame.overwrite;
  if (typeof overwrite !== 'boolean') throw badRequest('put.overwrite must be a boolean');
  if (frame.mtime !== undefined && !isSafeInteger(frame.mtime, MIN_MTIME_MS, MAX_MTIME_MS)) {
    throw badRequest('put.mtime must be milliseconds since the epoch');
  }
  const resume = frame.resume === undefined ? false : frame.resume;
  if (typeof resume !== 'boolean') throw badRequest('put.resume must be a boolean');
  const source = parseSource(frame.source);
  if (frame.uploadId !== undefined && (typeof frame.uploadId !== 'string' || !/^[\x21-\x7e]{1,64}$/.test(frame.uploadId))) {
    throw badRequest('put.uploadId must be 1-64 printable ASCII characters');
  }
  return {
    action: 'put',
    id: frame.id,
    resume,
    source,
    ...(frame.uploadId !== undefined ? { uploadId: frame.uploadId as string } : {}),
    filename: frame.filename,
    size: stream ? null : (frame.size as number),
    stream,
    wait: true,
    rename,
    ...(frame.mode !== undefined ? { mode: frame.mode as number } : {}),
    chunkSize,
    overwrite,
    ...(frame.mtime !== undefined ? { mtime: frame.mtime as number } : {}),
  };
}

function parseSource(value: unknown): SourceIdentityFields | null {
  if (value === undefined || value === null) return null;
  const source = value as Record<string, unknown>;
  if (typeof source !== 'object' || Array.isArray(source) ||
      !isSafeInteger(source.size, 0, MAX_FILE_SIZE) || !isSafeInteger(source.mtime, MIN_MTIME_MS, MAX_MTIME_MS)) {
    throw badRequest('put.source must be {"size": integer, "mtime": integer ms}');
  }
  return { size: source.size, mtime: source.mtime };
}

/** Validates a check request. */
export function parseCheckRequest(frame: Request): CheckRequest {
  if (!isSafeInteger(frame.id, 0, MAX_FILE_SIZE)) throw badRequest('check.id must be a non-negative integer');
  if (!Array.isArray(frame.files) || frame.files.length > MAX_CHECK_FILES) {
    throw badRequest(`check.files must be an array of at most ${MAX_CHECK_FILES} entries`);
  }
  const files = frame.files.map((entry: unknown) => {
    const e = entry as Record<string, unknown>;
    if (typeof e !== 'object' || e === null || typeof e.filename !== 'string' ||
        !isSafeInteger(e.size, 0, MAX_FILE_SIZE) || !isSafeInteger(e.mtime, MIN_MTIME_MS, MAX_MTIME_MS) ||
        (e.md5 !== undefined && (typeof e.md5 !== 'string' || !MD5_HEX.test(e.md5)))) {
      throw badRequest('check.files entries are {"filename", "size", "mtime", "md5"?}');
    }
    return { filename: e.filename, size: e.size, mtime: e.mtime, ...(typeof e.md5 === 'string' ? { md5: e.md5 } : {}) };
  });
  return { action: 'check', id: frame.id, files };
}

/**
 * Validates a putmany request and its limits (files, sizes, name bytes). Any violation refuses the
 * whole batch: its body cannot be trusted to be delimited, so the caller closes the connection.
 */
export function parsePutManyRequest(frame: Request): PutManyRequest {
  if (!isSafeInteger(frame.id, 0, MAX_FILE_SIZE)) throw badRequest('putmany.id must be a non-negative integer');
  if (!Array.isArray(frame.files) || frame.files.length === 0 || frame.files.length > MAX_BATCH_FILES) {
    throw badRequest(`putmany.files must be an array of 1 to ${MAX_BATCH_FILES} entries`);
  }
  let bytes = 0;
  let nameBytes = 0;
  const files = frame.files.map((entry: unknown): BatchFile => {
    const e = entry as Record<string, unknown>;
    if (typeof e !== 'object' || e === null || Array.isArray(e) || typeof e.filename !== 'string' ||
        !isSafeInteger(e.size, 0, MAX_BATCH_FILE_BYTES) || typeof e.md5 !== 'string' || !MD5_HEX.test(e.md5)) {
      throw badRequest(`putmany.files entries are {"filename", "size" (0 to ${MAX_BATCH_FILE_BYTES}), "md5", ...}`);
    }
    if (e.mtime !== undefined && !isSafeInteger(e.mtime, MIN_MTIME_MS, MAX_MTIME_MS)) throw badRequest('putmany.files[].mtime must be milliseconds since the epoch');
    if (e.mode !== undefined && !isSafeInteger(e.mode, 0, 0o777)) throw badRequest('putmany.files[].mode must be an integer from 0 to 511 (0o777)');
    const overwrite = e.overwrite ?? false;
    const rename = e.rename ?? false;
    if (typeof overwrite !== 'boolean' || typeof rename !== 'boolean') throw badRequest('putmany.files[].overwrite and .rename must be booleans');
    bytes += e.size;
    nameBytes += Buffer.byteLength(e.filename, 'utf8');
    return {
      filename: e.filename, size: e.size, md5: e.md5, overwrite, rename,
      ...(e.mtime !== undefined ? { mtime: e.mtime as number } : {}),
      ...(e.mode !== undefined ? { mode: e.mode as number } : {}),
    };
  });
  if (bytes > MAX_BATCH_BYTES) throw badRequest(`putmany: ${bytes} body bytes is over the batch limit of ${MAX_BATCH_BYTES}`);
  if (nameBytes > MAX_BATCH_NAME_BYTES) throw badRequest(`putmany: filenames of ${nameBytes} bytes together are over the limit of ${MAX_BATCH_NAME_BYTES}`);
  return { action: 'putmany', id: frame.id, files };
}

/** Validates a mkdir request. */
export function parseMkdirRequest(frame: Request): MkdirRequest {
  if (!isSafeInteger(frame.id, 0, MAX_FILE_SIZE)) throw badRequest('mkdir.id must be a non-negative integer');
  if (typeof frame.path !== 'string') throw badRequest('mkdir.path must be a string');
  return { action: 'mkdir', id: frame.id, path: frame.path };
}

/** Validates the end-of-body trailer of the put with `id`; anything else here is a protocol error. */
export function parseEndRequest(frame: Request, id: number): EndRequest {
  if (frame.action !== 'end') throw new ProtocolError(`expected "end" after the body, got "${frame.action}"`);
  if (frame.id !== id) throw new ProtocolError(`"end" for id ${String(frame.id)} while put ${id} is open`);
  if (typeof frame.md5 !== 'string' || !MD5_HEX.test(frame.md5)) {
    throw new ProtocolError('end.md5 must be 32 lowercase hex digits');
  }
  return { action: 'end', id, md5: frame.md5 };
}

