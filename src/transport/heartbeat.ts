/**
 * Application-level heartbeats (docs/PROTOCOL.md §10.1): TCP alone notices a silent peer (a dead
 * path, a suspended laptop, a NAT that forgot the flow) only after minutes, and a pause of the local
 * producer is not the peer going silent. Once both hellos agreed, each side sends a heartbeat when it
 * has sent nothing for one interval, and takes the peer for dead after DEAD_AFTER_INTERVALS of
 * silence from it.
 */
import { performance } from 'node:perf_hooks';
import { ConnectionLostError } from '../errors.js';
import { DEAD_AFTER_INTERVALS } from '../protocol/constants.js';

/** How a connection keeps itself and its peer's liveness in view. */
export interface HeartbeatOptions {
  /** Send a heartbeat when nothing was sent for this long (the interval of the server's hello). */
  intervalMs: number;
  /** Sends the heartbeat the protocol state allows (a ping frame, a heartbeat data frame, or nothing). */
  ping: () => void;
  /**
   * Count the peer's silence only while this side waits to read from it (a server: while it works
   * on a request, the client waits and owes it nothing).
   */
  onlyWhileReading: boolean;
}

/** What the heartbeat needs of a connection (a FramedConnection). */
export interface HeartbeatHost {
  /** performance.now() of the last bytes received, and sent. */
  readonly lastReceivedAt: number;
  readonly lastSentAt: number;
  /** performance.now() since which a read waits for the peer; undefined when none waits. */
  readonly waitingSince: number | undefined;
  /** Peer silence tolerated, in ms (0 = not checked); adjustable per request. */
  readonly idleTimeoutMs: number;
  /** True while frames may still be written. */
  readonly canSend: boolean;
  /** Fails the connection as broken. */
  drop(error: ConnectionLostError): void;
}

/** Starts the heartbeat of `host`; returns a stop function (also called on close by the caller). */
export function startHeartbeat(host: HeartbeatHost, options: HeartbeatOptions): () => void {
  const tick = (): void => {
    const now = performance.now();
    if (host.canSend && now - host.lastSentAt >= options.intervalMs) options.ping();
    if (host.idleTimeoutMs <= 0) return;
    const waiting = host.waitingSince;
    if (options.onlyWhileReading && waiting === undefined) return;
    const since = Math.max(host.lastReceivedAt, options.onlyWhileReading ? waiting! : 0);
    if (now - since > host.idleTimeoutMs) {
      host.drop(new ConnectionLostError(`the peer sent nothing for ${(host.idleTimeoutMs / 1000).toFixed(1)} s (no heartbeat): connection dead`));
    }
  };
  // A few ticks per interval: a heartbeat leaves at most a quarter interval late.
  const timer = setInterval(tick, Math.max(25, options.intervalMs / 4));
  timer.unref();
  return () => clearInterval(timer);
}

/** The silence after which a peer that agreed to heartbeats of `intervalMs` counts as dead. */
export function deadAfterMs(intervalMs: number): number {
  return DEAD_AFTER_INTERVALS * intervalMs;
}
