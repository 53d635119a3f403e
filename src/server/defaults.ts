/** The server's defaults, defined once: startServer and `ftx serve` both take them from here. */

/** A connection that sends and receives nothing for this long is closed. */
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;
/** Kept partial uploads not touched for this long are removed. */
export const DEFAULT_PARTIAL_TTL_MS = 24 * 3600 * 1000;
/** Expired partials are looked for every quarter of the TTL, but at least this often. */
export const MAX_EXPIRY_INTERVAL_MS = 3600 * 1000;
