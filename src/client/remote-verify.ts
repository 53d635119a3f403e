/** `verify` on the client (docs/PROTOCOL.md §6.13): results and progress as they come, then the totals. */
import { ConnectionLostError, ProtocolError } from '../errors.js';
import { STATUS } from '../protocol/constants.js';
import { parseReply, replyError } from '../protocol/messages.js';
import { parseVerified, parseVerifySummary, type VerifyResult, type VerifySummary } from '../protocol/read-replies.js';
import type { ClientConnection } from './connection.js';

/** Asks the server to scrub `path`; nothing else may be outstanding on `link`. */
export async function verifyRemote(link: ClientConnection, path: string, onResult: (r: VerifyResult) => void, onProgress: (bytes: number) => void): Promise<VerifySummary> {
  const id = link.nextId();
  link.send({ action: 'verify', id, path });
  for (;;) {
    const frame = await link.receiveFrame();
    if (frame === null) throw new ConnectionLostError('the server closed the connection during a verify');
    if (frame.type === 'ping') continue;
    if (frame.type === 'wait') {
      if (typeof frame.done === 'number') onProgress(frame.done);
      continue;
    }
    if (frame.type === 'verified') {
      const batch = parseVerified(frame);
      if (batch.id !== id) throw new ProtocolError(`results for request ${batch.id} during verify ${id}`);
      batch.results.forEach(onResult);
      continue;
    }
    const reply = parseReply(frame);
    if (reply.id !== id) throw new ProtocolError(`expected the end of verify ${id}`);
    if (reply.status !== STATUS.OK) throw replyError(reply);
    return parseVerifySummary(frame);
  }
}
