/** Parsers of server→client frames (run by the client), and the error reply builder. */
import { ProtocolError, type StatusError } from '../errors.js';
import { MAX_FILE_SIZE, MAX_HEARTBEAT_MS, MIN_HEARTBEAT_MS } from './constants.js';
import type { FrameObject } from './frame.js';
import type { BatchVerdict, Reply, ServerHello } from './messages.js';
import { isSafeInteger } from './parse-shared.js';

/** Validates the server hello. */
export function parseServerHello(frame: FrameObject): ServerHello {
  if (frame.type !== 'hello') throw new ProtocolError('the peer did not start with an ftx hello');
  if (!isSafeInteger(frame.protocol, 0, 0xffff)) throw new ProtocolError('hello.protocol must be an integer');
  if (typeof frame.auth !== 'string' || typeof frame.nonce !== 'string') {
    throw new ProtocolError('hello.auth and hello.nonce must be strings');
  }
  return {
    type: 'hello',
    protocol: frame.protocol,
    server: typeof frame.server === 'string' ? frame.server : 'unknown',
    auth: frame.auth,
    nonce: frame.nonce,
    actions: Array.isArray(frame.actions) ? frame.actions.filter((a): a is string => typeof a === 'string') : [],
    features: Array.isArray(frame.features) ? frame.features.filter((a): a is string => typeof a === 'string') : [],
    maxFrame: isSafeInteger(frame.maxFrame, 0, 2 ** 32 - 1) ? frame.maxFrame : 0,
    ...(isSafeInteger(frame.maxSize, 0, MAX_FILE_SIZE) ? { maxSize: frame.maxSize } : {}),
    ...(isSafeInteger(frame.heartbeat, MIN_HEARTBEAT_MS, MAX_HEARTBEAT_MS) ? { heartbeat: frame.heartbeat } : {}),
  };
}

/** Validates a reply frame. */
export function parseReply(frame: FrameObject): Reply {
  if (frame.type !== 'reply') throw new ProtocolError(`expected a reply, got type "${String(frame.type)}"`);
  if (!isSafeInteger(frame.status, 100, 999)) throw new ProtocolError('reply.status must be an integer');
  if (typeof frame.code !== 'string') throw new ProtocolError('reply.code must be a string');
  const reply: Reply = {
    type: 'reply',
    status: frame.status,
    code: frame.code,
    message: typeof frame.message === 'string' ? frame.message : frame.code,
  };
  if (isSafeInteger(frame.id, 0, MAX_FILE_SIZE)) reply.id = frame.id;
  if (isSafeInteger(frame.offset, 0, MAX_FILE_SIZE)) reply.offset = frame.offset;
  if (frame.complete === true) reply.complete = true;
  if (Array.isArray(frame.results)) {
    reply.results = frame.results.map((r: unknown) => {
      const e = r as Record<string, unknown>;
      if (typeof e !== 'object' || e === null || typeof e.filename !== 'string' || typeof e.state !== 'string') {
        throw new ProtocolError('reply.results entries are {"filename", "state"}');
      }
      return { filename: e.filename, state: e.state, ...(typeof e.message === 'string' ? { message: e.message } : {}) };
    });
  }
  if (typeof frame.created === 'boolean') reply.created = frame.created;
  if (Array.isArray(frame.scopes)) reply.scopes = frame.scopes.filter((x): x is string => typeof x === 'string');
  if (Array.isArray(frame.files)) reply.files = frame.files.map(parseBatchVerdict);
  const receipt = frame.receipt as Record<string, unknown> | undefined;
  if (receipt !== undefined) {
    if (
      typeof receipt !== 'object' || receipt === null ||
      typeof receipt.filename !== 'string' ||
      !isSafeInteger(receipt.size, 0, MAX_FILE_SIZE) ||
      typeof receipt.md5 !== 'string'
    ) {
      throw new ProtocolError('reply.receipt is malformed');
    }
    reply.receipt = { filename: receipt.filename, size: receipt.size, md5: receipt.md5 };
  }
  return reply;
}

function parseBatchVerdict(value: unknown): BatchVerdict {
  const e = value as Record<string, unknown>;
  if (typeof e !== 'object' || e === null || !isSafeInteger(e.status, 100, 999) || typeof e.code !== 'string') {
    throw new ProtocolError('reply.files entries are {"status", "code", ...}');
  }
  return {
    status: e.status, code: e.code,
    ...(typeof e.message === 'string' ? { message: e.message } : {}),
    ...(typeof e.md5 === 'string' ? { md5: e.md5 } : {}),
    ...(typeof e.filename === 'string' ? { filename: e.filename } : {}),
  };
}

/** Builds an error reply from a StatusError. */
export function errorReply(error: StatusError, id?: number): Reply {
  return {
    type: 'reply',
    ...(id !== undefined ? { id } : {}),
    status: error.status,
    code: error.code,
    message: error.message,
  };
}
