/**
 * Paged listings of a bucket as a directory tree. S3 has keys, not directories: a directory is a
 * key prefix ("a/b/" when some key starts with it) or a marker object "a/b/" (makeDirectory). A
 * cursor is the store's own position (the last key or common prefix handled) in base64url JSON,
 * so that any server sharing the bucket continues a listing another one started.
 * Files' mode and mtime are in their metadata, which listings do not return: one HEAD per file,
 * read ahead of the pages asked for, and the LIST pages are read 1,000 keys at a time whatever the
 * page size (s3-list-window.ts).
 */
import { StatusError } from '../../../errors.js';
import { ERROR_CODE, STATUS } from '../../../protocol/constants.js';
import { splitSafeFilename } from '../../uploads/names.js';
import type { ListEntry, ListOptions, ListPage } from '../storage.js';
import { httpStatusOf } from './s3-errors.js';
import type { ListedItem, ListRun, ListWindows } from './s3-list-window.js';
import { factsOf } from './s3-metadata.js';
import { isStateKey } from './s3-keys.js';

/** A position: the directory and kind of listing, the last key handled (a), the deepest directory named (e, recursive). */
interface Cursor { v: 1; d: string; r: boolean; a?: string; e?: string }

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
  // "t" (a continuation token) was a flat cursor of earlier servers: refused, never taken as the start.
  if ('t' in c) throw badCursor();
  for (const field of [c.a, c.e]) if (field !== undefined && typeof field !== 'string') throw badCursor();
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

/** A page's entry for a file, with the item its facts come from. */
type Pending = ListEntry & { item?: ListedItem };

/** Fills in the files' mode, mtime and recorded md5 from HEAD (a file deleted meanwhile is dropped). */
async function withFacts(windows: ListWindows, entries: Pending[]): Promise<ListEntry[]> {
  const heads = await Promise.all(entries.map((e) => (e.item !== undefined ? windows.head(e.item) : undefined)));
  const listed: ListEntry[] = [];
  entries.forEach(({ item, ...entry }, i) => {
    const head = heads[i];
    if (item !== undefined && head === null) return;
    if (head) {
      const facts = factsOf(head);
      Object.assign(entry, { size: facts.size, mtime: facts.mtime, mode: facts.mode, md5: facts.md5 });
    }
    listed.push(entry);
  });
  return listed;
}

/** Ends a page: its files' facts, HEADs read ahead past its last item, and the cursor (null at the end). */
async function finish(windows: ListWindows, run: ListRun, last: ListedItem | undefined, entries: Pending[], cursor: Cursor | null): Promise<ListPage> {
  if (cursor !== null) run.readAhead(last);
  return { entries: await withFacts(windows, entries), nextCursor: cursor === null ? null : encodeCursor(cursor) };
}

/** Storage.list on a bucket. */
export async function listS3(windows: ListWindows, dir: string, options: ListOptions): Promise<ListPage | null> {
  if (!Number.isSafeInteger(options.limit) || options.limit < 1) {
    throw new StatusError(STATUS.BAD_REQUEST, ERROR_CODE.BAD_REQUEST, `list limit must be a positive integer, not ${options.limit}`);
  }
  const recursive = options.recursive === true;
  const cursor = options.cursor !== undefined ? decodeCursor(options.cursor, dir, recursive) : undefined;
  try {
    return recursive ? await listDeep(windows, dir, options.limit, cursor) : await listFlat(windows, dir, options.limit, cursor);
  } catch (error) {
    if (httpStatusOf(error) === 400) throw badCursor();
    throw error;
  }
}

/** One directory level (Delimiter "/"): files and subdirectories, in the store's order. */
async function listFlat(windows: ListWindows, dir: string, limit: number, cursor: Cursor | undefined): Promise<ListPage | null> {
  const prefix = dir === '' ? '' : `${dir}/`;
  let after = cursor?.a;
  const entries: Pending[] = [];
  for (let first = cursor === undefined; ; first = false) {
    const run = await windows.run(prefix, false, after, cursor !== undefined || !first);
    if (first && dir !== '' && run.items.length === 0) return null;
    for (const [i, item] of run.items.entries()) {
      after = item.key;
      const name = item.key.slice(0, -1);
      if (item.prefix && isClientName(name)) entries.push(directory(name));
      else if (!item.prefix && item.key !== prefix && !item.key.endsWith('/') && isClientName(item.key)) {
        entries.push({ name: item.key, type: 'file', size: item.size, mtime: item.lastModified, mode: 0o644, item });
      }
      const end = i === run.items.length - 1 && !run.more;
      if (entries.length >= limit || end) return finish(windows, run, item, entries, end ? null : { v: 1, d: dir, r: false, a: item.key });
    }
    if (!run.more) return finish(windows, run, undefined, entries, null);
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
async function listDeep(windows: ListWindows, dir: string, limit: number, cursor: Cursor | undefined): Promise<ListPage | null> {
  const prefix = dir === '' ? '' : `${dir}/`;
  let after = cursor?.a;
  let emitted = cursor?.e;
  const entries: Pending[] = [];
  let last: ListedItem | undefined;
  for (let first = cursor === undefined; ; first = false) {
    // Each key gives at least one entry; the keys come from a window of 1,000 (s3-list-window.ts).
    const run = await windows.run(prefix, true, after, cursor !== undefined || !first);
    if (first && dir !== '' && run.items.length === 0) return null;
    const full = (): Promise<ListPage> => finish(windows, run, last, entries, { v: 1, d: dir, r: true, ...optional(after, emitted) });
    for (const object of run.items) {
      const marker = object.key.endsWith('/');
      const name = marker ? object.key.slice(0, -1) : object.key;
      if (name === dir || !isClientName(name)) {
        after = object.key;
        continue;
      }
      const dirs = [...parentsOf(name, dir), ...(marker ? [name] : [])].filter((d) => !covers(emitted, d));
      // Entry by entry: a page can end between a key's directories; the key is handled again.
      for (const d of dirs) {
        if (entries.length >= limit) return full();
        entries.push(directory(d));
        emitted = d;
      }
      if (!marker) {
        if (entries.length >= limit) return full();
        entries.push({ name, type: 'file', size: object.size, mtime: object.lastModified, mode: 0o644, item: object });
      }
      after = object.key;
      last = object;
    }
    if (!run.more) return finish(windows, run, undefined, entries, null);
  }
}

const optional = (a: string | undefined, e: string | undefined): { a?: string; e?: string } =>
  ({ ...(a !== undefined ? { a } : {}), ...(e !== undefined ? { e } : {}) });
