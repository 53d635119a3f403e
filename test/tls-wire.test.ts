/**
 * The TLS layer on real sockets, seen from the wire (issue 11): a relay between client and server
 * records every byte, or flips one.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit-codes.js';
import { deriveTokenId } from '../src/protocol/token-keys.js';
import { runFtx, spawnServe, type ServeProcess } from './helpers/cli.js';
import { listTree, makeTempDir } from './helpers/server.js';
import { firstHandshake, startWireTap, type WireTap } from './helpers/wire-tap.js';

const TOKEN = 'ftx1_Xq3vU8kz0Lr5N2bYw7HcTj1pQe6sMa9fGd4hVn0iKoE';
/** TLS extension types (RFC 8446 §4.2). */
const EXT = { PRE_SHARED_KEY: 41, PSK_KEY_EXCHANGE_MODES: 45, KEY_SHARE: 51 } as const;

let tmp: { dir: string; cleanup: () => Promise<void> };
let root: string;
let serve: ServeProcess;
let plainServe: ServeProcess;

beforeAll(async () => {
  tmp = await makeTempDir('ftx-tls-wire-');
  root = join(tmp.dir, 'root');
  await mkdir(root);
  await mkdir(join(tmp.dir, 'plain-root'));
  serve = await spawnServe([root, '--port', '0', '--host', '127.0.0.1', '--token', TOKEN]);
  plainServe = await spawnServe([join(tmp.dir, 'plain-root'), '--port', '0', '--host', '127.0.0.1', '--token', TOKEN, '--insecure-plaintext']);
});

afterAll(async () => {
  await serve?.stop();
  await plainServe?.stop();
  await tmp?.cleanup();
});

/** A file whose name and rows are easy to look for on the wire. */
async function payroll(size = 2 * 1024 * 1024): Promise<{ path: string; data: Buffer; rows: string }> {
  const rows = `name,salary\n${Array.from({ length: 200 }, (_, i) => `employee-${i}-${randomBytes(4).toString('hex')},${50_000 + i}`).join('\n')}\n`;
  const data = Buffer.concat([Buffer.from(rows), randomBytes(size)]);
  const path = join(tmp.dir, 'payroll.csv');
  await writeFile(path, data);
  return { path, data, rows };
}

/** True when `haystack` contains any 24-byte window of `data` sampled every 64 KiB (and its start). */
function containsPieceOf(haystack: Buffer, data: Buffer): boolean {
  for (let at = 0; at + 24 <= data.length; at += 64 * 1024) if (haystack.includes(data.subarray(at, at + 24))) return true;
  return false;
}

async function throughTap<T>(port: number, fn: (tap: WireTap) => Promise<T>, tamper?: Parameters<typeof startWireTap>[1]): Promise<T> {
  const tap = await startWireTap(port, tamper);
  try {
    return await fn(tap);
  } finally {
    await tap.close();
  }
}

describe('what a sniffer on the path sees', () => {
  it('with a token: no file name, no content, no token; the same upload in plain text shows all of them', async () => {
    const { path, data, rows } = await payroll();
    const row = rows.split('\n')[5]!;
    for (const mode of ['tls', 'plain'] as const) {
      const port = mode === 'tls' ? serve.port : plainServe.port;
      await throughTap(port, async (tap) => {
        const extra = mode === 'plain' ? ['--insecure-plaintext'] : [];
        const result = await runFtx(['put', path, `127.0.0.1:${tap.port}`, '--token', TOKEN, '--force', '--no-progress', ...extra]);
        expect(result.code, result.stderr).toBe(EXIT.OK);
        const wire = Buffer.concat([tap.captured('up'), tap.captured('down')]);
        expect(wire.length).toBeGreaterThan(data.length);
        const seen = { name: wire.includes('payroll.csv'), row: wire.includes(row), content: containsPieceOf(wire, data), token: wire.includes(TOKEN) };
        // The sniffer works: in plain text it finds the name, the rows and the content (never the token: HMAC).
        expect(seen).toEqual(mode === 'tls' ? { name: false, row: false, content: false, token: false } : { name: true, row: true, content: true, token: false });
      });
    }
    expect((await readFile(join(root, 'payroll.csv'))).equals(data)).toBe(true);
  });

  it('the handshake is PSK with (EC)DHE: the client offers only psk_dhe_ke, the ServerHello carries pre_shared_key and key_share', async () => {
    const { path } = await payroll(1024);
    await throughTap(serve.port, async (tap) => {
      expect((await runFtx(['put', path, `127.0.0.1:${tap.port}`, '--token', TOKEN, '--force', '--no-progress'])).code).toBe(EXIT.OK);
      const clientHello = firstHandshake(tap.captured('up', 0));
      const serverHello = firstHandshake(tap.captured('down', 0));
      expect(clientHello.type).toBe(1);
      expect(serverHello.type).toBe(2);
      // psk_key_exchange_modes: a 1-byte list length, then the modes; 1 = psk_dhe_ke, 0 = psk_ke (RFC 8446 §4.2.9).
      expect([...clientHello.extensions.get(EXT.PSK_KEY_EXCHANGE_MODES)!]).toEqual([1, 1]);
      // The identity on the wire is the token id, never the token.
      const offered = clientHello.extensions.get(EXT.PRE_SHARED_KEY)!;
      expect(offered.includes(Buffer.from(deriveTokenId(TOKEN)))).toBe(true);
      expect(offered.includes(Buffer.from(TOKEN))).toBe(false);
      // The server selected the PSK (identity 0) and sent its ephemeral share: psk_dhe_ke, forward secrecy.
      expect(serverHello.extensions.get(EXT.PRE_SHARED_KEY)).toEqual(Buffer.from([0, 0]));
      expect(serverHello.extensions.get(EXT.KEY_SHARE)!.length).toBeGreaterThan(4 + 31);
    });
  });
});

describe('an on-path attacker', () => {
  it('a flipped byte in the data stream breaks the connection; nothing lands under the name', async () => {
    const data = randomBytes(8 * 1024 * 1024);
    const path = join(tmp.dir, 'flipped.bin');
    await writeFile(path, data);
    for (const direction of ['up', 'down'] as const) {
      const at = direction === 'up' ? 3 * 1024 * 1024 : 400; // inside the body, or inside the server's encrypted replies
      let flipped = false;
      await throughTap(serve.port, async (tap) => {
        const result = await runFtx(['put', path, `127.0.0.1:${tap.port}`, '--token', TOKEN, '--no-progress', '--retries', '0']);
        expect(flipped).toBe(true);
        expect(result.code, result.stderr).not.toBe(EXIT.OK);
        expect([EXIT.CONNECTION_LOST, EXIT.PROTOCOL, EXIT.CONNECT]).toContain(result.code);
        expect(result.stderr.trim().split('\n').filter((l) => l.startsWith('ftx: error')).length).toBe(1);
      }, (dir, offset, piece) => {
        if (dir !== direction || flipped || offset + piece.length <= at) return piece;
        const i = Math.max(0, at - offset);
        piece[i] = piece[i]! ^ 0x01;
        flipped = true;
        return piece;
      });
      expect(await listTree(root)).not.toContain('flipped.bin');
    }
  });
});
