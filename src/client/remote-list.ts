/** `list` on the client (docs/PROTOCOL.md §6.12): pages of a remote listing, on an otherwise idle connection. */
import { ConnectionLostError } from '../errors.js';
import { STATUS } from '../protocol/constants.js';
import { parseReply, replyError } from '../protocol/messages.js';
import { parseListPage, type ListEntry } from '../protocol/read-replies.js';
import { MAX_LIST_LIMIT } from '../protocol/read-requests.js';
import type { ClientConnection } from './connection.js';

/** Every entry of `path` (all pages), handed to `onPage` page by page; nothing else may be outstanding on `link`. */
export async function listRemote(link: ClientConnection, path: string, recursive: boolean, onPage: (entries: ListEntry[]) => void | Promise<void>): Promise<void> {
  let cursor: string | null | undefined;
  do {
    const id = link.nextId();
    link.send({ action: 'list', id, path, recursive, limit: MAX_LIST_LIMIT, ...(cursor ? { cursor } : {}) });
    let frame;
    do {
      frame = await link.receiveFrame();
      if (frame === null) throw new ConnectionLostError('the server closed the connection during a list');
    } while (frame.type === 'ping' || frame.type === 'wait');
    const reply = parseReply(frame);
    if (reply.status !== STATUS.OK) throw replyError(reply);
    const page = parseListPage(frame);
    await onPage(page.entries);
    cursor = page.nextCursor;
  } while (cursor);
}
