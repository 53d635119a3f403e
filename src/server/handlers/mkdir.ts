/** The `mkdir` action: create a directory (empty directories of a tree upload) inside the root. */
import { STATUS } from '../../protocol/constants.js';
import { parseMkdirRequest, type MkdirReply } from '../../protocol/messages.js';
import type { ActionHandler } from '../context.js';

export const handleMkdir: ActionHandler = async (conn, frame, context) => {
  const request = parseMkdirRequest(frame);
  const created = await context.uploads.makeDirectory(request.path);
  conn.send({ type: 'reply', id: request.id, status: STATUS.OK, code: 'ok', message: created ? 'created' : 'exists', created } satisfies MkdirReply);
};
