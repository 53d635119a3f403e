/** Opening a TCP or TLS connection with a connect timeout, as a FramedConnection. */
import { connect as netConnect } from 'node:net';
import { ConnectError } from '../errors.js';
import { FramedConnection, type FramedConnectionOptions } from './framed-connection.js';
import type { ClientTls } from './tls-config.js';
import { dialTls } from './tls-dial.js';

/** Where and how to connect. */
export interface ConnectTarget extends FramedConnectionOptions {
  host: string;
  port: number;
  /** Give up when the TCP (and TLS) handshake has not completed after this long. */
  connectTimeoutMs: number;
  /** Speak TLS 1.3 (docs/PROTOCOL.md §14); absent: plain TCP. */
  tls?: ClientTls;
  /** With `tls`: the handshake must be over this long after the TCP connect (see TlsDialTarget). */
  handshakeTimeoutMs?: number;
  /** With `tls`: the address answered as an ftx server before (a reconnect). */
  knownServer?: boolean;
}

/** "host:port", or "[v6]:port" for an IPv6 literal. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Connects, resolving once the TCP connection (and the TLS handshake, with `tls`) is established;
 * rejects with ConnectError, or for TLS also TlsAuthError, ProtocolError, ConnectionLostError.
 */
export async function openConnection(target: ConnectTarget): Promise<FramedConnection> {
  const where = formatHostPort(target.host, target.port);
  if (target.tls) {
    const socket = await dialTls({
      host: target.host, port: target.port, where, tls: target.tls, connectTimeoutMs: target.connectTimeoutMs,
      ...(target.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: target.handshakeTimeoutMs } : {}),
      ...(target.knownServer !== undefined ? { knownServer: target.knownServer } : {}),
    });
    return new FramedConnection(socket, target);
  }
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: target.host, port: target.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ConnectError(`cannot connect to ${where}: timed out after ${target.connectTimeoutMs} ms`));
    }, target.connectTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(new FramedConnection(socket, target));
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new ConnectError(`cannot connect to ${where}: ${error.code ?? error.message}`, { cause: error }));
    });
  });
}
