/** The `check` action: for each name, does the server have it identical (size + mtime, and md5)? */
import { STATUS } from '../../protocol/constants.js';
import { parseCheckRequest, type CheckReply } from '../../protocol/messages.js';
import type { ActionHandler } from '../context.js';

export const handleCheck: ActionHandler = async (conn, frame, context) => {
  const request = parseCheckRequest(frame);
  const answers = await context.uploads.check(request.files);
  const results = request.files.map((file, i) => ({ filename: file.filename, ...answers[i]! }));
  conn.send({ type: 'reply', id: request.id, status: STATUS.OK, code: 'ok', message: 'checked', results } satisfies CheckReply);
};
