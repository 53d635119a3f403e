/**
 * The read side of the protocol (docs/PROTOCOL.md §6.11-§6.13): the `get`, `list` and `verify`
 * requests, their limits and their parsers (run by the server). Pure: no I/O.
 */
import { MAX_CHUNK_SIZE, MAX_FILE_SIZE, MAX_MTIME_MS, MIN_CHUNK_SIZE, MIN_MTIME_MS } from './constants.js';
import type { Request } from './messages.js';
import { badRequest, isSafeInteger, MD5_HEX } from './parse-shared.js';

/** get: most files one request may ask for. */
export const MAX_GET_FILES = 128;
/** get: most UTF-8 bytes of all filenames of one request together. */
export const MAX_GET_NAME_BYTES = 24 * 1024;
/** get: largest data frame of a download body when the client names none. */
export const DEFAULT_GET_CHUNK_SIZE = 256 * 1024;
/** list: most entries one page may hold (the server may send fewer, to fit the frame). */
export const MAX_LIST_LIMIT = 1000;
/** list / verify: longest cursor, in characters. */
export const MAX_CURSOR_CHARS = 8192;

/** What a client knew of a file when it kept a local partial of it: resume only if it is still this. */
export interface GetMatch {
  size: number;
  mtime: number;
  md5: string | null;
}

/** One file a get asks for. */
export interface GetFile {
  filename: string;
  /** Bytes the client already holds: the body starts here (if `match` still holds). */
  offset: number;
  match?: GetMatch;
}

/** Client→server: send me these files (docs/PROTOCOL.md §6.11). */
export interface GetRequest {
  action: 'get';
  id: number;
  files: GetFile[];
  /** Largest data frame of the bodies. */
  chunkSize: number;
}

/** Client→server: one page of a directory listing (docs/PROTOCOL.md §6.12). */
export interface ListRequest {
  action: 'list';
  id: number;
  /** Directory (or file) relative to the root; "" = the root. */
  path: string;
  recursive: boolean;
  /** From a previous page's `nextCursor`; absent = the first page. */
  cursor?: string;
  limit: number;
}

/** Client→server: re-read stored files and compare them with their recorded md5 (§6.13). */
export interface VerifyRequest {
  action: 'verify';
  id: number;
  /** File or directory (recursive) relative to the root; "" = everything. */
  path: string;
}

function parseId(frame: Request): number {
  if (!isSafeInteger(frame.id, 0, MAX_FILE_SIZE)) throw badRequest(`${frame.action}.id must be a non-negative integer`);
  return frame.id;
}

function parsePath(frame: Request): string {
  const path = frame.path === undefined ? '' : frame.path;
  if (typeof path !== 'string') throw badRequest(`${frame.action}.path must be a string`);
  return path;
}

function parseMatch(value: unknown): GetMatch | undefined {
  if (value === undefined) return undefined;
  const m = value as Record<string, unknown>;
  if (typeof m !== 'object' || m === null || Array.isArray(m) || !isSafeInteger(m.size, 0, MAX_FILE_SIZE) ||
      !isSafeInteger(m.mtime, MIN_MTIME_MS, MAX_MTIME_MS) ||
      !(m.md5 === null || (typeof m.md5 === 'string' && MD5_HEX.test(m.md5)))) {
    throw badRequest('get.files[].match must be {"size", "mtime", "md5": hex or null}');
  }
  return { size: m.size, mtime: m.mtime, md5: m.md5 as string | null };
}

/** Validates a get request and its limits; names are checked by the server per file. */
export function parseGetRequest(frame: Request): GetRequest {
  const id = parseId(frame);
  if (!Array.isArray(frame.files) || frame.files.length === 0 || frame.files.length > MAX_GET_FILES) {
    throw badRequest(`get.files must be an array of 1 to ${MAX_GET_FILES} entries`);
  }
  const chunkSize = frame.chunkSize === undefined ? DEFAULT_GET_CHUNK_SIZE : frame.chunkSize;
  if (!isSafeInteger(chunkSize, MIN_CHUNK_SIZE, MAX_CHUNK_SIZE)) {
    throw badRequest(`get.chunkSize must be an integer from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE}`);
  }
  let nameBytes = 0;
  const files = frame.files.map((entry: unknown): GetFile => {
    const e = entry as Record<string, unknown>;
    if (typeof e !== 'object' || e === null || Array.isArray(e) || typeof e.filename !== 'string') {
      throw badRequest('get.files entries are {"filename", "offset"?, "match"?}');
    }
    const offset = e.offset === undefined ? 0 : e.offset;
    if (!isSafeInteger(offset, 0, MAX_FILE_SIZE)) throw badRequest('get.files[].offset must be a non-negative integer');
    nameBytes += Buffer.byteLength(e.filename, 'utf8');
    const match = parseMatch(e.match);
    return { filename: e.filename, offset, ...(match ? { match } : {}) };
  });
  if (nameBytes > MAX_GET_NAME_BYTES) throw badRequest(`get: filenames of ${nameBytes} bytes together are over the limit of ${MAX_GET_NAME_BYTES}`);
  return { action: 'get', id, files, chunkSize };
}

/** Validates a list request. */
export function parseListRequest(frame: Request): ListRequest {
  const id = parseId(frame);
  const path = parsePath(frame);
  const recursive = frame.recursive === undefined ? false : frame.recursive;
  if (typeof recursive !== 'boolean') throw badRequest('list.recursive must be a boolean');
  if (frame.cursor !== undefined && (typeof frame.cursor !== 'string' || frame.cursor.length === 0 || frame.cursor.length > MAX_CURSOR_CHARS)) {
    throw badRequest(`list.cursor must be a string of 1 to ${MAX_CURSOR_CHARS} characters`);
  }
  const limit = frame.limit === undefined ? MAX_LIST_LIMIT : frame.limit;
  if (!isSafeInteger(limit, 1, MAX_LIST_LIMIT)) throw badRequest(`list.limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  return { action: 'list', id, path, recursive, limit, ...(frame.cursor !== undefined ? { cursor: frame.cursor as string } : {}) };
}

/** Validates a verify request. */
export function parseVerifyRequest(frame: Request): VerifyRequest {
  return { action: 'verify', id: parseId(frame), path: parsePath(frame) };
}
