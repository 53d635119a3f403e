/**
 * The client's defaults, defined once: FtxClient (connection.ts) and `ftx put` both take them from
 * here (the server's are in server/defaults.ts; the retry policy in retry.ts).
 */

/** Give up connecting after this long. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Fail when the server is silent this long (without heartbeats). */
export const DEFAULT_CLIENT_IDLE_TIMEOUT_MS = 60_000;
