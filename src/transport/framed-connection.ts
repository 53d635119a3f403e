/**
 * A framed ftx connection over a stream socket (TCP or TLS): send frames and raw body bytes
 * with backpressure, receive frames and body bytes in arrival order, idle timeout, clean close.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ConnectionLostError, ProtocolError } from '../errors.js';
import { encodeFrame, FrameReader, type FrameObject } from '../protocol/frame.js';
import { DATA_FRAME_HEADER_BYTES, HEARTBEAT_DATA_FRAME, MAX_FRAME_BYTES } from '../protocol/constants.js';
import { deadAfterMs, startHeartbeat, type HeartbeatOptions } from './heartbeat.js';
import { readIntoReusableBuffer, takeEarlyClaim } from './reusable-read.js';

/** Pause reading from the socket when this many received bytes wait for a consumer. */
const MAX_UNCONSUMED_BYTES = 1024 * 1024;
/** Size of the one buffer a connection reads into, with `reuseReadBuffer` (Node's own reads are 64 KiB). */
const REUSED_READ_BUFFER_BYTES = 64 * 1024;

/**
 * Called with each piece of body data. Return a promise to apply backpressure: no more data is
 * delivered (and the socket is paused) until it settles; a rejection aborts the body read.
 * The chunk may be a view into a buffer that is read into again after the call returns: a handler
 * that keeps bytes beyond the call copies them.
 */
export type BodyHandler = (chunk: Buffer) => Promise<void> | void;

/** Options of a FramedConnection. */
export interface FramedConnectionOptions {
  /** Destroy the connection when nothing is received or sent for this long (0 = never). */
  idleTimeoutMs?: number;
  /** Largest frame payload accepted from the peer. */
  maxFrameBytes?: number;
  /**
   * Read into one reusable buffer instead of a fresh one per read, on a socket that reads nothing yet
   * (a server's accepted socket, created with pauseOnConnect). Body chunks handed to a BodyHandler are
   * then valid only during the call. A TLS socket whose reads tls-accept.ts claimed before its
   * handshake reads into that claim's buffer, with or without this option.
   */
  reuseReadBuffer?: boolean;
}

/** One framed connection. Reading is pull-based: one pending receive/readBody at a time. */
export class FramedConnection {
  readonly socket: Socket;
  private readonly reader: FrameReader;
  private wake: (() => void) | undefined;
  private failure: Error | undefined;
  private ended = false;
  private discarding = false;
  private corked = false;

  constructor(socket: Socket, options: FramedConnectionOptions = {}) {
    this.socket = socket;
    this.reader = new FrameReader(options.maxFrameBytes ?? MAX_FRAME_BYTES);
    socket.setNoDelay(true);
    const onRead = (chunk: Buffer): boolean => this.onChunk(chunk, true);
    // A socket whose reads were claimed before the handshake (an accepted TLS socket) reads only that way.
    this.reusesReadBuffer = takeEarlyClaim(socket, onRead) || (options.reuseReadBuffer === true
      && readIntoReusableBuffer(socket, Buffer.allocUnsafeSlow(REUSED_READ_BUFFER_BYTES), onRead));
    if (!this.reusesReadBuffer) socket.on('data', (chunk: Buffer) => this.onChunk(chunk, false));
    socket.on('end', () => {
      this.ended = true;
      this.wake?.();
    });
    socket.on('error', (error) => this.fail(new ConnectionLostError(`connection error: ${error.message}`, { cause: error })));
    socket.on('close', () => this.fail(new ConnectionLostError('connection closed by peer')));
    this.idleTimeoutMs = options.idleTimeoutMs ?? 0;
    socket.on('timeout', () => {
      const error = new ConnectionLostError(`no data for ${Math.round(this.idleTimeoutMs / 1000)} s: idle timeout`);
      this.fail(error);
      socket.destroy(error);
    });
    this.setIdleTimeout(this.idleTimeoutMs);
  }

  /**
   * Bytes from the socket: handed to the waiting consumer, else buffered (reading pauses past
   * MAX_UNCONSUMED_BYTES; false tells a reusable-buffer reader to stop). A `transient` chunk sits in
   * the reusable read buffer: consumers copy what they keep during wake(), and what is left
   * unconsumed is copied out before the buffer is read into again.
   */
  private onChunk(chunk: Buffer, transient: boolean): boolean {
    this.lastReceivedAt = performance.now();
    if (this.discarding) return true;
    if (this.wake) {
      this.reader.push(chunk);
      this.wake();
      // Usually little or nothing is left: the end of a chunk that holds the start of a frame.
      if (transient) this.reader.own();
    } else {
      this.reader.push(transient ? Buffer.from(chunk) : chunk);
    }
    if (this.wake || this.reader.buffered <= this.readAheadBytes) return true;
    this.socket.pause();
    return false;
  }

  /**
   * Received bytes buffered while nobody waits for them before reading pauses (a server keeps this
   * small until the peer has authenticated).
   */
  readAheadBytes = MAX_UNCONSUMED_BYTES;

  /**
   * True while this side sends a body of data frames (a download, docs/PROTOCOL.md §6.11): no control
   * frame may go out then, so a heartbeat is the data frame FF FF FF FF instead of a ping.
   */
  sendingDataFrames = false;

  /**
   * Set by a TLS server: the token id the client proved in the TLS handshake (its PSK identity,
   * docs/PROTOCOL.md §14). The session then needs no in-band proof.
   */
  tlsTokenId: string | undefined;

  /** Reads go into one reusable buffer (claimed before a TLS handshake, or asked for with `reuseReadBuffer`), as this Node allows. */
  readonly reusesReadBuffer: boolean;

  /**
   * Current idle timeout in ms (0 = none): nothing received or sent for this long. With heartbeats,
   * nothing received from the peer for this long (see startHeartbeat).
   */
  idleTimeoutMs: number;
  private idleTimerSet = false;

  /** Changes the idle timeout (0 disables it); e.g. longer while the peer re-reads a large prefix. */
  setIdleTimeout(ms: number): void {
    if (ms === this.idleTimeoutMs && this.idleTimerSet) return;
    this.idleTimerSet = true;
    this.idleTimeoutMs = ms;
    if (!this.heartbeating) this.socket.setTimeout(ms);
  }

  /** performance.now() of the last bytes received and sent (heartbeat bookkeeping). */
  lastReceivedAt = performance.now();
  lastSentAt = performance.now();
  /** Since when a receive or body read waits for the peer's bytes; undefined when none waits. */
  waitingSince: number | undefined;
  /** True once both hellos agreed on heartbeats (docs/PROTOCOL.md §10.1). */
  heartbeating = false;

  /**
   * Turns heartbeats on: `options.ping` is called when nothing was sent for an interval, and the
   * idle timeout becomes "the peer sent nothing for DEAD_AFTER_INTERVALS intervals" instead of the
   * socket's idle timer (which our own heartbeats would keep quiet). Stream bodies may then carry
   * heartbeat data frames.
   */
  startHeartbeat(options: HeartbeatOptions): void {
    if (this.heartbeating) return;
    this.heartbeating = true;
    this.socket.setTimeout(0);
    this.idleTimeoutMs = deadAfterMs(options.intervalMs);
    const stop = startHeartbeat(this, options);
    if (this.socket.closed) stop();
    else this.socket.once('close', stop);
  }

  /** True while frames may still be written (not ended, not discarding after a refusal). */
  get canSend(): boolean {
    return this.socket.writable && !this.socket.writableEnded && !this.discarding;
  }

  /**
   * True once the socket is gone (closed, reset or destroyed): what is still buffered from it must
   * not be acted on (docs/PROTOCOL.md §9.8), and nothing more can be sent.
   */
  get gone(): boolean {
    return this.socket.destroyed;
  }

  /** Fails the connection as broken (a dead peer). */
  drop(error: ConnectionLostError): void {
    this.fail(error);
    this.socket.destroy(error);
  }

  /** Peer address as "host:port" ("[v6]:port" for IPv6). */
  get peer(): string {
    const { remoteAddress, remotePort } = this.socket;
    if (!remoteAddress) return 'unknown';
    return remoteAddress.includes(':') ? `[${remoteAddress}]:${remotePort}` : `${remoteAddress}:${remotePort}`;
  }

  /**
   * Sends one control frame. Frames sent in the same tick leave in one write (the socket is corked
   * until the next tick): many replies in one tick cost one system call, not one each.
   * Returns false when the socket buffer is full (see drain()).
   */
  send(message: object): boolean {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.lastSentAt = performance.now();
    return this.socket.write(encodeFrame(message));
  }

  /**
   * Sends raw body bytes. `onDone` runs once the kernel has accepted them (no argument) or the
   * connection failed first (with the error). False = the socket buffer is over its mark.
   */
  sendRaw(data: Buffer, onDone?: (error?: Error) => void): boolean {
    this.lastSentAt = performance.now();
    return this.socket.write(data, onDone ? (error) => onDone(error ?? undefined) : undefined);
  }

  /** Resolves when the socket's write buffer has drained; rejects if the connection fails first. */
  drain(): Promise<void> {
    if (!this.socket.writableNeedDrain) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const onDrain = (): void => { cleanup(); resolve(); };
      const onClose = (): void => { cleanup(); reject(this.failure ?? new ConnectionLostError('connection closed while sending')); };
      const cleanup = (): void => { this.socket.off('drain', onDrain); this.socket.off('close', onClose); };
      this.socket.on('drain', onDrain);
      this.socket.on('close', onClose);
    });
  }

  /** Up to `max` received bytes not yet consumed, without consuming them. */
  peekReceived(max: number): Buffer {
    return this.reader.peek(max);
  }

  /**
   * Resolves with the next control frame, or null when the peer closed cleanly between frames.
   * Rejects with ProtocolError on a malformed frame, ConnectionLostError on a broken connection.
   */
  receive(): Promise<FrameObject | null> {
    return this.pull(() => {
      const frame = this.reader.readFrame();
      if (frame !== undefined) return { value: frame };
      if (this.ended) {
        if (this.reader.midFrame) throw new ConnectionLostError('connection closed in the middle of a frame');
        return { value: null };
      }
      return undefined;
    });
  }

  /** Delivers exactly `size` body bytes to `onData`, honouring the backpressure it asks for. */
  readBody(size: number, onData: BodyHandler): Promise<void> {
    let remaining = size;
    return this.pull(() => {
      while (remaining > 0) {
        const chunk = this.reader.readBody(remaining);
        if (chunk === undefined) break;
        remaining -= chunk.length;
        const wait = onData(chunk);
        if (wait) return { wait };
      }
      if (remaining === 0) return { value: undefined };
      if (this.ended) throw new ConnectionLostError(`connection closed with ${remaining} body bytes missing`);
      return undefined;
    });
  }

  /**
   * Delivers the payloads of a stream body (docs/PROTOCOL.md, "Stream bodies"): data frames of a
   * 4-byte big-endian length (at most `maxLength`) and that many bytes, ended by a zero length.
   * Resolves with the total payload bytes. A longer frame is a protocol error.
   */
  readDataFrames(maxLength: number, onData: BodyHandler): Promise<number> {
    const header = Buffer.alloc(DATA_FRAME_HEADER_BYTES);
    let headerBytes = 0;
    let need = -1; // payload bytes still due in the current frame; -1 while reading a header
    let total = 0;
    return this.pull<number>(() => {
      for (;;) {
        if (need < 0) {
          while (headerBytes < DATA_FRAME_HEADER_BYTES) {
            const piece = this.reader.readBody(DATA_FRAME_HEADER_BYTES - headerBytes);
            if (piece === undefined) break;
            piece.copy(header, headerBytes);
            headerBytes += piece.length;
          }
          if (headerBytes < DATA_FRAME_HEADER_BYTES) return this.moreOrLost('inside a data frame header');
          headerBytes = 0;
          need = header.readUInt32BE(0);
          // A heartbeat inside the body (a slow producer): no payload, the next header follows.
          if (need === HEARTBEAT_DATA_FRAME && this.heartbeating) {
            need = -1;
            continue;
          }
          if (need > maxLength) throw new ProtocolError(`data frame of ${need} bytes exceeds the chunk size ${maxLength}`);
          if (need === 0) return { value: total };
        }
        while (need > 0) {
          const chunk = this.reader.readBody(need);
          if (chunk === undefined) return this.moreOrLost('inside a data frame');
          need -= chunk.length;
          total += chunk.length;
          if (need === 0) need = -1;
          const wait = onData(chunk);
          if (wait) return { wait };
        }
        if (need === 0) need = -1;
      }
    });
  }

  private moreOrLost(where: string): undefined {
    if (this.ended) throw new ConnectionLostError(`connection closed ${where}`);
    return undefined;
  }

  /**
   * Closes after a refusal the peer may not expect mid-body: sends FIN after pending writes, then
   * discards what still arrives for up to `lingerMs` so the peer reads our reply instead of a reset.
   */
  closeAfterReply(lingerMs = 2000): void {
    this.discarding = true;
    this.socket.end();
    this.socket.resume();
    const timer = setTimeout(() => this.socket.destroy(), lingerMs);
    timer.unref();
    this.socket.once('close', () => clearTimeout(timer));
  }

  /** Half-closes (sends FIN) after pending writes; the peer sees a clean end. */
  end(): void {
    this.socket.end();
  }

  /** Closes at once. */
  destroy(error?: Error): void {
    this.socket.destroy(error);
  }

  /** Resolves when the socket is fully closed. */
  closed(): Promise<void> {
    if (this.socket.closed) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.wake?.();
  }

  /**
   * Runs `attempt` now and after every arrival of data until it yields a value, asks to wait for a
   * consumer's promise, or throws. The socket flows only while someone is waiting for bytes.
   */
  private pull<T>(attempt: () => { value: T } | { wait: Promise<void> } | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const finish = (error: unknown, value?: T): void => {
        this.wake = undefined;
        this.waitingSince = undefined;
        if (error !== undefined) reject(error);
        else resolve(value as T);
      };
      const step = (): void => {
        let result: ReturnType<typeof attempt>;
        try {
          result = attempt();
        } catch (error) {
          finish(error);
          return;
        }
        if (result === undefined) {
          if (this.failure) {
            finish(this.failure);
            return;
          }
          if (this.wake === undefined) this.waitingSince = performance.now();
          this.wake = step;
          this.socket.resume();
          return;
        }
        if ('wait' in result) {
          this.wake = undefined;
          this.waitingSince = undefined;
          this.socket.pause();
          result.wait.then(step, (error: unknown) => finish(error));
          return;
        }
        finish(undefined, result.value);
      };
      step();
    });
  }
}
