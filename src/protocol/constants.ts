/** Wire constants of ftx protocol v1. Every value here is specified in docs/PROTOCOL.md. */

/** Protocol version sent in both hellos. */
export const PROTOCOL_VERSION = 1;
/** Bytes of the big-endian unsigned length prefix in front of every control frame. */
export const FRAME_HEADER_BYTES = 4;
/** Largest control-frame payload (JSON bytes, excluding the prefix) either side accepts. */
export const MAX_FRAME_BYTES = 64 * 1024;
/** TCP port `ftx serve` listens on and `ftx put` connects to when none is given. */
export const DEFAULT_PORT = 7420;
/** The design's protocol unit: the body is a sequence of chunks of this many bytes (the last may be shorter). */
export const DEFAULT_CHUNK_SIZE = 4096;
/** Largest data frame payload of a stream body is the put's chunkSize; an empty one ends the body. */
export const DATA_FRAME_HEADER_BYTES = 4;
/** Smallest chunk size a put may declare. */
export const MIN_CHUNK_SIZE = 512;
/** Largest chunk size a put may declare. */
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
/** Longest filename, in UTF-8 bytes, a put may carry. */
export const MAX_FILENAME_BYTES = 4096;
/** Longest path segment, in UTF-8 bytes (the usual NAME_MAX). */
export const MAX_SEGMENT_BYTES = 255;
/** Largest size a put may declare (sizes travel as JSON numbers: keep them exact). */
export const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER;
/** Earliest and latest mtime a put may carry, ms since the epoch (years 1 to 9999). */
export const MIN_MTIME_MS = -62135596800000;
export const MAX_MTIME_MS = 253402300799999;
/** Prefix reserved for the server's own files (temp files); no path segment may start with it. */
export const RESERVED_PREFIX = '.ftx-';
/** Authentication scheme announced in the server hello when a token is configured. */
export const AUTH_HMAC_SHA256 = 'hmac-sha256';
/** Authentication scheme announced when no token is configured. */
export const AUTH_NONE = 'none';
/** Authentication scheme announced inside TLS when the client proved its token in the handshake (PSK, §14). */
export const AUTH_TLS_PSK = 'tls-psk';
/** Actions a v1 server implements, announced in its hello. */
export const V1_ACTIONS = ['put', 'check', 'mkdir', 'putmany'] as const;

/** Optional put features a server announces in its hello ("features"); clients use only those. */
export const V1_FEATURES = ['resume', 'stream', 'rename', 'mode'] as const;

/** Heartbeat interval a server announces by default (docs/PROTOCOL.md §10.1), ms. */
export const DEFAULT_HEARTBEAT_MS = 5000;
/** Range of the heartbeat interval in a server hello, ms; a value outside it is taken as absent. */
export const MIN_HEARTBEAT_MS = 100;
export const MAX_HEARTBEAT_MS = 60_000;
/** A peer that agreed to heartbeats and sends nothing for this many intervals is dead. */
export const DEAD_AFTER_INTERVALS = 3;
/** Inside a stream body, this data frame length is a heartbeat: no payload, no data. */
export const HEARTBEAT_DATA_FRAME = 0xffffffff;

/** Most names one check request may carry. */
export const MAX_CHECK_FILES = 256;

/** putmany: most files in one batch. */
export const MAX_BATCH_FILES = 128;
/** putmany: largest file in a batch (bigger ones go as resumable puts). */
export const MAX_BATCH_FILE_BYTES = 1024 * 1024;
/** putmany: most body bytes of one batch (all its files together). */
export const MAX_BATCH_BYTES = 8 * 1024 * 1024;
/** putmany: most UTF-8 bytes of all filenames of one batch together (keeps the reply inside a frame). */
export const MAX_BATCH_NAME_BYTES = 24 * 1024;
/** putmany: longest message of one refused file in the reply. */
export const MAX_BATCH_MESSAGE_CHARS = 120;

/** Status numbers of replies (HTTP-like). */
export const STATUS = {
  OK: 200,
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  CONFLICT: 409,
  TOO_LARGE: 413,
  CHECKSUM_MISMATCH: 422,
  BUSY: 423,
  UPGRADE_REQUIRED: 426,
  INTERNAL: 500,
  SERVICE_UNAVAILABLE: 503,
  INSUFFICIENT_STORAGE: 507,
} as const;

/** Stable machine-readable codes carried in replies, one per failure kind (docs/PROTOCOL.md). */
export const ERROR_CODE = {
  PROTOCOL_ERROR: 'protocol_error',
  BAD_REQUEST: 'bad_request',
  UNKNOWN_ACTION: 'unknown_action',
  AUTH_FAILED: 'auth_failed',
  FORBIDDEN_PATH: 'forbidden_path',
  EXISTS: 'exists',
  TOO_LARGE: 'too_large',
  CHECKSUM_MISMATCH: 'checksum_mismatch',
  BUSY: 'busy',
  UNSUPPORTED_VERSION: 'unsupported_version',
  INTERNAL: 'internal',
  SERVER_BUSY: 'server_busy',
  INSUFFICIENT_STORAGE: 'insufficient_storage',
  STORE_UNAVAILABLE: 'store_unavailable',
  /** A plain-text client at a TLS server: sent in plain text instead of the hello (§14.5). */
  TLS_REQUIRED: 'tls_required',
} as const;
