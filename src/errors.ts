/**
 * Every expected failure in ftx is an FtxError with a stable `code`.
 * Tests assert `code`, never message text; the CLI maps codes to exit codes in one table
 * (src/cli/exit-codes.ts). This module imports nothing.
 */

/** Base class: a failure with a stable machine-readable code and a one-line human message. */
export class FtxError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Thrown when command-line arguments or API options are invalid. */
export class UsageError extends FtxError {
  constructor(message: string) {
    super('usage', message);
  }
}

/** Thrown when a TCP connection to the server cannot be established (refused, unresolvable, timed out). */
export class ConnectError extends FtxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('connect_failed', message, options);
  }
}

/** Thrown when an established connection closes, resets or goes idle before the exchange is complete. */
export class ConnectionLostError extends FtxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('connection_lost', message, options);
  }
}

/**
 * Thrown when the TLS layer refuses the peer (docs/PROTOCOL.md §14): `auth_failed` when the server
 * does not accept the client's token or does not prove it knows it; `certificate_mismatch` when the
 * server's certificate is not the pinned one or not signed by the given CA.
 */
export class TlsAuthError extends FtxError {
  constructor(code: 'auth_failed' | 'certificate_mismatch', message: string) {
    super(code, message);
  }
}

/**
 * Server side: an accepted connection that did not become a TLS connection (logged, never sent):
 * `plain` for a plain-text client (it got a plain refusal), `handshake` for a failed TLS handshake.
 */
export class TlsAcceptError extends FtxError {
  readonly kind: 'plain' | 'handshake';
  /** OpenSSL's or Node's code of the failure ("timeout" for a handshake that took too long). */
  readonly reason: string;
  /** The PSK identity the client offered, if any (at most 64 characters). */
  readonly offered: string | undefined;
  constructor(kind: 'plain' | 'handshake', reason: string, message: string, offered?: string) {
    super('tls_accept', message);
    this.kind = kind;
    this.reason = reason;
    this.offered = offered;
  }
}

/** Thrown when the peer violates the wire format (bad length, bad JSON, wrong message shape or order). */
export class ProtocolError extends FtxError {
  constructor(message: string) {
    super('protocol_error', message);
  }
}

/** Thrown when a local file cannot be read (client side). */
export class LocalFileError extends FtxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('local_io', message, options);
  }
}

/**
 * `get`: the server sent a name that could leave the local target (`..`, absolute, a backslash) or
 * that equals another after Unicode normalization: nothing is written for it.
 */
export class UnsafeNameError extends FtxError {
  constructor(message: string) {
    super('unsafe_name', message);
  }
}

/** `get`: the local file exists and differs, and the policy is to fail (--if-exists fail). */
export class LocalExistsError extends FtxError {
  constructor(message: string) {
    super('local_exists', message);
  }
}

/** Thrown when the md5 the server reports differs from the md5 computed locally. */
export class VerificationError extends FtxError {
  constructor(message: string) {
    super('verification_failed', message);
  }
}

/**
 * Thrown when a hash thread (src/hashing/md5-pool.ts) dies or fails: the md5 it held is lost, so
 * the upload it belonged to fails and never lands (a retry starts a fresh hash on a new thread).
 */
export class HashThreadError extends FtxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('hash_failed', message, options);
  }
}

/** Thrown when the run is stopped by SIGINT or SIGTERM (the CLI exits 128 + the signal's number). */
export class InterruptedError extends FtxError {
  readonly signal: 'SIGINT' | 'SIGTERM';
  constructor(signal: 'SIGINT' | 'SIGTERM') {
    super('interrupted', `interrupted by ${signal}; nothing still in progress was landed (a re-run resumes large files)`);
    this.signal = signal;
  }
}

/**
 * Thrown when the producer of `put -- COMMAND` fails (it could not start, exited non-zero or was
 * killed): its output is discarded, never landed.
 */
export class ProducerError extends FtxError {
  readonly command: string[];
  /** Its exit status, null when it could not start or was killed. */
  readonly exitCode: number | null;
  /** The signal that killed it, else null. */
  readonly signal: string | null;
  constructor(command: string[], outcome: { exitCode: number | null; signal: string | null; startError?: string }) {
    const name = command[0] ?? '';
    const what = outcome.startError !== undefined ? `cannot start ${name}: ${outcome.startError}`
      : outcome.signal !== null ? `${name} was killed by ${outcome.signal}` : `${name} exited with status ${outcome.exitCode}`;
    super('producer_failed', `${what}; its output was discarded, nothing landed`);
    this.command = command;
    this.exitCode = outcome.exitCode;
    this.signal = outcome.signal;
  }
}

/** `serve` on a directory another ftx server holds (its lock, `.ftx-state/lock`, is taken). */
export class DirectoryInUseError extends FtxError {
  constructor(message: string) {
    super('dir_in_use', message);
  }
}

/** `serve s3://…`: the object store cannot be used (unreachable, credentials refused, no such bucket). */
export class StoreUnavailableError extends FtxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('store_unavailable', message, options);
  }
}

/**
 * A refusal with a wire status (docs/PROTOCOL.md, "Status codes"): raised by server handlers and sent
 * to the peer as an error reply; raised on the client when the server answers with such a reply.
 * `code` is the wire error code (e.g. `exists`, `too_large`).
 */
export class StatusError extends FtxError {
  readonly status: number;
  constructor(status: number, code: string, message: string) {
    super(code, message);
    this.status = status;
  }
}
