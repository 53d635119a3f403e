/** The one table from error codes to process exit codes (README, "Exit codes"). */
import { FtxError, InterruptedError, StatusError } from '../errors.js';

/** Exit codes of the ftx command. Stable: scripts depend on them. */
export const EXIT = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  CONNECT: 3,
  AUTH: 4,
  REJECTED: 5,
  VERIFICATION: 6,
  CONNECTION_LOST: 7,
  PROTOCOL: 8,
  LOCAL_FILE: 9,
  PARTIAL: 10,
  /** The producer command of `put -- COMMAND` failed; its output was not landed. */
  PRODUCER: 11,
  /** `serve`: another ftx server already serves that directory. */
  DIR_IN_USE: 12,
  /** `serve s3://…`: the object store cannot be used. */
  STORE: 13,
  /** 128 + the signal's number, as a shell reports a process killed by it. */
  SIGINT: 130,
  SIGTERM: 143,
} as const;

/** What each exit code means, shown by --help (README, "Exit codes", has examples). One per code: the type says so. */
export const EXIT_MEANINGS: Record<keyof typeof EXIT, string> = {
  OK: 'success: every file landed and was verified',
  INTERNAL: 'internal error (a bug: please report it)',
  USAGE: 'usage: bad arguments or options',
  CONNECT: 'cannot connect: refused, unknown host, timeout',
  AUTH: 'authentication failed: wrong or missing token, impostor server, certificate mismatch',
  REJECTED: 'rejected by the server (403, 409, 413, 423, 507, ...)',
  VERIFICATION: 'verification failed (md5 mismatch)',
  CONNECTION_LOST: 'connection lost (after the retries)',
  PROTOCOL: 'protocol error: the peer is not an ftx server, another version, or plain text where this client speaks TLS',
  LOCAL_FILE: 'local file error: missing, unreadable, changed while sent',
  PARTIAL: 'partial: some files failed, the others were sent or skipped',
  PRODUCER: 'the command of "put -- COMMAND" failed: nothing landed',
  DIR_IN_USE: 'serve: another ftx serve already serves that directory',
  STORE: 'serve: the object store cannot be used (unreachable, credentials, bucket)',
  SIGINT: 'interrupted by SIGINT (Ctrl-C)',
  SIGTERM: 'interrupted by SIGTERM',
};

/** Maps any thrown value to the exit code the CLI ends with. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof StatusError) {
    // A plain-text client at a TLS server (docs/PROTOCOL.md §14.5) has not shown the token (or certificate check) it needs.
    if (error.status === 401 || error.code === 'tls_required') return EXIT.AUTH;
    if (error.status === 422) return EXIT.VERIFICATION;
    return EXIT.REJECTED;
  }
  if (error instanceof InterruptedError) return error.signal === 'SIGINT' ? EXIT.SIGINT : EXIT.SIGTERM;
  if (!(error instanceof FtxError)) return EXIT.INTERNAL;
  switch (error.code) {
    case 'usage': return EXIT.USAGE;
    case 'connect_failed': return EXIT.CONNECT;
    case 'auth_failed': return EXIT.AUTH;
    case 'certificate_mismatch': return EXIT.AUTH;
    case 'verification_failed': return EXIT.VERIFICATION;
    case 'connection_lost': return EXIT.CONNECTION_LOST;
    case 'protocol_error': return EXIT.PROTOCOL;
    case 'unsafe_name': return EXIT.PROTOCOL;
    case 'local_exists': return EXIT.REJECTED;
    case 'local_io': return EXIT.LOCAL_FILE;
    case 'producer_failed': return EXIT.PRODUCER;
    case 'dir_in_use': return EXIT.DIR_IN_USE;
    case 'store_unavailable': return EXIT.STORE;
    default: return EXIT.INTERNAL;
  }
}

/** The one line printed for a failure: the message, plus the server's status and code when it refused. */
export function describeError(error: unknown): string {
  if (error instanceof StatusError) return `${error.message} (server: ${error.status} ${error.code})`;
  if (error instanceof FtxError) return error.code === 'connection_lost' ? `connection to the server lost, no retry left: ${error.message}` : error.message;
  return `internal error: ${error instanceof Error ? error.message : String(error)}`;
}
