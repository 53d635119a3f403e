/** Keep-alive `wait` frames while a request's work takes long (docs/PROTOCOL.md §5.2). */
import type { WaitNotice } from '../../protocol/messages.js';
import type { FramedConnection } from '../../transport/framed-connection.js';

/** Interval of `wait` frames while landing takes long (fsync of a large file, a busy disk). */
const WAIT_INTERVAL_MS = 5000;

/** Runs `work`, sending a `wait` frame every few seconds so the client's idle timer stays quiet. */
export async function withKeepAlive<T>(conn: FramedConnection, id: number, message: string, work: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => conn.send({ type: 'wait', id, message } satisfies WaitNotice), WAIT_INTERVAL_MS);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
