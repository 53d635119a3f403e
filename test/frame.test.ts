import { describe, expect, it } from 'vitest';
import { FtxError } from '../src/errors.js';
import { MAX_FRAME_BYTES } from '../src/protocol/constants.js';
import { encodeFrame, FrameReader, type FrameObject } from '../src/protocol/frame.js';
import {
  asRequest, parseClientHello, parseEndRequest, parsePutRequest, parsePutVerdict, parseReply, parseServerHello,
} from '../src/protocol/messages.js';

/** One of every frame type the protocol has. */
const FRAMES: FrameObject[] = [
  { type: 'hello', protocol: 1, server: 'ftx/0.1.0', auth: 'hmac-sha256', nonce: 'ab'.repeat(32), actions: ['put'], maxFrame: 65536 },
  { action: 'hello', protocol: 1, client: 'ftx/0.1.0', hmac: 'cd'.repeat(32) },
  { action: 'put', id: 7, filename: 'dir/é €/file.bin', size: 4097, chunkSize: 4096, overwrite: false, mtime: 1700000000000 },
  { type: 'reply', id: 7, status: 200, code: 'ok', message: 'send the body', offset: 0 },
  { action: 'end', id: 7, md5: '0123456789abcdef0123456789abcdef' },
  { type: 'reply', id: 7, status: 200, code: 'ok', message: 'stored', receipt: { filename: 'a', size: 1, md5: 'f'.repeat(32) } },
  { type: 'reply', id: 7, status: 422, code: 'checksum_mismatch', message: 'md5 mismatch' },
];

function errorCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof FtxError ? error.code : 'not-ftx-error';
  }
  return undefined;
}

function decodeAll(pieces: Buffer[]): FrameObject[] {
  const reader = new FrameReader();
  const out: FrameObject[] = [];
  for (const piece of pieces) {
    reader.push(piece);
    for (let frame = reader.readFrame(); frame !== undefined; frame = reader.readFrame()) out.push(frame);
  }
  expect(reader.buffered).toBe(0);
  return out;
}

describe('frame codec', () => {
  it('round-trips every frame type', () => {
    for (const frame of FRAMES) {
      const encoded = encodeFrame(frame);
      expect(encoded.readUInt32BE(0)).toBe(encoded.length - 4);
      expect(decodeAll([encoded])).toEqual([frame]);
    }
  });

  it('decodes each frame identically when split at every byte offset', () => {
    for (const frame of FRAMES) {
      const encoded = encodeFrame(frame);
      for (let cut = 0; cut <= encoded.length; cut++) {
        expect(decodeAll([encoded.subarray(0, cut), encoded.subarray(cut)])).toEqual([frame]);
      }
    }
  });

  it('decodes a stream fed one byte at a time, and several frames in one chunk', () => {
    const stream = Buffer.concat(FRAMES.map((f) => encodeFrame(f)));
    const bytes = [...stream].map((b) => Buffer.from([b]));
    expect(decodeAll(bytes)).toEqual(FRAMES);
    expect(decodeAll([stream])).toEqual(FRAMES);
  });

  it('hands out body bytes and frames in arrival order', () => {
    const body = Buffer.from('0123456789');
    const end = FRAMES[4]!;
    const wire = Buffer.concat([body, encodeFrame(end)]);
    for (let cut = 0; cut <= wire.length; cut++) {
      const reader = new FrameReader();
      reader.push(wire.subarray(0, cut));
      reader.push(wire.subarray(cut));
      const got: Buffer[] = [];
      let remaining = body.length;
      for (let piece = reader.readBody(remaining); piece; piece = reader.readBody(remaining)) {
        got.push(piece);
        remaining -= piece.length;
      }
      expect(Buffer.concat(got).equals(body)).toBe(true);
      expect(reader.readFrame()).toEqual(end);
    }
  });

  it('rejects an oversized length as soon as the prefix arrives', () => {
    const reader = new FrameReader();
    const header = Buffer.alloc(4);
    header.writeUInt32BE(MAX_FRAME_BYTES + 1);
    reader.push(header);
    expect(errorCode(() => reader.readFrame())).toBe('protocol_error');
    const huge = Buffer.from([0xff, 0xff, 0xff, 0xff]);
    const other = new FrameReader();
    other.push(huge);
    expect(errorCode(() => other.readFrame())).toBe('protocol_error');
  });

  it('accepts a payload of exactly the limit', () => {
    const filler = 'x'.repeat(MAX_FRAME_BYTES - '{"action":"put","p":""}'.length);
    const encoded = encodeFrame({ action: 'put', p: filler });
    expect(encoded.length).toBe(MAX_FRAME_BYTES + 4);
    expect(decodeAll([encoded])[0]!.p).toBe(filler);
    expect(errorCode(() => encodeFrame({ action: 'put', p: `${filler}x` }))).toBe('protocol_error');
  });

  it('waits on a truncated frame and never invents one', () => {
    const encoded = encodeFrame(FRAMES[2]!);
    const reader = new FrameReader();
    reader.push(encoded.subarray(0, encoded.length - 1));
    expect(reader.readFrame()).toBeUndefined();
    expect(reader.midFrame).toBe(true);
  });

  it.each([
    ['invalid JSON', Buffer.from('{"action":')],
    ['a JSON array', Buffer.from('[1,2]')],
    ['a JSON string', Buffer.from('"put"')],
    ['null', Buffer.from('null')],
    ['an empty payload', Buffer.alloc(0)],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
  ])('rejects %s as a protocol error', (_name, payload) => {
    const header = Buffer.alloc(4);
    header.writeUInt32BE(payload.length);
    const reader = new FrameReader();
    reader.push(Buffer.concat([header, payload]));
    expect(errorCode(() => reader.readFrame())).toBe('protocol_error');
  });
});

describe('message shapes', () => {
  it('requires a string action on requests', () => {
    expect(errorCode(() => asRequest({ type: 'put' }))).toBe('protocol_error');
    expect(errorCode(() => asRequest({ action: 42 }))).toBe('protocol_error');
    expect(asRequest({ action: 'nope' }).action).toBe('nope');
  });

  it('parses valid requests and replies', () => {
    expect(parseServerHello(FRAMES[0]!).nonce).toBe('ab'.repeat(32));
    expect(parseClientHello(asRequest(FRAMES[1]!)).hmac).toBe('cd'.repeat(32));
    expect(parsePutRequest(asRequest(FRAMES[2]!)).size).toBe(4097);
    expect(parseEndRequest(asRequest(FRAMES[4]!), 7).md5).toBe('0123456789abcdef0123456789abcdef');
    expect(parsePutVerdict(FRAMES[5]!).receipt?.size).toBe(1);
  });

  it.each([
    [{ filename: 'a', size: -1 }],
    [{ filename: 'a', size: 1.5 }],
    [{ filename: 'a', size: '10' }],
    [{ filename: 'a', size: 2 ** 53 }],
    [{ filename: 7, size: 1 }],
    [{ filename: 'a', size: 1, chunkSize: 1 }],
    [{ filename: 'a', size: 1, overwrite: 'yes' }],
    [{ filename: 'a', size: 1, id: -2 }],
  ])('refuses a put with a wrong field as bad_request: %j', (fields) => {
    expect(errorCode(() => parsePutRequest(asRequest({ action: 'put', id: 1, ...fields })))).toBe('bad_request');
  });

  it('refuses a wrong trailer as a protocol error', () => {
    expect(errorCode(() => parseEndRequest(asRequest({ action: 'put' }), 1))).toBe('protocol_error');
    expect(errorCode(() => parseEndRequest(asRequest({ action: 'end', id: 2, md5: 'a'.repeat(32) }), 1))).toBe('protocol_error');
    expect(errorCode(() => parseEndRequest(asRequest({ action: 'end', id: 1, md5: 'A'.repeat(32) }), 1))).toBe('protocol_error');
  });

  it('refuses a peer that is not an ftx server', () => {
    expect(errorCode(() => parseServerHello({ type: 'reply' }))).toBe('protocol_error');
    expect(errorCode(() => parseReply({ type: 'reply', status: 'ok', code: 'x' }))).toBe('protocol_error');
  });
});
