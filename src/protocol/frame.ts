/**
 * Control frames: a 4-byte unsigned big-endian length, then that many bytes of UTF-8 JSON (an object).
 * FrameReader is a pure decoder (no I/O): push bytes in any pieces, pull frames or raw body bytes out.
 */
import { ProtocolError } from '../errors.js';
import { FRAME_HEADER_BYTES, MAX_FRAME_BYTES } from './constants.js';

/** A decoded control frame: a JSON object, not yet checked against a message shape. */
export type FrameObject = Record<string, unknown>;

// ignoreBOM: a byte-order mark is kept, so JSON.parse refuses it (senders must not send one).
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Encodes one JSON object as a length-prefixed frame. Throws if it would exceed `maxBytes`. */
export function encodeFrame(message: object, maxBytes = MAX_FRAME_BYTES): Buffer {
  const json = Buffer.from(JSON.stringify(message), 'utf8');
  if (json.length > maxBytes) {
    throw new ProtocolError(`frame of ${json.length} bytes exceeds the ${maxBytes}-byte limit`);
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + json.length);
  frame.writeUInt32BE(json.length, 0);
  json.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

/** Parses a frame payload: strict UTF-8, valid JSON, and a JSON object (not an array or scalar). */
export function parseFramePayload(payload: Uint8Array): FrameObject {
  let text: string;
  try {
    text = strictUtf8.decode(payload);
  } catch {
    throw new ProtocolError('frame payload is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolError('frame payload is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError('frame payload is not a JSON object');
  }
  return value as FrameObject;
}

/**
 * Accumulates received bytes and hands them out either as control frames or as raw body bytes,
 * in exactly the order they arrived. Which one to ask for is the caller's protocol state.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private length = 0;

  constructor(private readonly maxFrameBytes = MAX_FRAME_BYTES) {}

  /** Bytes received and not yet handed out. */
  get buffered(): number {
    return this.length;
  }

  /** Appends received bytes. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** Up to `max` of the buffered bytes, not consumed (to show what a peer sent that is not a frame). */
  peek(max: number): Buffer {
    return Buffer.concat(this.chunks, Math.min(this.length, max));
  }

  /** Replaces the buffered bytes by a copy: the buffers they were pushed in may be reused now. */
  own(): void {
    if (this.length === 0) return;
    this.chunks = [Buffer.concat(this.chunks, this.length)];
  }

  /** True when some bytes of an unfinished frame are buffered (EOF now would truncate a frame). */
  get midFrame(): boolean {
    return this.length > 0;
  }

  /**
   * Returns the next complete frame, or undefined if more bytes are needed.
   * Throws ProtocolError as soon as the length prefix is over the limit or the payload is invalid.
   */
  readFrame(): FrameObject | undefined {
    if (this.length < FRAME_HEADER_BYTES) return undefined;
    const payloadLength = this.peekHeader();
    if (payloadLength > this.maxFrameBytes) {
      throw new ProtocolError(`frame length ${payloadLength} exceeds the ${this.maxFrameBytes}-byte limit`);
    }
    if (this.length < FRAME_HEADER_BYTES + payloadLength) return undefined;
    const frame = this.take(FRAME_HEADER_BYTES + payloadLength);
    return parseFramePayload(frame.subarray(FRAME_HEADER_BYTES));
  }

  /** Returns up to `max` buffered bytes as body data (no copy when they sit in one chunk), or undefined. */
  readBody(max: number): Buffer | undefined {
    if (this.length === 0 || max <= 0) return undefined;
    const first = this.chunks[0]!;
    if (first.length <= max) {
      this.chunks.shift();
      this.length -= first.length;
      return first;
    }
    this.chunks[0] = first.subarray(max);
    this.length -= max;
    return first.subarray(0, max);
  }

  private peekHeader(): number {
    const first = this.chunks[0]!;
    if (first.length >= FRAME_HEADER_BYTES) return first.readUInt32BE(0);
    return this.peek(FRAME_HEADER_BYTES).readUInt32BE(0);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) {
      this.length -= n;
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const used = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, used);
      filled += used;
      if (used === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(used);
    }
    this.length -= n;
    return out;
  }
}
