/**
 * Guessing tokens through the TLS handshake (docs/PROTOCOL.md §14.3, README "Limits"): every PSK
 * handshake takes an attempt from its address's budget before the server reads it, so a flood of
 * wrong ones from one address is slowed to AUTH_RATE_PER_S after a burst of AUTH_BURST and logged
 * once per burst, while another address and the right token still get in and the server stays up.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FtxClient } from '../src/index.js';
import { deriveTokenKeys } from '../src/protocol/token-keys.js';
import { AUTH_BURST, AUTH_RATE_PER_S } from '../src/server/limits/auth-throttle.js';
import { pskHandshake } from './helpers/psk-handshake.js';
import { withServer, writeRandomFile } from './helpers/server.js';

const TOKEN = 'ftx1_ThrottleTestToken0123456789abcdefghijklmnop';
const WRONG = 'ftx1_NotTheToken9876543210zyxwvutsrqponmlkjihgfe';

/** One PSK handshake from `localAddress` with `token`'s key: 'ok' or the TLS error code. */
function handshake(port: number, token: string, localAddress = '127.0.0.1'): Promise<string> {
  const { tokenId, psk } = deriveTokenKeys(token);
  return pskHandshake(port, tokenId, psk, localAddress);
}

describe('token guessing through the TLS handshake', () => {
  it('wrong-token handshakes from one address: slowed after a burst, logged once; another address and the right token get in; the server stays up', async () => {
    const lines: string[] = [];
    const beyond = 12;
    const flood = AUTH_BURST + beyond;
    let elapsedMs = 0;
    await withServer({ token: TOKEN, log: (line) => lines.push(line) }, async ({ server, root, scratch }) => {
      const started = performance.now();
      let settled = 0;
      const guesses = Array.from({ length: flood }, () => handshake(server.port, WRONG).then((outcome) => {
        settled++;
        return outcome;
      }));
      // The right token from another address is not queued behind the flood: it is in while the
      // last guesses still wait (the last is due beyond / rate = 6 s after the first ones).
      expect(await handshake(server.port, TOKEN, '127.0.0.2')).toBe('ok');
      expect(settled).toBeLessThan(flood);
      const outcomes = await Promise.all(guesses);
      elapsedMs = performance.now() - started;
      expect(outcomes.filter((outcome) => outcome === 'ok')).toEqual([]);
      // The flooding address itself still gets in with the right token (after its wait), and the
      // server still serves: an upload lands.
      const { path, data } = await writeRandomFile(scratch, 'after-flood.bin', 100_000);
      const client = await FtxClient.connect({ host: '127.0.0.1', port: server.port, token: TOKEN });
      await client.put(path, { remoteName: 'after-flood.bin' });
      await client.close();
      expect((await readFile(join(root, 'after-flood.bin'))).equals(data)).toBe(true);
    });
    console.log(`${flood} wrong-token TLS handshakes in parallel took ${(elapsedMs / 1000).toFixed(1)} s; log: ${JSON.stringify(lines)}`);
    // A lower bound only (slowness cannot fail it): the guesses past the burst wait for the refill.
    expect(elapsedMs).toBeGreaterThanOrEqual((beyond / AUTH_RATE_PER_S) * 1000 - 50);
    // One line for the first failure, the rest counted in burst summaries (the last one at shutdown).
    expect(lines.filter((line) => line.includes('authentication FAILED auth_failed: unknown token id'))).toHaveLength(1);
    const summarized = lines.map((line) => /(\d+) failed TLS handshakes \(auth_failed\)/.exec(line)?.[1]).filter((n) => n !== undefined);
    expect(summarized.reduce((sum, n) => sum + Number(n), 0)).toBe(flood - 1);
  });
});
