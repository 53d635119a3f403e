/** The `get` action (docs/PROTOCOL.md §6.11): each asked-for file as header, data frames and trailer. */
import { StatusError } from '../../errors.js';
import { STATUS } from '../../protocol/constants.js';
import type { Reply } from '../../protocol/messages.js';
import { parseGetRequest } from '../../protocol/read-requests.js';
import type { ActionHandler } from '../context.js';
import { openAhead, sendFile, type Opened } from './send-file.js';

/** Files looked up and opened ahead of the one being sent (bounded: each holds a descriptor and a read buffer). */
const OPEN_AHEAD = 8;

function asRefusal(error: unknown): StatusError {
  return error instanceof StatusError ? error : new StatusError(STATUS.INTERNAL, 'internal', 'reading the stored file failed');
}

export const handleGet: ActionHandler = async (conn, frame, context) => {
  const request = parseGetRequest(frame);
  let sent = 0;
  const ahead: Promise<Opened>[] = [];
  const open = (i: number): void => {
    const file = request.files[i];
    // A failure here is the file's own (its turn reports it); never an unhandled rejection.
    if (file) ahead.push(openAhead(context.storage, file).catch((error: unknown) => ({ stored: asRefusal(error) })));
  };
  for (let i = 0; i < Math.min(OPEN_AHEAD, request.files.length); i++) open(i);
  try {
    for (const [index, file] of request.files.entries()) {
      const opened = await ahead[index]!;
      open(index + OPEN_AHEAD);
      if (await sendFile(conn, context.storage, file, { id: request.id, index, chunkSize: request.chunkSize }, opened)) sent += 1;
    }
  } finally {
    // The connection broke: close what was opened ahead and not sent.
    for (const pending of ahead) void pending.then((o) => o.stream?.destroy());
  }
  const refused = request.files.length - sent;
  conn.send({ type: 'reply', id: request.id, status: STATUS.OK, code: 'ok', message: `${sent} sent, ${refused} refused` } satisfies Reply);
};
