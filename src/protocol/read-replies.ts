/**
 * Server→client frames of the read side (docs/PROTOCOL.md §6.11-§6.13): the `file` header and `end`
 * trailer around each download body, the pages of a listing, the results of a scrub. Parsers run on
 * the client and treat the server as untrusted: any malformed frame is a ProtocolError (the client
 * disconnects). Names are only checked for type here; the client's landing checks their safety.
 */
import { ProtocolError } from '../errors.js';
import { MAX_FILE_SIZE, MAX_MTIME_MS, MIN_MTIME_MS } from './constants.js';
import type { FrameObject } from './frame.js';
import { isSafeInteger, MD5_HEX } from './parse-shared.js';
import { MAX_CURSOR_CHARS } from './read-requests.js';

/** get: what the server says about one file before its body (status 200) or instead of it. */
export interface FileHeader {
  type: 'file';
  id: number;
  /** Position of the file in the request's `files`. */
  index: number;
  status: number;
  code: string;
  message?: string;
  /** The rest only with status 200. */
  filename?: string;
  size?: number;
  mtime?: number;
  mode?: number;
  /** md5 recorded when the file landed; null = unrecorded (the server hashes it while reading). */
  md5?: string | null;
  /** The body starts at this byte: the request's offset, or 0 when the kept partial does not match. */
  offset?: number;
}

/** get: the server's verdict after a body, with the md5 of the whole file as the server read it now. */
export interface FileEnd {
  type: 'end';
  id: number;
  index: number;
  status: number;
  code: string;
  message?: string;
  md5?: string;
}

/** One entry of a listing (docs/PROTOCOL.md §6.12). */
export interface ListEntry {
  /** Full name relative to the root, "/"-separated. */
  name: string;
  type: 'file' | 'dir' | 'other';
  /** Files only. */
  size?: number;
  mtime: number;
  mode: number;
  /** Files only: recorded md5, or null when none is recorded. */
  md5?: string | null;
}

/** What a scrub found for one file. */
export type VerifyState = 'ok' | 'corrupt' | 'missing' | 'unrecorded';

/** One file's scrub result. */
export interface VerifyResult {
  filename: string;
  state: VerifyState;
  size?: number;
  /** ok / unrecorded: the md5 read now; corrupt: also what was recorded. */
  md5?: string;
  recorded?: string;
  message?: string;
}

/** The totals of a scrub, in its final reply. */
export interface VerifySummary {
  files: number;
  bytes: number;
  ok: number;
  corrupt: number;
  missing: number;
  unrecorded: number;
}

const VERIFY_STATES: readonly string[] = ['ok', 'corrupt', 'missing', 'unrecorded'];
const ENTRY_TYPES: readonly string[] = ['file', 'dir', 'other'];

function fail(what: string): never {
  throw new ProtocolError(`malformed ${what} from the server`);
}

function isMd5(value: unknown): value is string {
  return typeof value === 'string' && MD5_HEX.test(value);
}

function head(frame: FrameObject, type: string): { id: number; index: number; status: number; code: string; message?: string } {
  if (frame.type !== type || !isSafeInteger(frame.id, 0, MAX_FILE_SIZE) || !isSafeInteger(frame.index, 0, MAX_FILE_SIZE) ||
      !isSafeInteger(frame.status, 100, 999) || typeof frame.code !== 'string') fail(`"${type}" frame`);
  return {
    id: frame.id, index: frame.index, status: frame.status, code: frame.code,
    ...(typeof frame.message === 'string' ? { message: frame.message } : {}),
  };
}

/** Parses a `file` header; a 200 header must carry every field, consistently (offset ≤ size). */
export function parseFileHeader(frame: FrameObject): FileHeader {
  const base = head(frame, 'file');
  if (base.status !== 200) return { type: 'file', ...base };
  const { filename, size, mtime, mode, md5, offset } = frame;
  if (typeof filename !== 'string' || !isSafeInteger(size, 0, MAX_FILE_SIZE) || !isSafeInteger(mtime, MIN_MTIME_MS, MAX_MTIME_MS) ||
      !isSafeInteger(mode, 0, 0o777) || !(md5 === null || isMd5(md5)) || !isSafeInteger(offset, 0, size)) fail('"file" frame');
  return { type: 'file', ...base, filename, size, mtime, mode, md5, offset };
}

/** Parses an `end` trailer; a 200 trailer must carry the md5. */
export function parseFileEnd(frame: FrameObject): FileEnd {
  const base = head(frame, 'end');
  if (frame.md5 !== undefined && !isMd5(frame.md5)) fail('"end" frame');
  if (base.status === 200 && frame.md5 === undefined) fail('"end" frame');
  return { type: 'end', ...base, ...(isMd5(frame.md5) ? { md5: frame.md5 } : {}) };
}

function parseEntry(value: unknown): ListEntry {
  const e = value as Record<string, unknown>;
  if (typeof e !== 'object' || e === null || typeof e.name !== 'string' || typeof e.type !== 'string' ||
      !ENTRY_TYPES.includes(e.type) || !isSafeInteger(e.mtime, MIN_MTIME_MS, MAX_MTIME_MS) || !isSafeInteger(e.mode, 0, 0o7777)) {
    fail('list entry');
  }
  const entry: ListEntry = { name: e.name, type: e.type as ListEntry['type'], mtime: e.mtime, mode: e.mode };
  if (e.type === 'file') {
    if (!isSafeInteger(e.size, 0, MAX_FILE_SIZE) || !(e.md5 === null || isMd5(e.md5))) fail('list entry');
    entry.size = e.size;
    entry.md5 = e.md5;
  }
  return entry;
}

/** Parses the entries and cursor of a successful list reply. */
export function parseListPage(frame: FrameObject): { entries: ListEntry[]; nextCursor: string | null } {
  if (!Array.isArray(frame.entries)) fail('list reply');
  const next = frame.nextCursor;
  if (!(next === null || (typeof next === 'string' && next.length > 0 && next.length <= MAX_CURSOR_CHARS))) fail('list reply');
  return { entries: frame.entries.map(parseEntry), nextCursor: next };
}

function parseResult(value: unknown): VerifyResult {
  const r = value as Record<string, unknown>;
  if (typeof r !== 'object' || r === null || typeof r.filename !== 'string' || typeof r.state !== 'string' ||
      !VERIFY_STATES.includes(r.state) || (r.size !== undefined && !isSafeInteger(r.size, 0, MAX_FILE_SIZE)) ||
      (r.md5 !== undefined && !isMd5(r.md5)) || (r.recorded !== undefined && !isMd5(r.recorded))) fail('verify result');
  return {
    filename: r.filename, state: r.state as VerifyState,
    ...(r.size !== undefined ? { size: r.size as number } : {}),
    ...(r.md5 !== undefined ? { md5: r.md5 as string } : {}),
    ...(r.recorded !== undefined ? { recorded: r.recorded as string } : {}),
    ...(typeof r.message === 'string' ? { message: r.message } : {}),
  };
}

/** Parses a `verified` frame: a batch of per-file scrub results. */
export function parseVerified(frame: FrameObject): { id: number; results: VerifyResult[] } {
  if (frame.type !== 'verified' || !isSafeInteger(frame.id, 0, MAX_FILE_SIZE) || !Array.isArray(frame.results)) fail('"verified" frame');
  return { id: frame.id, results: frame.results.map(parseResult) };
}

/** Parses the summary of a verify's final reply. */
export function parseVerifySummary(frame: FrameObject): VerifySummary {
  const s = frame.summary as Record<string, unknown>;
  const keys = ['files', 'bytes', 'ok', 'corrupt', 'missing', 'unrecorded'] as const;
  if (typeof s !== 'object' || s === null || !keys.every((k) => isSafeInteger(s[k], 0, MAX_FILE_SIZE))) fail('verify summary');
  return Object.fromEntries(keys.map((k) => [k, s[k]])) as unknown as VerifySummary;
}
