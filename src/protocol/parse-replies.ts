/**
 * Parsers of server→client frames (run by the client), one per reply message, and the error reply
 * builder. A malformed known field is a ProtocolError; fields a reply may lack take the value a
 * lenient client has always assumed (docs/PROTOCOL.md §3).
 */
import { ProtocolError, StatusError } from '../errors.js';
import { MAX_FILE_SIZE, MAX_HEARTBEAT_MS, MIN_HEARTBEAT_MS } from './constants.js';
import type { FrameObject } from './frame.js';
import type {
  BatchVerdict, CheckReply, CheckResultEntry, MkdirReply, PutAck, PutManyReply, PutVerdict, Receipt, ReplyBase,
  ServerHello, StatusReply, WaitNotice, WelcomeReply,
} from './messages.js';
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

/** Validates the fields every reply has (type, status, code, message, id): what any reply is first parsed as. */
export function parseReply(frame: FrameObject): StatusReply {
  if (frame.type !== 'reply') throw new ProtocolError(`expected a reply, got type "${String(frame.type)}"`);
  if (!isSafeInteger(frame.status, 100, 999)) throw new ProtocolError('reply.status must be an integer');
  if (typeof frame.code !== 'string') throw new ProtocolError('reply.code must be a string');
  return {
    type: 'reply',
    ...(isSafeInteger(frame.id, 0, MAX_FILE_SIZE) ? { id: frame.id } : {}),
    status: frame.status,
    code: frame.code,
    message: typeof frame.message === 'string' ? frame.message : frame.code,
  };
}

function parseReceipt(value: unknown): Receipt | undefined {
  if (value === undefined) return undefined;
  const receipt = value as Record<string, unknown>;
  if (typeof receipt !== 'object' || receipt === null || typeof receipt.filename !== 'string' ||
    !isSafeInteger(receipt.size, 0, MAX_FILE_SIZE) || typeof receipt.md5 !== 'string') {
    throw new ProtocolError('reply.receipt is malformed');
  }
  return { filename: receipt.filename, size: receipt.size, md5: receipt.md5 };
}

const withReceipt = (frame: FrameObject): { receipt?: Receipt } => {
  const receipt = parseReceipt(frame.receipt);
  return receipt ? { receipt } : {};
};

/** The handshake reply: `scopes` keeps its string members. */
export function parseWelcome(frame: FrameObject): WelcomeReply {
  const reply = parseReply(frame);
  return Array.isArray(frame.scopes) ? { ...reply, scopes: frame.scopes.filter((x): x is string => typeof x === 'string') } : reply;
}

/** put: the acknowledgement. An absent or malformed `offset` is 0 (the whole body is sent). */
export function parsePutAck(frame: FrameObject): PutAck {
  return {
    ...parseReply(frame),
    offset: isSafeInteger(frame.offset, 0, MAX_FILE_SIZE) ? frame.offset : 0,
    ...(frame.complete === true ? { complete: true as const } : {}),
    ...withReceipt(frame),
  };
}

/** put: the verdict. */
export function parsePutVerdict(frame: FrameObject): PutVerdict {
  return { ...parseReply(frame), ...withReceipt(frame) };
}

function parseCheckResult(value: unknown): CheckResultEntry {
  const e = value as Record<string, unknown>;
  if (typeof e !== 'object' || e === null || typeof e.filename !== 'string' || typeof e.state !== 'string') {
    throw new ProtocolError('reply.results entries are {"filename", "state"}');
  }
  return { filename: e.filename, state: e.state, ...(typeof e.message === 'string' ? { message: e.message } : {}) };
}

/** check: the results (none when absent; the caller compares their number with its query). */
export function parseCheckReply(frame: FrameObject): CheckReply {
  return { ...parseReply(frame), results: Array.isArray(frame.results) ? frame.results.map(parseCheckResult) : [] };
}

/** mkdir: `created` is true only when the server says so. */
export function parseMkdirReply(frame: FrameObject): MkdirReply {
  return { ...parseReply(frame), created: frame.created === true };
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

/** putmany: the verdicts (none when absent; the caller compares their number with its batch). */
export function parsePutManyReply(frame: FrameObject): PutManyReply {
  return { ...parseReply(frame), files: Array.isArray(frame.files) ? frame.files.map(parseBatchVerdict) : [] };
}

/** A `wait` keep-alive: not validated beyond its display fields (docs/PROTOCOL.md §3). */
export function parseWaitNotice(frame: FrameObject): WaitNotice {
  return {
    type: 'wait', message: String(frame.message ?? ''),
    ...(typeof frame.done === 'number' ? { done: frame.done } : {}),
    ...(typeof frame.total === 'number' ? { total: frame.total } : {}),
  };
}

/** The error a client sees for a reply that is not 200. */
export function replyError(reply: ReplyBase): StatusError {
  return new StatusError(reply.status, reply.code, reply.message);
}

/** Builds an error reply from a StatusError. */
export function errorReply(error: StatusError, id?: number): StatusReply {
  return {
    type: 'reply',
    ...(id !== undefined ? { id } : {}),
    status: error.status,
    code: error.code,
    message: error.message,
  };
}
