import { describe, expect, it } from 'vitest';
import { FtxError } from '../src/errors.js';
import { encodeFrame, FrameReader, type FrameObject } from '../src/protocol/frame.js';
import type { Request } from '../src/protocol/messages.js';
import {
  parseFileEnd, parseFileHeader, parseListPage, parseVerified, parseVerifySummary,
} from '../src/protocol/read-replies.js';
import {
  MAX_GET_FILES, MAX_LIST_LIMIT, parseGetRequest, parseListRequest, parseVerifyRequest,
} from '../src/protocol/read-requests.js';
import { ACTION_SCOPES, missingScopeCode } from '../src/protocol/scopes.js';

const MD5 = '5d41402abc4b2a76b9719d911017c592';

/** One of every read-side frame, both directions. */
const FRAMES: FrameObject[] = [
  { action: 'get', id: 1, files: [{ filename: 'a/é.txt', offset: 4096, match: { size: 10000, mtime: 1700000000000, md5: MD5 } }], chunkSize: 65536 },
  { type: 'file', id: 1, index: 0, status: 200, code: 'ok', filename: 'a/é.txt', size: 5, mtime: 1700000000000, mode: 420, md5: null, offset: 0 },
  { type: 'end', id: 1, index: 0, status: 200, code: 'ok', md5: MD5 },
  { action: 'list', id: 2, path: 'site', recursive: true, cursor: 'c1', limit: 10 },
  { type: 'reply', id: 2, status: 200, code: 'ok', message: 'listed', entries: [{ name: 'site/a', type: 'file', size: 5, mtime: 0, mode: 420, md5: MD5 }], nextCursor: null },
  { action: 'verify', id: 3, path: '' },
  { type: 'verified', id: 3, results: [{ filename: 'a', state: 'corrupt', size: 5, md5: MD5, recorded: 'f'.repeat(32) }] },
];

function decodeAll(pieces: Buffer[]): FrameObject[] {
  const reader = new FrameReader();
  const out: FrameObject[] = [];
  for (const piece of pieces) {
    reader.push(piece);
    for (let f = reader.readFrame(); f !== undefined; f = reader.readFrame()) out.push(f);
  }
  return out;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof FtxError ? error.code : 'not-ftx-error';
  }
  return undefined;
}

const req = (f: Record<string, unknown>): Request => f as Request;

describe('read-side frames', () => {
  it('decode identically when split at every byte offset, and parse', () => {
    for (const frame of FRAMES) {
      const encoded = encodeFrame(frame);
      for (let cut = 0; cut <= encoded.length; cut++) {
        expect(decodeAll([encoded.subarray(0, cut), encoded.subarray(cut)])).toEqual([frame]);
      }
    }
    expect(parseGetRequest(req(FRAMES[0]!)).files[0]).toEqual({ filename: 'a/é.txt', offset: 4096, match: { size: 10000, mtime: 1700000000000, md5: MD5 } });
    expect(parseFileHeader(FRAMES[1]!).md5).toBeNull();
    expect(parseFileEnd(FRAMES[2]!).md5).toBe(MD5);
    expect(parseListRequest(req(FRAMES[3]!))).toEqual({ action: 'list', id: 2, path: 'site', recursive: true, cursor: 'c1', limit: 10 });
    expect(parseListPage(FRAMES[4]!).entries[0]!.md5).toBe(MD5);
    expect(parseVerifyRequest(req(FRAMES[5]!)).path).toBe('');
    expect(parseVerified(FRAMES[6]!).results[0]!.state).toBe('corrupt');
  });

  it('applies the documented defaults', () => {
    expect(parseGetRequest(req({ action: 'get', id: 0, files: [{ filename: 'x' }] }))).toEqual({
      action: 'get', id: 0, files: [{ filename: 'x', offset: 0 }], chunkSize: 262144,
    });
    expect(parseListRequest(req({ action: 'list', id: 0 }))).toEqual({ action: 'list', id: 0, path: '', recursive: false, limit: MAX_LIST_LIMIT });
    expect(parseVerifyRequest(req({ action: 'verify', id: 9 }))).toEqual({ action: 'verify', id: 9, path: '' });
  });

  it('refuses malformed requests with bad_request', () => {
    const many = Array.from({ length: MAX_GET_FILES + 1 }, (_, i) => ({ filename: `f${i}` }));
    const bad: Record<string, unknown>[] = [
      { action: 'get', files: [{ filename: 'x' }] },
      { action: 'get', id: -1, files: [{ filename: 'x' }] },
      { action: 'get', id: 1, files: [] },
      { action: 'get', id: 1, files: many },
      { action: 'get', id: 1, files: 'x' },
      { action: 'get', id: 1, files: [null] },
      { action: 'get', id: 1, files: [{ filename: 7 }] },
      { action: 'get', id: 1, files: [{ filename: 'x', offset: 1.5 }] },
      { action: 'get', id: 1, files: [{ filename: 'x', offset: -1 }] },
      { action: 'get', id: 1, files: [{ filename: 'x', match: { size: 1, mtime: 0 } }] },
      { action: 'get', id: 1, files: [{ filename: 'x', match: { size: 1, mtime: 0, md5: 'ABC' } }] },
      { action: 'get', id: 1, files: [{ filename: 'x' }], chunkSize: 100 },
      { action: 'get', id: 1, files: [{ filename: 'x'.repeat(25 * 1024) }] },
      { action: 'list', id: 1, path: 3 },
      { action: 'list', id: 1, recursive: 'yes' },
      { action: 'list', id: 1, cursor: '' },
      { action: 'list', id: 1, cursor: 'c'.repeat(8193) },
      { action: 'list', id: 1, limit: 0 },
      { action: 'list', id: 1, limit: MAX_LIST_LIMIT + 1 },
      { action: 'verify', id: 'x' },
      { action: 'verify', id: 1, path: null },
      { action: 'list', id: 1, limit: null },
      { action: 'get', id: 1, files: [{ filename: 'x', offset: null }] },
      { action: 'get', id: 1, files: [{ filename: 'x' }], chunkSize: null },
    ];
    for (const frame of bad) {
      const parse = frame.action === 'get' ? parseGetRequest : frame.action === 'list' ? parseListRequest : parseVerifyRequest;
      expect(codeOf(() => parse(req(frame))), JSON.stringify(frame).slice(0, 80)).toBe('bad_request');
    }
  });

  it('takes a malformed server frame for a protocol error (the server is not trusted)', () => {
    const header = FRAMES[1]!;
    const bad: [(f: FrameObject) => unknown, FrameObject][] = [
      [parseFileHeader, { ...header, type: 'reply' }],
      [parseFileHeader, { ...header, offset: 6 }],
      [parseFileHeader, { ...header, size: -1 }],
      [parseFileHeader, { ...header, md5: 'x' }],
      [parseFileHeader, { ...header, filename: undefined }],
      [parseFileHeader, { ...header, mode: 0o1000 }],
      [parseFileHeader, { ...header, index: 'a' }],
      [parseFileEnd, { type: 'end', id: 1, index: 0, status: 200, code: 'ok' }],
      [parseFileEnd, { type: 'end', id: 1, index: 0, status: 200, code: 'ok', md5: MD5.toUpperCase() }],
      [parseListPage, { entries: {}, nextCursor: null }],
      [parseListPage, { entries: [], nextCursor: '' }],
      [parseListPage, { entries: [], nextCursor: undefined }],
      [parseListPage, { entries: [{ name: 'a', type: 'socket', mtime: 0, mode: 0 }], nextCursor: null }],
      [parseListPage, { entries: [{ name: 'a', type: 'file', mtime: 0, mode: 0 }], nextCursor: null }],
      [parseVerified, { type: 'verified', id: 1, results: [{ filename: 'a', state: 'fine' }] }],
      [parseVerified, { type: 'verified', id: 1 }],
      [parseVerifySummary, { summary: { files: 1, bytes: 1, ok: 1, corrupt: 0, missing: 0 } }],
    ];
    for (const [parse, frame] of bad) expect(codeOf(() => parse(frame)), JSON.stringify(frame)).toBe('protocol_error');
    // A refusal header carries no body fields.
    expect(parseFileHeader({ type: 'file', id: 1, index: 2, status: 404, code: 'not_found', message: 'no' })).toEqual({
      type: 'file', id: 1, index: 2, status: 404, code: 'not_found', message: 'no',
    });
  });

  it('names the scope each action needs', () => {
    expect(ACTION_SCOPES.get).toEqual(['read']);
    expect(ACTION_SCOPES.verify).toEqual(['verify']);
    expect(ACTION_SCOPES.check).toContain('write');
    expect(missingScopeCode('overwrite')).toBe('needs_overwrite');
  });
});

describe('client hello tokenId', () => {
  it('is 32 lowercase hex digits, else bad_request', async () => {
    const { parseClientHello } = await import('../src/protocol/parse-requests.js');
    const hello = { action: 'hello', protocol: 1, client: 'x' };
    expect(parseClientHello(req({ ...hello, tokenId: 'a'.repeat(32) })).tokenId).toBe('a'.repeat(32));
    for (const tokenId of ['A'.repeat(32), 'a'.repeat(31), 7, null]) {
      expect(codeOf(() => parseClientHello(req({ ...hello, tokenId })))).toBe('bad_request');
    }
  });
});
