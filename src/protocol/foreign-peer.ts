/**
 * Naming a peer that is not an ftx server from the first bytes it sent. Pure: no I/O.
 * An ftx server's first bytes are a frame length of at most 64 KiB (docs/PROTOCOL.md, "Frames"),
 * so they start 00 00 or 00 01; other services greet in text (SSH, SMTP) or answer in their own
 * framing (HTTP, TLS).
 */

const KNOWN_GREETINGS: Array<{ test: (bytes: Buffer) => boolean; kind: string; quote: boolean }> = [
  { test: (b) => b.subarray(0, 4).toString('latin1') === 'SSH-', kind: 'an SSH server', quote: true },
  { test: (b) => b.subarray(0, 5).toString('latin1') === 'HTTP/', kind: 'an HTTP server', quote: true },
  // A TLS record: content type 20-23 (alert, handshake, ...), then major version 3.
  { test: (b) => b.length >= 2 && b[0]! >= 0x14 && b[0]! <= 0x17 && b[1] === 0x03, kind: 'a TLS server', quote: false },
];

const PREVIEW_CHARS = 60;

/** The first line of `bytes` when it is printable ASCII text, else undefined. */
function printableFirstLine(bytes: Buffer): string | undefined {
  const text = bytes.toString('latin1');
  const line = text.split(/\r?\n/)[0]!;
  if (line.length === 0 || !/^[\x20-\x7e]+$/.test(line)) return undefined;
  return line.length > PREVIEW_CHARS ? `${line.slice(0, PREVIEW_CHARS)}…` : line;
}

/**
 * Why `bytes` (the start of what a peer sent instead of a valid server hello) are not ftx:
 * "it answered like an SSH server ("SSH-2.0-OpenSSH_9.6")", "it sent "220 mail ESMTP"", or the
 * first bytes in hex.
 */
export function describeForeignGreeting(bytes: Buffer): string {
  const line = printableFirstLine(bytes);
  for (const greeting of KNOWN_GREETINGS) {
    if (!greeting.test(bytes)) continue;
    return `it answered like ${greeting.kind}${greeting.quote && line !== undefined ? ` ("${line}")` : ''}`;
  }
  if (line !== undefined) return `it sent "${line}"`;
  const hex = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  return bytes.length === 0 ? 'its first message is not an ftx hello' : `it sent bytes that are not an ftx hello (${hex}${bytes.length > 8 ? ' …' : ''})`;
}
