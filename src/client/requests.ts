/** Small requests on one connection: which files the server already has (`check`), and directories (`mkdir`). */
import { StatusError } from '../errors.js';
import { ERROR_CODE, MAX_CHECK_FILES, STATUS } from '../protocol/constants.js';
import { parseCheckReply, parseMkdirReply, type CheckQuery, type CheckRequest, type MkdirRequest } from '../protocol/messages.js';
import type { ClientConnection } from './connection.js';

/** The server's answer for one name: missing, identical, different or forbidden. */
export interface CheckAnswer {
  state: string;
  message?: string;
}

/** Frames stay far below the 64 KiB limit (the reply repeats each name): at most 24 KiB of JSON. */
const MAX_BATCH_JSON_BYTES = 24 * 1024;

/** Splits queries into batches of at most MAX_CHECK_FILES names and MAX_BATCH_JSON_BYTES. */
function batchesOf(files: CheckQuery[]): CheckQuery[][] {
  const out: CheckQuery[][] = [];
  let current: CheckQuery[] = [];
  let bytes = 0;
  for (const file of files) {
    const size = Buffer.byteLength(JSON.stringify(file)) + 1;
    if (current.length > 0 && (current.length >= MAX_CHECK_FILES || bytes + size > MAX_BATCH_JSON_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(file);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** Asks about many names at once: all batches are sent before the first answer is awaited. */
export async function checkFiles(link: ClientConnection, files: CheckQuery[]): Promise<CheckAnswer[]> {
  const batches: Promise<CheckAnswer[]>[] = [];
  for (const slice of batchesOf(files)) {
    const id = link.nextId();
    link.send({ action: 'check', id, files: slice } satisfies CheckRequest);
    batches.push(link.expect(id, parseCheckReply).then((reply) => {
      if (reply.results.length !== slice.length) throw new StatusError(STATUS.INTERNAL, ERROR_CODE.INTERNAL, 'check reply has the wrong number of results');
      return reply.results.map((r) => ({ state: r.state, ...(r.message !== undefined ? { message: r.message } : {}) }));
    }));
  }
  return (await Promise.all(batches)).flat();
}

/** Creates a directory (and parents) on the server; resolves with whether it was created. */
export async function makeDirectory(link: ClientConnection, path: string): Promise<boolean> {
  const id = link.nextId();
  link.send({ action: 'mkdir', id, path } satisfies MkdirRequest);
  return (await link.expect(id, parseMkdirReply)).created;
}
