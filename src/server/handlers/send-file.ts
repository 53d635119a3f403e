/**
 * One file of a `get` (docs/PROTOCOL.md §6.11): header, body as data frames, trailer. The bytes are
 * hashed as they are read, so the trailer's md5 is what was actually read now: a file whose stored
 * bytes no longer match the md5 recorded at landing is reported corrupt, never as good.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { StatusError } from '../../errors.js';
import { ERROR_CODE, STATUS } from '../../protocol/constants.js';
import type { FileEnd, FileHeader } from '../../protocol/read-replies.js';
import type { GetFile } from '../../protocol/read-requests.js';
import type { WaitNotice } from '../../protocol/messages.js';
import type { FramedConnection } from '../../transport/framed-connection.js';
import type { Storage, StoredFile } from '../storage/storage.js';
import { splitSafeFilename } from '../uploads/names.js';

/** At most one `wait` frame per this many ms while a kept prefix is re-read. */
const WAIT_INTERVAL_MS = 2000;

/** Which request and file this is. */
interface Slot {
  id: number;
  index: number;
  chunkSize: number;
}

function refuse(conn: FramedConnection, slot: Slot, error: StatusError): false {
  conn.send({ type: 'file', id: slot.id, index: slot.index, status: error.status, code: error.code, message: error.message } satisfies FileHeader);
  return false;
}

/** The stored file, or the refusal to send instead of its header. */
async function lookUp(storage: Storage, filename: string): Promise<StoredFile | StatusError> {
  try {
    splitSafeFilename(filename);
    const stored = await storage.stat(filename);
    return stored ?? new StatusError(404, 'not_found', `no file named ${filename.slice(0, 200)}`);
  } catch (error) {
    if (error instanceof StatusError) return error;
    throw error;
  }
}

/** Where the body starts: the client's offset if its kept bytes are still of this file, else 0. */
function startOffset(file: GetFile, stored: StoredFile): number {
  if (file.offset === 0 || file.offset > stored.size) return 0;
  const m = file.match;
  if (m && (m.size !== stored.size || m.mtime !== stored.mtime || m.md5 !== stored.md5)) return 0;
  return file.offset;
}

/** Hashes bytes [0, offset) without sending them, with wait frames for a long prefix. */
async function hashPrefix(conn: FramedConnection, storage: Storage, filename: string, offset: number, slot: Slot, hash: Hash): Promise<boolean> {
  const stream = await storage.read(filename, { start: 0, end: offset });
  if (!stream) return false;
  let done = 0;
  let lastWait = Date.now();
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    done += chunk.length;
    if (Date.now() - lastWait >= WAIT_INTERVAL_MS) {
      lastWait = Date.now();
      conn.send({ type: 'wait', id: slot.id, message: 'verifying kept data', done, total: offset } satisfies WaitNotice);
    }
  }
  return done === offset;
}

/** Sends `stream` as data frames of at most chunkSize bytes; resolves with the bytes sent. */
async function sendDataFrames(conn: FramedConnection, stream: Readable, chunkSize: number, hash: Hash): Promise<number> {
  let sent = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    for (let at = 0; at < chunk.length; at += chunkSize) {
      const piece = chunk.subarray(at, Math.min(chunk.length, at + chunkSize));
      const header = Buffer.allocUnsafe(4);
      header.writeUInt32BE(piece.length, 0);
      conn.socket.cork();
      conn.sendRaw(header);
      const more = conn.sendRaw(piece);
      conn.socket.uncork();
      sent += piece.length;
      if (!more) await conn.drain();
    }
  }
  return sent;
}

/** The trailer's verdict on what was read. */
function verdict(stored: StoredFile, after: StoredFile | null, complete: boolean, md5: string): Pick<FileEnd, 'status' | 'code' | 'message' | 'md5'> {
  if (!complete || !after || after.size !== stored.size || after.mtime !== stored.mtime) {
    return { status: STATUS.CONFLICT, code: 'changed', message: 'the file changed while it was read' };
  }
  if (stored.md5 !== null && stored.md5 !== md5) {
    return { status: STATUS.CHECKSUM_MISMATCH, code: 'corrupt', message: `stored bytes hash to ${md5}, not the ${stored.md5} recorded at landing`, md5 };
  }
  return { status: STATUS.OK, code: 'ok', md5 };
}

/** A file looked up and opened ahead of its turn (a get of many small files waits on I/O, not on the CPU). */
export interface Opened {
  stored: StoredFile | StatusError;
  /** Opened from 0 when the body starts there; else opened at its turn, after the prefix. */
  stream?: Readable | null;
}

/** Looks `file` up and, when its body starts at 0, opens it: what sendFile does first, done early. */
export async function openAhead(storage: Storage, file: GetFile): Promise<Opened> {
  const stored = await lookUp(storage, file.filename);
  if (stored instanceof StatusError || startOffset(file, stored) > 0) return { stored };
  return { stored, stream: await storage.read(file.filename, { start: 0, end: stored.size }) };
}

/** Sends one file of a get (opened by openAhead); true when its body was sent (whatever the trailer says). */
export async function sendFile(conn: FramedConnection, storage: Storage, file: GetFile, slot: Slot, opened: Opened): Promise<boolean> {
  const stored = opened.stored;
  if (stored instanceof StatusError) return refuse(conn, slot, stored);
  const offset = startOffset(file, stored);
  const hash = createHash('md5');
  if (offset > 0 && !(await hashPrefix(conn, storage, file.filename, offset, slot, hash))) {
    return refuse(conn, slot, new StatusError(404, 'not_found', `${file.filename.slice(0, 200)} went away`));
  }
  const stream = opened.stream !== undefined ? opened.stream : await storage.read(file.filename, { start: offset, end: stored.size });
  if (!stream) return refuse(conn, slot, new StatusError(404, 'not_found', `${file.filename.slice(0, 200)} went away`));
  conn.send({
    type: 'file', id: slot.id, index: slot.index, status: STATUS.OK, code: 'ok', filename: file.filename,
    size: stored.size, mtime: stored.mtime, mode: stored.mode, md5: stored.md5, offset,
  } satisfies FileHeader);
  let sent = 0;
  let failed = false;
  conn.sendingDataFrames = true;
  try {
    sent = await sendDataFrames(conn, stream, slot.chunkSize, hash);
  } catch (error) {
    if (!conn.canSend) throw error; // the connection is gone: nothing more to say
    failed = true;
    stream.destroy();
  } finally {
    if (conn.canSend) conn.sendRaw(Buffer.alloc(4)); // the empty data frame ends the body
    conn.sendingDataFrames = false;
  }
  const md5 = hash.digest('hex');
  const complete = sent === stored.size - offset;
  // Read whole and equal to the md5 recorded at landing: the bytes are the landed ones, whatever
  // happened to the name meanwhile. Otherwise a second look tells "changed" from "corrupt".
  const intact = complete && stored.md5 === md5;
  const tail = failed
    ? { status: STATUS.INTERNAL, code: ERROR_CODE.INTERNAL, message: 'reading the stored file failed' }
    : verdict(stored, intact ? stored : await storage.stat(file.filename).catch(() => null), complete, md5);
  conn.send({ type: 'end', id: slot.id, index: slot.index, ...tail } satisfies FileEnd);
  return true;
}
