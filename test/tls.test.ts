import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { FtxClient } from '../src/client/client.js';
import { ClientConnection } from '../src/client/connection.js';
import { FtxError } from '../src/errors.js';
import { deriveTlsPsk, deriveTokenId, deriveTokenKeys } from '../src/protocol/token-keys.js';
import { TokenSet } from '../src/server/auth/token-set.js';
import { pskHandshake } from './helpers/psk-handshake.js';
import { RawPeer } from './helpers/raw-peer.js';
import { md5, withServer, writeRandomFile } from './helpers/server.js';

const TOKEN = 'ftx1_' + 'A'.repeat(43);

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    if (error instanceof FtxError) return error.code;
    throw error;
  }
}

describe('TLS with a PSK from the token', () => {
  it('with a tokens file, the PSK identity picks the token and its scopes apply (no hmac sent)', async () => {
    const writer = 'ftx1_' + 'W'.repeat(20) + 'x'.repeat(23);
    const reader = 'ftx1_' + 'R'.repeat(20) + 'y'.repeat(23);
    const tokens = TokenSet.parse(`writer write ${writer}\nreader read ${reader}\n`, 'tokens');
    await withServer({ tokens }, async ({ server }) => {
      for (const [token, scopes, refused] of [[writer, ['write'], true], [reader, ['read'], false]] as const) {
        const peer = await RawPeer.connectTls(server.port, token);
        const hello = await peer.frame();
        expect(hello).toMatchObject({ type: 'hello', auth: 'tls-psk' });
        peer.send({ action: 'hello', protocol: 1, client: 'raw' });
        expect(await peer.frame()).toMatchObject({ status: 200, scopes });
        peer.send({ action: 'get', id: 1, files: [{ filename: 'missing.txt' }] });
        const answer = await peer.frame();
        expect(answer?.code === 'needs_read', JSON.stringify(answer)).toBe(refused);
        peer.destroy();
      }
    });
  });

  it('uploads over TLS 1.3 with (EC)DHE', async () => {
    await withServer({ token: TOKEN }, async ({ server, root, scratch }) => {
      const { path, data } = await writeRandomFile(scratch, 'a.bin', 3 * 1024 * 1024 + 17);
      const link = await ClientConnection.open({ host: '127.0.0.1', port: server.port, token: TOKEN });
      const socket = (link as unknown as { conn: { socket: TLSSocket } }).conn.socket; // a test looks inside
      expect(socket.getProtocol()).toBe('TLSv1.3');
      expect(socket.getCipher().name).toBe('TLS_AES_128_GCM_SHA256');
      expect(socket.getEphemeralKeyInfo()).toMatchObject({ type: 'ECDH', name: 'X25519' });
      expect(link.server.auth).toBe('tls-psk');
      await link.close();
      const client = await FtxClient.connect({ host: '127.0.0.1', port: server.port, token: TOKEN });
      const receipt = await client.put(path, { remoteName: 'a.bin' });
      await client.close();
      expect(receipt.md5).toBe(md5(data));
      expect(md5(await readFile(join(root, 'a.bin')))).toBe(md5(data));
    });
  });

  it('a wrong token fails authentication', async () => {
    await withServer({ token: TOKEN }, async ({ server }) => {
      expect(await codeOf(FtxClient.connect({ host: '127.0.0.1', port: server.port, token: `${TOKEN}x` }))).toBe('auth_failed');
      expect(await codeOf(FtxClient.connect({ host: '127.0.0.1', port: server.port }))).toBe('tls_required');
    });
  });

  it('the server logs a failed PSK handshake as one authentication line: the token id, never OpenSSL codes nor the token', async () => {
    const wrong = `${TOKEN}x`;
    for (const [label, keys, line] of [
      ['a wrong token', deriveTokenKeys(wrong), /authentication FAILED auth_failed: unknown token id "([0-9a-f]{32})": not a token this server accepts$/],
      // A handshake naming the server's token id with another key: someone who saw the id on the wire.
      ['the right id, another key', { tokenId: deriveTokenId(TOKEN), psk: deriveTlsPsk(wrong) },
        /authentication FAILED auth_failed: wrong key for token id "([0-9a-f]{32})": the handshake was not made with that token$/],
    ] as const) {
      const lines: string[] = [];
      await withServer({ token: TOKEN, log: (entry) => lines.push(entry) }, async ({ server }) => {
        expect(await pskHandshake(server.port, keys.tokenId, keys.psk), label).toMatch(/^ERR_SSL/);
        await expect.poll(() => lines.length, { timeout: 5000 }).toBeGreaterThan(0);
      });
      expect(lines, label).toHaveLength(1);
      expect(lines[0], label).toMatch(new RegExp(String.raw`^\S+ 127\.0\.0\.1:\d+ ${line.source}`));
      expect(line.exec(lines[0]!)?.[1], label).toBe(keys.tokenId);
      expect(lines[0], label).not.toMatch(/ERR_|SSL|ftx1_/);
    }
  });

  it('a TLS client at a plain server is told so', async () => {
    await withServer({}, async ({ server }) => {
      expect(await codeOf(FtxClient.connect({ host: '127.0.0.1', port: server.port, token: TOKEN }))).toBe('protocol_error');
    });
  });
});
