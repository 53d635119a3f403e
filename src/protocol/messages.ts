/**
 * Message shapes of protocol v1. Client→server frames are requests named by `action`; server→client
 * frames are named by `type`. Unknown extra fields are ignored (forward compatibility); a known field
 * of the wrong type is a `bad_request`. Parsers live in parse-requests.ts and parse-replies.ts.
 */
import type { FrameObject } from './frame.js';

/** Server→client, the first frame: what the server is and offers (docs/PROTOCOL.md §4.1). */
export interface ServerHello {
  type: 'hello';
  protocol: number;
  server: string;
  auth: string;
  nonce: string;
  actions: string[];
  /** Optional put features this server implements (V1_FEATURES). */
  features: string[];
  maxFrame: number;
  maxSize?: number;
  /** This server speaks heartbeats at this interval, ms (docs/PROTOCOL.md §10.1). */
  heartbeat?: number;
}

/** Fields every server→client reply has: status 200 or an error status with a stable code. */
export interface ReplyBase {
  type: 'reply';
  /** The request's id; absent on handshake replies and on refusals of requests without a valid id. */
  id?: number;
  status: number;
  code: string;
  message: string;
}

/** A reply that carries nothing but its status: every refusal. */
export type StatusReply = ReplyBase;

/** The handshake reply ("welcome"). */
export interface WelcomeReply extends ReplyBase {
  /** The scopes this connection's token grants (docs/PROTOCOL.md §4.5); absent from older servers. */
  scopes?: string[];
}

/**
 * put: the acknowledgement (docs/PROTOCOL.md §6.3). "Send the body" from `offset`, or, with
 * `complete`, this exact upload already landed (a retry whose verdict was lost): no body follows.
 */
export interface PutAck extends ReplyBase {
  /** Bytes the server already holds; the body starts here (0 when the server sent none). */
  offset: number;
  complete?: true;
  /** With `complete`: what landed. */
  receipt?: Receipt;
}

/** put: the verdict once the file has landed (docs/PROTOCOL.md §6.4). */
export interface PutVerdict extends ReplyBase {
  /** What the server stored; a client compares it with its own md5 and size (absent: unverifiable). */
  receipt?: Receipt;
}

/** check: one result per queried name, in order (docs/PROTOCOL.md §6.8). */
export interface CheckReply extends ReplyBase {
  results: CheckResultEntry[];
}

/** check: what the server says about one name. */
export interface CheckResultEntry {
  filename: string;
  state: string;
  message?: string;
}

/** mkdir: whether the directory was created (false: it existed). */
export interface MkdirReply extends ReplyBase {
  created: boolean;
}

/** putmany: one verdict per file of the batch, in order (docs/PROTOCOL.md §6.10). */
export interface PutManyReply extends ReplyBase {
  files: BatchVerdict[];
}

/** Any reply frame, as a server builds one. */
export type Reply = StatusReply | WelcomeReply | PutAck | PutVerdict | CheckReply | MkdirReply | PutManyReply;

/** putmany: what became of one file of a batch. */
export interface BatchVerdict {
  status: number;
  code: string;
  /** Refusals only (at most MAX_BATCH_MESSAGE_CHARS characters). */
  message?: string;
  /** Stored: md5 of what was stored. */
  md5?: string;
  /** Stored under another name than asked (rename): that name. */
  filename?: string;
}

/** putmany: one file of a batch; its body follows the request, after those of the files before it. */
export interface BatchFile {
  filename: string;
  size: number;
  md5: string;
  mtime?: number;
  mode?: number;
  overwrite: boolean;
  rename: boolean;
}

/** Client→server: many small files in one request, their bodies right behind it (docs/PROTOCOL.md §6.10). */
export interface PutManyRequest {
  action: 'putmany';
  id: number;
  files: BatchFile[];
}

/** Heartbeat frames, both directions (docs/PROTOCOL.md §10.1); never answered. */
export interface ServerPing {
  type: 'ping';
}
/** Client→server heartbeat frame. */
export interface ClientPing {
  action: 'ping';
}

/** Server→client keep-alive while a request takes long (re-reading a kept prefix, landing). */
export interface WaitNotice {
  type: 'wait';
  id?: number;
  message: string;
  done?: number;
  total?: number;
}

/** How a client identifies its source file (size and mtime in whole ms). */
export interface SourceIdentityFields {
  size: number;
  mtime: number;
}

/** What the server states about a landed file. */
export interface Receipt {
  filename: string;
  size: number;
  md5: string;
}

/** Client→server answer to the server hello. */
export interface ClientHello {
  action: 'hello';
  protocol: number;
  client: string;
  hmac?: string;
  /** true: this client asks for heartbeats (only after a server hello with `heartbeat`). */
  heartbeat?: boolean;
  /**
   * The client's secret id of this job, the same in every connection of it and in a new run of it:
   * a new connection with it takes over the earlier ones (docs/PROTOCOL.md §4.4).
   */
  clientId?: string;
  /** Id of the token `hmac` is made with (docs/PROTOCOL.md §4.5): the server checks that token only. */
  tokenId?: string;
}

/** Client→server request to upload one file of known size. */
export interface PutRequest {
  action: 'put';
  id: number;
  filename: string;
  /** Exact size; null when `stream` is true (the body is then data frames). */
  size: number | null;
  /** Unknown length: the body is length-prefixed data frames ended by an empty one. */
  stream: boolean;
  /**
   * Always true (or absent): the client waits for the acknowledgement before the body. `false` (the
   * pipelined puts of earlier drafts, superseded by putmany) is refused (docs/PROTOCOL.md §6.1).
   */
  wait: true;
  /** If the name is taken, land under the first free "stem.N.ext" (the receipt names it). */
  rename: boolean;
  /** Permission bits of the landed file (0..0o777). */
  mode?: number;
  chunkSize: number;
  overwrite: boolean;
  mtime?: number;
  /** Continue a kept partial of the same source (docs/PROTOCOL.md, "Resume"). */
  resume: boolean;
  /** Identity of the source; a partial is continued only for an equal identity. */
  source: SourceIdentityFields | null;
  /** Client-chosen id of one logical upload, the same in all its attempts (1-64 chars). */
  uploadId?: string;
}

/** check: one name to look up, with what the client knows of its source (docs/PROTOCOL.md §6.8). */
export interface CheckQuery {
  filename: string;
  size: number;
  /** Whole milliseconds. */
  mtime: number;
  /** With a digest, "identical" also requires the md5 recorded at landing to match. */
  md5?: string;
}

/** Client→server: which of these names does the server already have, identical? */
export interface CheckRequest {
  action: 'check';
  id: number;
  files: CheckQuery[];
}

/** Client→server: create a directory (and missing parents). */
export interface MkdirRequest {
  action: 'mkdir';
  id: number;
  path: string;
}

export { MAX_CHECK_FILES } from './constants.js';

/** Client→server trailer after the body of a put: the md5 the client computed while reading. */
export interface EndRequest {
  action: 'end';
  id: number;
  md5: string;
}

/** Any request frame: has a string `action`; the rest is checked by the action's own parser. */
export interface Request extends FrameObject {
  action: string;
}

export * from './parse-requests.js';
export * from './parse-replies.js';
