/**
 * Connections by client id (docs/PROTOCOL.md §4.4). A client runs one connection per job at a time,
 * so a new connection with the id of an older one means the older one is dead from the client's side,
 * though this server may not have noticed (no close arrived: a dead path, a suspended laptop). The
 * older one is dropped as broken, which keeps its partials and frees the names it held, before the
 * new one is welcomed. The id is the client's secret: another client cannot present it.
 */
import { performance } from 'node:perf_hooks';
import { ConnectionLostError } from '../errors.js';
import type { FramedConnection } from '../transport/framed-connection.js';

/** Longest wait for the dropped connections to let go of what they held. */
const TAKE_OVER_WAIT_MS = 5000;
/**
 * A connection that received something this recently is alive: it is not taken over (two runs of
 * the same job at once would otherwise drop each other in turn).
 */
const ALIVE_WITHIN_MS = 1000;

interface Member {
  conn: FramedConnection;
  finished: Promise<void>;
}

/** The connections of each client id, and the take-over between them. */
export class ClientRegistry {
  private readonly byId = new Map<string, Set<Member>>();

  /**
   * Drops the quiet earlier connections of `clientId`, waits (bounded) until their sessions have
   * ended, and registers `conn`; returns the function to call when `conn`'s session ends.
   */
  async join(clientId: string, conn: FramedConnection): Promise<() => void> {
    const members = this.byId.get(clientId) ?? new Set<Member>();
    this.byId.set(clientId, members);
    const now = performance.now();
    const dead = [...members].filter((m) => now - m.conn.lastReceivedAt >= ALIVE_WITHIN_MS);
    for (const m of dead) m.conn.drop(new ConnectionLostError('a newer connection of the same client took over'));
    if (dead.length > 0) {
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, TAKE_OVER_WAIT_MS).unref());
      await Promise.race([Promise.all(dead.map((m) => m.finished)), timeout]);
    }
    let leave: () => void = () => undefined;
    const member: Member = { conn, finished: new Promise<void>((resolve) => (leave = resolve)) };
    members.add(member);
    return () => {
      members.delete(member);
      if (members.size === 0 && this.byId.get(clientId) === members) this.byId.delete(clientId);
      leave();
    };
  }
}
