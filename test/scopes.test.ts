/**
 * Tokens with scopes (docs/PROTOCOL.md §4.5): each refusal over a real socket, and that a write-only
 * client can add files but not replace, read, list or scrub them. In-band HMAC (insecurePlaintext);
 * over TLS the PSK identity finds the token: test/tls.test.ts.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { computeAuthProof } from '../src/protocol/auth.js';
import type { FrameObject } from '../src/protocol/frame.js';
import { deriveTokenId } from '../src/protocol/token-keys.js';
import { TokenSet } from '../src/server/auth/token-set.js';
import { RawPeer } from './helpers/raw-peer.js';
import { md5, withServer } from './helpers/server.js';

const WRITER = 'ftx1_writer-' + 'w'.repeat(32);
const OVER = 'ftx1_over-' + 'o'.repeat(32);
const READER = 'ftx1_reader-' + 'r'.repeat(32);
const AUDITOR = 'ftx1_auditor-' + 'v'.repeat(32);
const tokens = (): TokenSet => TokenSet.parse(
  `writer write ${WRITER}\nover write,overwrite ${OVER}\nreader read ${READER}\nauditor verify ${AUDITOR}\n`, 'tokens');

async function join_(port: number, token: string, withId = true): Promise<{ peer: RawPeer; welcome: FrameObject | null }> {
  const peer = await RawPeer.connect(port);
  const hello = (await peer.frame())!;
  peer.send({ action: 'hello', protocol: 1, client: 't', ...(withId ? { tokenId: deriveTokenId(token) } : {}), hmac: computeAuthProof(token, String(hello.nonce)) });
  return { peer, welcome: await peer.frame() };
}

async function put(peer: RawPeer, id: number, filename: string, data: Buffer, overwrite = false): Promise<FrameObject> {
  peer.send({ action: 'put', id, filename, size: data.length, overwrite });
  const ack = (await peer.frame())!;
  if (ack.status !== 200) return ack;
  peer.sendRaw(data);
  peer.send({ action: 'end', id, md5: md5(data) });
  return (await peer.frame())!;
}

describe('token scopes', () => {
  it('the welcome names the scopes; a token is found by its id or, without one, by its proof', async () => {
    await withServer({ tokens: tokens(), insecurePlaintext: true }, async ({ server }) => {
      const { peer, welcome } = await join_(server.port, WRITER);
      expect(welcome).toMatchObject({ status: 200, scopes: ['write'] });
      peer.destroy();
      const legacy = await join_(server.port, READER, false);
      expect(legacy.welcome).toMatchObject({ status: 200, scopes: ['read'] });
      legacy.peer.destroy();
      // The id of one token with the proof of another: refused.
      const mixed = await RawPeer.connect(server.port);
      const hello = (await mixed.frame())!;
      mixed.send({ action: 'hello', protocol: 1, client: 't', tokenId: deriveTokenId(READER), hmac: computeAuthProof(WRITER, String(hello.nonce)) });
      expect(await mixed.frame()).toMatchObject({ status: 401, code: 'auth_failed' });
      await mixed.closed();
      const unknown = await join_(server.port, 'ftx1_not-in-the-file-000000000000000');
      expect(unknown.welcome).toMatchObject({ status: 401, code: 'auth_failed' });
    });
  });

  it('a write-only client adds files but cannot replace, read, list or verify them', async () => {
    await withServer({ tokens: tokens(), insecurePlaintext: true }, async ({ server, root }) => {
      const { peer } = await join_(server.port, WRITER);
      const original = Buffer.from('backup of monday');
      expect(await put(peer, 1, 'db.sql', original)).toMatchObject({ id: 1, status: 200 });
      peer.send({ action: 'mkdir', id: 2, path: 'logs' });
      expect(await peer.frame()).toMatchObject({ id: 2, status: 200, created: true });
      peer.send({ action: 'check', id: 3, files: [{ filename: 'db.sql', size: original.length, mtime: 0 }] });
      expect(await peer.frame()).toMatchObject({ id: 3, status: 200 });
      // Replacing: refused before any body byte, whatever the name; the stored file is intact.
      expect(await put(peer, 4, 'db.sql', Buffer.from('ransomware!'), true)).toMatchObject({ id: 4, status: 403, code: 'needs_overwrite' });
      expect(await put(peer, 5, 'db.sql', Buffer.from('ransomware!'))).toMatchObject({ id: 5, status: 409, code: 'exists' });
      expect(await readFile(join(root, 'db.sql'))).toEqual(original);
      for (const [id, request, code] of [
        [6, { action: 'get', files: [{ filename: 'db.sql' }] }, 'needs_read'],
        [7, { action: 'list', path: '' }, 'needs_read'],
        [8, { action: 'verify' }, 'needs_verify'],
      ] as const) {
        peer.send({ ...request, id });
        expect(await peer.frame()).toMatchObject({ id, status: 403, code });
      }
      // The connection is still usable after each refusal.
      expect(await put(peer, 9, 'db2.sql', original)).toMatchObject({ id: 9, status: 200 });
      // A batch asking to overwrite: refused whole, connection closed (its body is not drained).
      peer.send({ action: 'putmany', id: 10, files: [{ filename: 'db.sql', size: 3, md5: md5(Buffer.from('bad')), overwrite: true }] });
      peer.sendRaw('bad');
      expect(await peer.frame()).toMatchObject({ id: 10, status: 403, code: 'needs_overwrite' });
      await peer.closed();
      expect(await readFile(join(root, 'db.sql'))).toEqual(original);
    });
  });

  it('overwrite needs its scope; read and verify tokens cannot write', async () => {
    await withServer({ tokens: tokens(), insecurePlaintext: true }, async ({ server, root }) => {
      await writeFile(join(root, 'a.txt'), 'old');
      const over = await join_(server.port, OVER);
      expect(await put(over.peer, 1, 'a.txt', Buffer.from('new'), true)).toMatchObject({ status: 200 });
      expect(await readFile(join(root, 'a.txt'), 'utf8')).toBe('new');
      for (const token of [READER, AUDITOR]) {
        const { peer } = await join_(server.port, token);
        expect(await put(peer, 1, 'b.txt', Buffer.from('x'))).toMatchObject({ status: 403, code: 'needs_write' });
        peer.send({ action: 'mkdir', id: 2, path: 'd' });
        expect(await peer.frame()).toMatchObject({ id: 2, status: 403, code: 'needs_write' });
        peer.send({ action: 'check', id: 3, files: [] });
        expect(await peer.frame()).toMatchObject(token === READER ? { id: 3, status: 200 } : { id: 3, status: 403, code: 'needs_write' });
        peer.send({ action: 'putmany', id: 4, files: [{ filename: 'c.txt', size: 1, md5: md5(Buffer.from('x')) }] });
        peer.sendRaw('x');
        expect(await peer.frame()).toMatchObject({ id: 4, status: 403, code: 'needs_write' });
        await peer.closed();
      }
    });
  });

  it('a single --token and no token both grant everything (no scopes in the welcome)', async () => {
    await withServer({ token: WRITER, insecurePlaintext: true }, async ({ server }) => {
      const { peer, welcome } = await join_(server.port, WRITER);
      expect(welcome).toMatchObject({ status: 200 });
      expect(welcome!.scopes).toBeUndefined();
      expect(await put(peer, 1, 'a', Buffer.from('1'), true)).toMatchObject({ status: 200 });
      peer.destroy();
    });
  });
});
