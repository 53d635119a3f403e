/**
 * Message shapes of protocol v1 and their validation. Client→server frames are requests named by
 * `action`; server→client frames are named by `type`. Unknown extra fields are ignored (forward
 * compatibility); a known field of the wrong type is a `bad_request`.
 */
import { ProtocolError, StatusError } from '../errors.js';
import {
  DEFAULT_CHUNK_SIZE, ERROR_CODE, MAX_CHUNK_SIZE, MAX_FILE_SIZE, MAX_MTIME_MS, MIN_CHUNK_SIZE, MIN_MTIME_MS, STATUS,
} from './constants.js';
import type { FrameObject } from './frame.js';

/** Server→client, first frame on every connection. */
export interface ServerHello {
  type: 'hello';
  protocol: number;
  server: string;
  auth: string;
  nonce: string;
  actions: string[];
  /** Optional put features this server implements (V1_FEATURES). */
  features: string[];
  maxFrame: number;
  maxSize?: number;
}

/** Server→client answer to a request: status 200 or an error status with a stable code. */
export interface Reply {
  type: 'reply';
  id?: number;
  status: number;
  code: string;
  message: string;
  /** put: bytes the server already holds; the body starts here. */
  offset?: number;
  /** put: this exact upload already landed (a retry whose verdict was lost); no body follows. */
  complete?: boolean;
  receipt?: Receipt;
  /** check: one result per queried file, in order. */
  results?: { filename: string; state: string; message?: string }[];
  /** mkdir: whether the directory was created (false: it existed). */
  created?: boolean;
}

/** Server→client keep-alive while a request takes long (re-reading a kept prefix, landing). */
export interface WaitNotice {
  type: 'wait';
  id?: number;
  message: string;
  done?: number;
  total?: number;
}

/** How a client identifies its source file (size and mtime in whole ms). */
export interface SourceIdentityFields {
  size: number;
  mtime: number;
}

/** What the server states about a landed file. */
export interface Receipt {
  filename: string;
  size: number;
  md5: string;
}

/** Client→server answer to the server hello. */
export interface ClientHello {
  action: 'hello';
  protocol: number;
  client: string;
  hmac?: string;
}

/** Client→server request to upload one file of known size. */
export interface PutRequest {
  action: 'put';
  id: number;
  filename: string;
  /** Exact size; null when `stream` is true (the body is then data frames). */
  size: number | null;
  /** Unknown length: the body is length-prefixed data frames ended by an empty one. */
  stream: boolean;
  /** false: pipelined, the body follows at once and the only reply is the verdict. Default true. */
  wait: boolean;
  /** If the name is taken, land under the first free "stem.N.ext" (the receipt names it). */
  rename: boolean;
  /** Permission bits of the landed file (0..0o777). */
  mode?: number;
  chunkSize: number;
  overwrite: boolean;
  mtime?: number;
  /** Continue a kept partial of the same source (docs/PROTOCOL.md, "Resume"). */
  resume: boolean;
  /** Identity of the source; a partial is continued only for an equal identity. */
  source: SourceIdentityFields | null;
  /** Client-chosen id of one logical upload, the same in all its attempts (1-64 chars). */
  uploadId?: string;
}

/** Client→server: which of these names does the server already have, identical? */
export interface CheckRequest {
  action: 'check';
  id: number;
  files: { filename: string; size: number; mtime: number; md5?: string }[];
}

/** Client→server: create a directory (and missing parents). */
export interface MkdirRequest {
  action: 'mkdir';
  id: number;
  path: string;
}

/** Most names one check request may carry. */
export const MAX_CHECK_FILES = 256;

/** Client→server trailer after the body of a put: the md5 the client computed while reading. */
export interface EndRequest {
  action: 'end';
  id: number;
  md5: string;
}

/** Any request frame: has a string `action`; the rest is checked by the action's own parser. */
export interface Request extends FrameObject {
  action: string;
}

const MD5_HEX = /^[0-9a-f]{32}$/;

function badRequest(message: string): StatusError {
  return new StatusError(STATUS.BAD_REQUEST, ERROR_CODE.BAD_REQUEST, message);
}

function isSafeInteger(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max;
}

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
  return {
    action: 'hello',
    protocol: frame.protocol,
    client: typeof frame.client === 'string' ? frame.client : 'unknown',
    ...(typeof frame.hmac === 'string' ? { hmac: frame.hmac } : {}),
  };
}

/** Validates the fields of a put request; `filename` safety is the server's job (server/safe-path.ts). */
export function parsePutRequest(frame: Request): PutRequest {
  if (!isSafeInteger(frame.id, 0, MAX_FILE_SIZE)) throw badRequest('put.id must be a non-negative integer');
  if (typeof frame.filename !== 'string') throw badRequest('put.filename must be a string');
  const stream = frame.stream === undefined ? false : frame.stream;
  if (typeof stream !== 'boolean') throw badRequest('put.stream must be a boolean');
  if (stream ? frame.size !== undefined && frame.size !== null : !isSafeInteger(frame.size, 0, MAX_FILE_SIZE)) {
    throw badRequest(stream ? 'put.size must be absent when stream is true' : 'put.size must be a non-negative integer');
  }
  const wait = frame.wait === undefined ? true : frame.wait;
  const rename = frame.rename === undefined ? false : frame.rename;
  if (typeof wait !== 'boolean' || typeof rename !== 'boolean') throw badRequest('put.wait and put.rename must be booleans');
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
    wait,
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

/** Validates the server hello. */
export function parseServerHello(frame: FrameObject): ServerHello {
  if (frame.type !== 'hello') throw new ProtocolError('the peer did not start with an ftx hello');
  if (!isSafeInteger(frame.protocol, 0, 0xffff)) throw new ProtocolError('hello.protocol must be an integer');
  if (typeof frame.auth !== 'string' || typeof frame.nonce !== 'string') {
    throw new ProtocolError('hello.auth and hello.nonce must be strings');
  }
  return {
    type: 'hello',
    protocol: frame.protocol,
    server: typeof frame.server === 'string' ? frame.server : 'unknown',
    auth: frame.auth,
    nonce: frame.nonce,
    actions: Array.isArray(frame.actions) ? frame.actions.filter((a): a is string => typeof a === 'string') : [],
    features: Array.isArray(frame.features) ? frame.features.filter((a): a is string => typeof a === 'string') : [],
    maxFrame: isSafeInteger(frame.maxFrame, 0, 2 ** 32 - 1) ? frame.maxFrame : 0,
    ...(isSafeInteger(frame.maxSize, 0, MAX_FILE_SIZE) ? { maxSize: frame.maxSize } : {}),
  };
}

/** Validates a reply frame. */
export function parseReply(frame: FrameObject): Reply {
  if (frame.type !== 'reply') throw new ProtocolError(`expected a reply, got type "${String(frame.type)}"`);
  if (!isSafeInteger(frame.status, 100, 999)) throw new ProtocolError('reply.status must be an integer');
  if (typeof frame.code !== 'string') throw new ProtocolError('reply.code must be a string');
  const reply: Reply = {
    type: 'reply',
    status: frame.status,
    code: frame.code,
    message: typeof frame.message === 'string' ? frame.message : frame.code,
  };
  if (isSafeInteger(frame.id, 0, MAX_FILE_SIZE)) reply.id = frame.id;
  if (isSafeInteger(frame.offset, 0, MAX_FILE_SIZE)) reply.offset = frame.offset;
  if (frame.complete === true) reply.complete = true;
  if (Array.isArray(frame.results)) {
    reply.results = frame.results.map((r: unknown) => {
      const e = r as Record<string, unknown>;
      if (typeof e !== 'object' || e === null || typeof e.filename !== 'string' || typeof e.state !== 'string') {
        throw new ProtocolError('reply.results entries are {"filename", "state"}');
      }
      return { filename: e.filename, state: e.state, ...(typeof e.message === 'string' ? { message: e.message } : {}) };
    });
  }
  if (typeof frame.created === 'boolean') reply.created = frame.created;
  const receipt = frame.receipt as Record<string, unknown> | undefined;
  if (receipt !== undefined) {
    if (
      typeof receipt !== 'object' || receipt === null ||
      typeof receipt.filename !== 'string' ||
      !isSafeInteger(receipt.size, 0, MAX_FILE_SIZE) ||
      typeof receipt.md5 !== 'string'
    ) {
      throw new ProtocolError('reply.receipt is malformed');
    }
    reply.receipt = { filename: receipt.filename, size: receipt.size, md5: receipt.md5 };
  }
  return reply;
}

/** Builds an error reply from a StatusError. */
export function errorReply(error: StatusError, id?: number): Reply {
  return {
    type: 'reply',
    ...(id !== undefined ? { id } : {}),
    status: error.status,
    code: error.code,
    message: error.message,
  };
}
