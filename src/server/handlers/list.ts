/**
 * The `list` action (docs/PROTOCOL.md §6.12): one page of a directory, through Storage.list, cut
 * so that the reply fits in one frame (a page that does not fit is asked for again, smaller).
 */
import { StatusError } from '../../errors.js';
import { MAX_FILENAME_BYTES, MAX_FRAME_BYTES, STATUS } from '../../protocol/constants.js';
import type { ListEntry as WireEntry } from '../../protocol/read-replies.js';
import { MAX_CURSOR_CHARS, parseListRequest } from '../../protocol/read-requests.js';
import type { ActionHandler } from '../context.js';
import type { ListEntry, ListOptions, Storage } from '../storage/storage.js';
import { splitSafeFilename } from '../uploads/names.js';

/** Room in the frame for what surrounds the entries (type, id, code, message, and the cursor). */
const REPLY_OVERHEAD_BYTES = 200 + MAX_CURSOR_CHARS;
/**
 * The largest an entry can encode to: a 4096-byte name whose every byte is a `"` (escaped as two),
 * plus the other fields.
 */
const MAX_ENTRY_BYTES = 2 * MAX_FILENAME_BYTES + 200;

function toWire(entry: ListEntry): WireEntry {
  if (entry.type === 'directory') return { name: entry.name, type: 'dir', mtime: entry.mtime, mode: entry.mode };
  return { name: entry.name, type: 'file', mtime: entry.mtime, mode: entry.mode, size: entry.size, md5: entry.md5 ?? null };
}

/** The one entry for a path that names a file, or null when it names none. */
async function fileEntry(storage: Storage, path: string): Promise<WireEntry | null> {
  const stored = await storage.stat(path);
  return stored && { name: path, type: 'file', mtime: stored.mtime, mode: stored.mode, size: stored.size, md5: stored.md5 };
}

/**
 * Fills one reply from as many storage pages as fit: each is asked for no more entries than the
 * frame still has room for at the worst entry size, so a page never has to be cut.
 */
async function fillPage(storage: Storage, path: string, first: ListOptions, limit: number): Promise<{ entries: WireEntry[]; nextCursor: string | null } | null> {
  const entries: WireEntry[] = [];
  let room = MAX_FRAME_BYTES - REPLY_OVERHEAD_BYTES;
  let options = first;
  for (;;) {
    const ask = Math.min(limit - entries.length, Math.floor(room / MAX_ENTRY_BYTES));
    const page = await storage.list(path, { ...options, limit: ask });
    if (!page) return null;
    for (const entry of page.entries) {
      const wire = toWire(entry);
      room -= Buffer.byteLength(JSON.stringify(wire)) + 1;
      entries.push(wire);
    }
    const cursor = page.nextCursor;
    if (cursor === null || entries.length >= limit || room < MAX_ENTRY_BYTES) return { entries, nextCursor: cursor };
    options = { ...options, cursor };
  }
}

export const handleList: ActionHandler = async (conn, frame, context) => {
  const request = parseListRequest(frame);
  if (request.path !== '') splitSafeFilename(request.path);
  let result: { entries: WireEntry[]; nextCursor: string | null } | null = null;
  if (request.cursor === undefined && request.path !== '') {
    const file = await fileEntry(context.storage, request.path);
    if (file) result = { entries: [file], nextCursor: null };
  }
  const first: ListOptions = { limit: request.limit, recursive: request.recursive, ...(request.cursor !== undefined ? { cursor: request.cursor } : {}) };
  result ??= await fillPage(context.storage, request.path, first, request.limit);
  if (!result) throw new StatusError(404, 'not_found', `no directory or file named ${request.path.slice(0, 200)}`);
  if (result.nextCursor !== null && result.nextCursor.length > MAX_CURSOR_CHARS) {
    throw new StatusError(STATUS.INTERNAL, 'internal', 'the storage made a cursor too long for the wire');
  }
  conn.send({ type: 'reply', id: request.id, status: STATUS.OK, code: 'ok', message: 'listed', ...result });
};
