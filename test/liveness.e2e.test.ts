/**
 * Silent peers and slow producers (issue 10 items 6 and 7). A connection that goes silent without a
 * close (a black hole) must be noticed by both ends in seconds, so that the names its batch holds are
 * free again for the client's retry, in this process or a new one; a producer that pauses is not a
 * silent peer. Heartbeats run at 0.5 s here (the default is 5 s), so "dead" means 1.5 s of silence.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit-codes.js';
import { startBlackHoleProxy } from './helpers/black-hole-proxy.js';
import { FTX_BIN, runCommand, runFtx, spawnFtx } from './helpers/cli.js';
import { RawPeer } from './helpers/raw-peer.js';
import { md5, withServer } from './helpers/server.js';
import { expectTreeLanded, makeSmallTree } from './helpers/small-tree.js';
import { parseClientHello, parseServerHello } from '../src/protocol/messages.js';

const HEARTBEAT_MS = 500;
/** The server's own idle timeout stays long: without heartbeats nothing would free the names in time. */
const SERVER = { heartbeatMs: HEARTBEAT_MS, idleTimeoutMs: 60_000 };
/** Short client retries: their whole budget (about 0.25+0.5+1+2 s) is far below the server's idle timeout. */
const RETRIES = ['--retries', '4', '--retry-wait', '0.5', '--idle-timeout', '3', '--no-progress'];

describe('a connection that goes silent mid-batch (black hole)', () => {
  it('the same run notices it, reconnects and lands every file: the server let go of the batch in seconds', async () => {
    await withServer(SERVER, async ({ server, root, scratch }) => {
      const sums = await makeSmallTree(scratch, 300);
      // 200 kB in: inside the first putmany batch's bodies (128 files of 4 KiB).
      const proxy = await startBlackHoleProxy(server.port, 200_000);
      try {
        const result = await runFtx(['put', join(scratch, 'tree'), `127.0.0.1:${proxy.port}`, ...RETRIES], {}, 60_000);
        expect(result.code, result.stderr).toBe(EXIT.OK);
        await expectTreeLanded(root, sums);
      } finally {
        await proxy.close();
      }
    });
  }, 90_000);

  it('a new run started after the first one died on the dead path is not refused 423 until it gives up', async () => {
    await withServer(SERVER, async ({ server, root, scratch }) => {
      const sums = await makeSmallTree(scratch, 300);
      const proxy = await startBlackHoleProxy(server.port, 200_000);
      try {
        const first = spawnFtx(['put', join(scratch, 'tree'), `127.0.0.1:${proxy.port}`, ...RETRIES], { stdio: 'ignore' });
        await proxy.frozen;
        first.kill('SIGKILL'); // the laptop is gone; the server sees no close (the black hole keeps it)
        const again = await runFtx(['put', join(scratch, 'tree'), `127.0.0.1:${server.port}`, ...RETRIES], {}, 60_000);
        expect(again.code, again.stderr).toBe(EXIT.OK);
        await expectTreeLanded(root, sums);
      } finally {
        await proxy.close();
      }
    });
  }, 90_000);
});

describe('a producer that pauses', () => {
  it('(1 MiB; sleep 4; 1 MiB) | ftx put - lands, though both idle timeouts are 2-3 s', async () => {
    await withServer({ heartbeatMs: HEARTBEAT_MS, idleTimeoutMs: 2000 }, async ({ server, root, scratch }) => {
      const source = join(scratch, 'source.bin');
      const data = Buffer.concat([Buffer.alloc(1 << 20, 'a'), Buffer.alloc(1 << 20, 'b')]);
      await writeFile(source, data);
      const pipeline = `(head -c 1048576 "$1"; sleep 4; tail -c +1048577 "$1") | "$2" "$3" put - 127.0.0.1:$4 --name slow.bin --idle-timeout 3 --no-progress`;
      const result = await runCommand('bash', ['-c', pipeline, 'bash', source, process.execPath, FTX_BIN, String(server.port)], {}, 30_000);
      expect(result.code, result.stderr).toBe(EXIT.OK);
      expect(md5(await readFile(join(root, 'slow.bin')))).toBe(md5(data));
    });
  }, 40_000);
});

describe('heartbeats are negotiated in the hellos', () => {
  it('a client that asks gets ping frames and may send its own; one that does not gets none', async () => {
    await withServer({ heartbeatMs: 200 }, async ({ server }) => {
      const asking = await RawPeer.connect(server.port);
      const old = await RawPeer.connect(server.port);
      try {
        const hello = await asking.frame();
        expect(hello?.heartbeat).toBe(200);
        asking.send({ action: 'hello', protocol: 1, client: 'raw-peer', heartbeat: true });
        expect((await asking.frame())?.status).toBe(200);
        asking.send({ action: 'ping' });
        expect(await asking.frame()).toEqual({ type: 'ping' });

        expect((await old.handshake())?.status).toBe(200);
        // An old client: no frame it does not know, and `ping` is an unknown action as before.
        old.send({ action: 'ping', id: 9 });
        expect(await old.frame()).toMatchObject({ type: 'reply', id: 9, status: 400, code: 'unknown_action' });
        await expect(old.frame(1000)).rejects.toThrow('no frame');
      } finally {
        asking.destroy();
        old.destroy();
      }
    });
  });

  it('a client that agreed and then goes silent is dropped after 3 intervals; hello.heartbeat must be a boolean', async () => {
    await withServer({ heartbeatMs: 200, idleTimeoutMs: 60_000 }, async ({ server }) => {
      const silent = await RawPeer.connect(server.port);
      const wrong = await RawPeer.connect(server.port);
      try {
        await silent.frame();
        silent.send({ action: 'hello', protocol: 1, client: 'raw-peer', heartbeat: true });
        await silent.frame();
        await silent.closed(5000);
        await wrong.frame();
        wrong.send({ action: 'hello', protocol: 1, client: 'raw-peer', heartbeat: 'yes' });
        expect(await wrong.frame()).toMatchObject({ status: 400, code: 'bad_request' });
      } finally {
        silent.destroy();
        wrong.destroy();
      }
    });
  });
});

describe('heartbeat fields in the hellos (parsers)', () => {
  const serverHello = { type: 'hello', protocol: 1, auth: 'none', nonce: 'n', actions: [], features: [], maxFrame: 65536 };
  it('a server hello heartbeat outside 100..60000 ms, or not an integer, is taken as absent', () => {
    expect(parseServerHello({ ...serverHello, heartbeat: 5000 }).heartbeat).toBe(5000);
    for (const bad of [99, 60001, 1.5, '5000', null, -1]) expect(parseServerHello({ ...serverHello, heartbeat: bad }).heartbeat).toBeUndefined();
  });
  it('a client hello heartbeat is true, false or absent; anything else is bad_request', () => {
    expect(parseClientHello({ action: 'hello', protocol: 1, heartbeat: true }).heartbeat).toBe(true);
    expect(parseClientHello({ action: 'hello', protocol: 1, heartbeat: false }).heartbeat).toBeUndefined();
    for (const bad of [1, 'true', null, {}]) {
      expect(() => parseClientHello({ action: 'hello', protocol: 1, heartbeat: bad })).toThrow(expect.objectContaining({ code: 'bad_request' }));
    }
  });
});
