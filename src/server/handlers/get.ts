/** The `get` action (docs/PROTOCOL.md §6.11): each asked-for file as header, data frames and trailer. */
import { STATUS } from '../../protocol/constants.js';
import type { Reply } from '../../protocol/messages.js';
import { parseGetRequest } from '../../protocol/read-requests.js';
import type { ActionHandler } from '../context.js';
import { sendFile } from './send-file.js';

export const handleGet: ActionHandler = async (conn, frame, context) => {
  const request = parseGetRequest(frame);
  let sent = 0;
  for (const [index, file] of request.files.entries()) {
    if (await sendFile(conn, context.storage, file, { id: request.id, index, chunkSize: request.chunkSize })) sent += 1;
  }
  const refused = request.files.length - sent;
  conn.send({ type: 'reply', id: request.id, status: STATUS.OK, code: 'ok', message: `${sent} sent, ${refused} refused` } satisfies Reply);
};
