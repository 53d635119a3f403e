/**
 * The client's one reader of server frames after the handshake: it runs while someone waits for a
 * reply, skips heartbeats, hands `wait` keep-alives and replies to whoever expects their `id`
 * (replies to putmany batches may come out of order, docs/PROTOCOL.md §1), each parsed as the
 * message that caller expects.
 */
import { ConnectionLostError } from '../errors.js';
import { STATUS } from '../protocol/constants.js';
import type { FrameObject } from '../protocol/frame.js';
import { parseReply, parseWaitNotice, replyError, type WaitNotice } from '../protocol/messages.js';

/** Someone waiting for the reply to one request: `deliver` parses it as the message expected. */
interface Expectation {
  deliver: (frame: FrameObject) => void;
  reject: (error: unknown) => void;
  onWait?: (notice: WaitNotice) => void;
}

/** Matches replies to requests by id over one connection's frames (`receive`). */
export class ReplyDispatcher {
  private readonly expected = new Map<number, Expectation[]>();
  private readonly unclaimed = new Map<number, FrameObject[]>();
  private reading = false;
  private failure: unknown;

  constructor(private readonly receive: () => Promise<FrameObject | null>) {}

  /**
   * Resolves with the next reply for `id`, parsed by `parse` (skipping keep-alives, which go to
   * `onWait`). A reply that is not 200 rejects with its StatusError; a malformed one with a
   * ProtocolError, which also fails every other pending request.
   */
  expect<T>(id: number, parse: (frame: FrameObject) => T, onWait?: (notice: WaitNotice) => void): Promise<T> {
    if (this.failure && !this.unclaimed.get(id)?.length) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const deliver = (frame: FrameObject): void => {
        const reply = parseReply(frame);
        if (reply.status !== STATUS.OK) return reject(replyError(reply));
        try {
          resolve(parse(frame));
        } catch (error) {
          reject(error);
          throw error;
        }
      };
      const early = this.unclaimed.get(id)?.shift();
      if (early) return this.deliverEarly(early, deliver, reject);
      const list = this.expected.get(id) ?? [];
      list.push({ deliver, reject, ...(onWait ? { onWait } : {}) });
      this.expected.set(id, list);
      void this.readReplies();
    });
  }

  /** A reply that arrived before anyone expected it; a malformed one fails the connection. */
  private deliverEarly(frame: FrameObject, deliver: (frame: FrameObject) => void, reject: (error: unknown) => void): void {
    try {
      deliver(frame);
    } catch (error) {
      this.fail(error);
      reject(error);
    }
  }

  /** Every pending and later request fails with `error`. */
  private fail(error: unknown): void {
    this.failure = error;
    for (const list of this.expected.values()) for (const e of list) e.reject(error);
    this.expected.clear();
  }

  /** The one reader: runs while someone expects a reply. */
  private async readReplies(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      while (this.expected.size > 0) {
        const frame = await this.receive();
        if (frame === null) throw new ConnectionLostError('the server closed the connection');
        const id = typeof frame.id === 'number' ? frame.id : -1;
        if (frame.type === 'ping') continue; // a heartbeat: it only proves the server is there
        if (frame.type === 'wait') {
          this.expected.get(id)?.[0]?.onWait?.(parseWaitNotice(frame));
          continue;
        }
        const reply = parseReply(frame);
        const waiting = this.expected.get(id);
        const first = waiting?.shift();
        if (waiting && waiting.length === 0) this.expected.delete(id);
        if (first) first.deliver(frame);
        else if (id < 0 && reply.status !== STATUS.OK) throw replyError(reply); // a refusal not tied to a request
        else this.unclaimed.set(id, [...(this.unclaimed.get(id) ?? []), frame]);
      }
    } catch (error) {
      this.fail(error);
    } finally {
      this.reading = false;
    }
  }
}
