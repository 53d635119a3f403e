/** One raw TLS 1.3 PSK handshake, for tests of what a server does with the identity and key it is offered. */
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** A PSK handshake offering `identity` with `psk` from `localAddress`: 'ok' or the TLS error code the client sees. */
export function pskHandshake(port: number, identity: string, psk: Buffer, localAddress = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    // From `localAddress`: a TCP socket of our own (tls.connect's types have no localAddress).
    const tcp = netConnect({ host: '127.0.0.1', port, localAddress });
    tcp.on('error', () => undefined);
    const socket = tlsConnect({
      socket: tcp, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ciphers: 'TLS_AES_128_GCM_SHA256',
      pskCallback: () => ({ psk, identity }),
    });
    socket.once('secureConnect', () => {
      resolve('ok');
      socket.destroy();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      resolve(error.code ?? error.message);
      socket.destroy();
    });
  });
}
