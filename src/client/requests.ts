/** Small requests: which files the server already has (`check`), and empty directories (`mkdir`). */
import { MAX_CHECK_FILES, type CheckRequest, type MkdirRequest } from '../protocol/messages.js';
import { STATUS } from '../protocol/constants.js';
import { replyError, type ClientConnection } from './connection.js';

/** What the client tells the server about one source file. */
export interface CheckQuery {
  filename: string;
  size: number;
  mtime: number;
  md5?: string;
}

/** The server's answer for one name: missing, identical, different or forbidden. */
export interface CheckAnswer {
  state: string;
  message?: string;
}

/** Asks about many names at once: all batches are sent before the first answer is awaited. */
export async function checkFiles(link: ClientConnection, files: CheckQuery[]): Promise<CheckAnswer[]> {
  const batches: Promise<CheckAnswer[]>[] = [];
  for (let i = 0; i < files.length; i += MAX_CHECK_FILES) {
    const slice = files.slice(i, i + MAX_CHECK_FILES);
    const id = link.nextId();
    link.conn.send({ action: 'check', id, files: slice } satisfies CheckRequest);
    batches.push(link.expect(id).then((reply) => {
      if (reply.status !== STATUS.OK) throw replyError(reply);
      if (!reply.results || reply.results.length !== slice.length) throw replyError({ ...reply, status: 500, code: 'internal', message: 'check reply has the wrong number of results' });
      return reply.results.map((r) => ({ state: r.state, ...(r.message !== undefined ? { message: r.message } : {}) }));
    }));
  }
  return (await Promise.all(batches)).flat();
}

/** Creates a directory (and parents) on the server; resolves with whether it was created. */
export async function makeRemoteDirectory(link: ClientConnection, path: string): Promise<boolean> {
  const id = link.nextId();
  link.conn.send({ action: 'mkdir', id, path } satisfies MkdirRequest);
  const reply = await link.expect(id);
  if (reply.status !== STATUS.OK) throw replyError(reply);
  return reply.created === true;
}
