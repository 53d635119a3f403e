/**
 * Paged listings of a bucket as a directory tree. S3 has keys, not directories: a directory is a
 * key prefix ("a/b/" when some key starts with it) or a marker object "a/b/" (makeDirectory). A
 * cursor is the store's own position (a continuation token, or the last key handled) in base64url
 * JSON, so that any server sharing the bucket continues a listing another one started.
 * Files' mode and mtime are in their metadata, which listings do not return: one HEAD per file.
 */
import { StatusError } from '../../../errors.js';
import { ERROR_CODE, STATUS } from '../../../protocol/constants.js';
import { splitSafeFilename } from '../../uploads/names.js';
import type { ListEntry, ListOptions, ListPage } from '../storage.js';
import { httpStatusOf } from './s3-errors.js';
import type { S3Bucket } from './s3-bucket.js';
import { factsOf } from './s3-metadata.js';
import { isStateKey } from './s3-keys.js';

/** Most keys asked of the store per request (its own maximum). */
const MAX_KEYS = 1000;
/** HEADs in flight while a page's files get their mode and mtime. */
const HEAD_CONCURRENCY = 16;

interface Cursor { v: 1; d: string; r: boolean; t?: string; a?: string; e?: string }

const badCursor = (): StatusError =>
  new StatusError(STATUS.BAD_REQUEST, ERROR_CODE.BAD_REQUEST, 'unknown or expired list cursor (start the listing again)');

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeCursor(text: string, dir: string, recursive: boolean): Cursor {
  let c: Cursor;
  try {
    c = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Cursor;
  } catch {
    throw badCursor();
  }
  if (c === null || typeof c !== 'object' || c.v !== 1 || c.d !== dir || c.r !== recursive) throw badCursor();
  for (const field of [c.t, c.a, c.e]) if (field !== undefined && typeof field !== 'string') throw badCursor();
  return c;
}

/** True for a name a client could have put there (never the server's own state, never a bad name). */
function isClientName(name: string): boolean {
  if (isStateKey(name)) return false;
  try {
    splitSafeFilename(name);
    return true;
  } catch {
    return false;
  }
}

const directory = (name: string): ListEntry => ({ name, type: 'directory', size: 0, mtime: 0, mode: 0o755 });

/** Fills in the files' mode, mtime and recorded md5 from HEAD (a file deleted meanwhile is dropped). */
async function withFacts(bucket: S3Bucket, entries: ListEntry[]): Promise<ListEntry[]> {
  const files = entries.filter((e) => e.type === 'file');
  const gone = new Set<string>();
  for (let i = 0; i < files.length; i += HEAD_CONCURRENCY) {
    await Promise.all(files.slice(i, i + HEAD_CONCURRENCY).map(async (entry) => {
      const head = await bucket.head(entry.name);
      if (head === null) {
        gone.add(entry.name);
        return;
      }
      const facts = factsOf(head);
      entry.size = facts.size;
      entry.mtime = facts.mtime;
      entry.mode = facts.mode;
      entry.md5 = facts.md5;
    }));
  }
  return entries.filter((e) => !gone.has(e.name));
}

/** Storage.list on a bucket. */
export async function listS3(bucket: S3Bucket, dir: string, options: ListOptions): Promise<ListPage | null> {
  if (!Number.isSafeInteger(options.limit) || options.limit < 1) {
    throw new StatusError(STATUS.BAD_REQUEST, ERROR_CODE.BAD_REQUEST, `list limit must be a positive integer, not ${options.limit}`);
  }
  const recursive = options.recursive === true;
  const cursor = options.cursor !== undefined ? decodeCursor(options.cursor, dir, recursive) : undefined;
  try {
    return recursive ? await listDeep(bucket, dir, options.limit, cursor) : await listFlat(bucket, dir, options.limit, cursor);
  } catch (error) {
    if (httpStatusOf(error) === 400) throw badCursor();
    throw error;
  }
}

/** One directory level (Delimiter "/"): files and subdirectories, in the store's order. */
async function listFlat(bucket: S3Bucket, dir: string, limit: number, cursor: Cursor | undefined): Promise<ListPage | null> {
  const prefix = dir === '' ? '' : `${dir}/`;
  let token = cursor?.t;
  for (let first = cursor === undefined; ; first = false) {
    const page = await bucket.listPage(prefix, { limit: Math.min(limit, MAX_KEYS), recursive: false, ...(token !== undefined ? { cursor: token } : {}) });
    if (first && dir !== '' && page.objects.length === 0 && page.prefixes.length === 0) return null;
    const entries: ListEntry[] = [
      ...page.prefixes.map((p) => p.slice(0, -1)).filter(isClientName).map(directory),
      ...page.objects.filter((o) => o.key !== prefix && !o.key.endsWith('/') && isClientName(o.key))
        .map((o): ListEntry => ({ name: o.key, type: 'file', size: o.size, mtime: o.lastModified, mode: 0o644 })),
    ].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    const listed = await withFacts(bucket, entries);
    if (listed.length > 0 || page.next === undefined) {
      return { entries: listed, nextCursor: page.next === undefined ? null : encodeCursor({ v: 1, d: dir, r: false, t: page.next }) };
    }
    token = page.next;
  }
}

/** The directories above `key` below `dir` ("a", "a/b" for "a/b/c.txt" in ""). */
function parentsOf(key: string, dir: string): string[] {
  const below = dir === '' ? key : key.slice(dir.length + 1);
  const parts = below.split('/').slice(0, -1);
  const base = dir === '' ? '' : `${dir}/`;
  return parts.map((_, i) => base + parts.slice(0, i + 1).join('/'));
}

const covers = (emitted: string | undefined, d: string): boolean => emitted !== undefined && (emitted === d || emitted.startsWith(`${d}/`));

/**
 * Everything below `dir` (no delimiter: keys in order, so each directory's keys are contiguous and
 * a directory is named before its contents). Resumes after the last key fully handled.
 */
async function listDeep(bucket: S3Bucket, dir: string, limit: number, cursor: Cursor | undefined): Promise<ListPage | null> {
  const prefix = dir === '' ? '' : `${dir}/`;
  let after = cursor?.a;
  let emitted = cursor?.e;
  const entries: ListEntry[] = [];
  for (let first = cursor === undefined; ; first = false) {
    // Each key gives at least one entry: no more keys than the page can hold (a small page is
    // common: the list handler asks for as many as fit in a frame at the worst name length).
    const page = await bucket.listPage(prefix, { limit: Math.min(MAX_KEYS, limit), recursive: true, ...(after !== undefined ? { startAfter: after } : {}) });
    if (first && dir !== '' && page.objects.length === 0) return null;
    for (const object of page.objects) {
      const marker = object.key.endsWith('/');
      const name = marker ? object.key.slice(0, -1) : object.key;
      if (name === dir || !isClientName(name)) {
        after = object.key;
        continue;
      }
      const dirs = [...parentsOf(name, dir), ...(marker ? [name] : [])].filter((d) => !covers(emitted, d));
      // Entry by entry: a page can end between a key's directories; the key is handled again.
      for (const d of dirs) {
        if (entries.length >= limit) return deepPage(bucket, entries, { v: 1, d: dir, r: true, ...optional(after, emitted) });
        entries.push(directory(d));
        emitted = d;
      }
      if (!marker) {
        if (entries.length >= limit) return deepPage(bucket, entries, { v: 1, d: dir, r: true, ...optional(after, emitted) });
        entries.push({ name, type: 'file', size: object.size, mtime: object.lastModified, mode: 0o644 });
      }
      after = object.key;
    }
    if (page.next === undefined) return { entries: await withFacts(bucket, entries), nextCursor: null };
  }
}

const optional = (a: string | undefined, e: string | undefined): { a?: string; e?: string } =>
  ({ ...(a !== undefined ? { a } : {}), ...(e !== undefined ? { e } : {}) });

async function deepPage(bucket: S3Bucket, entries: ListEntry[], cursor: Cursor): Promise<ListPage> {
  return { entries: await withFacts(bucket, entries), nextCursor: encodeCursor(cursor) };
}
