/**
 * The same client takes over what its dead connection holds (issue 10 item 6): a connection that went
 * silent (a black hole) still holds the names of its batch on the server, which has not noticed yet.
 * The client's retry, in the same run or in a new run of the same job, presents the same client id
 * in its hello and the server drops the dead connection at once; another client cannot. The server
 * offers no heartbeats here, so nothing but the take-over frees the names before its 60 s idle timeout.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit-codes.js';
import { startBlackHoleProxy } from './helpers/black-hole-proxy.js';
import { runFtx, spawnFtx } from './helpers/cli.js';
import { RawPeer } from './helpers/raw-peer.js';
import { withServer } from './helpers/server.js';
import { expectTreeLanded, makeSmallTree } from './helpers/small-tree.js';

const SERVER = { heartbeatMs: 0, idleTimeoutMs: 60_000 };
const RETRIES = ['--retries', '4', '--retry-wait', '0.5', '--idle-timeout', '2', '--no-progress'];

describe('take-over of a dead connection by the same client', () => {
  it('the same run reconnects and takes over its batch', async () => {
    await withServer(SERVER, async ({ server, root, scratch }) => {
      const sums = await makeSmallTree(scratch, 300);
      const proxy = await startBlackHoleProxy(server.port, 200_000);
      try {
        const env = { XDG_STATE_HOME: join(scratch, 'state') };
        const result = await runFtx(['put', join(scratch, 'tree'), `127.0.0.1:${proxy.port}`, ...RETRIES], env, 60_000);
        expect(result.code, result.stderr).toBe(EXIT.OK);
        await expectTreeLanded(root, sums);
      } finally {
        await proxy.close();
      }
    });
  }, 90_000);

  it('a new run of the same job takes over; a different client (another state, so another id) cannot', async () => {
    await withServer(SERVER, async ({ server, root, scratch }) => {
      const sums = await makeSmallTree(scratch, 300);
      const proxy = await startBlackHoleProxy(server.port, 200_000);
      const env = { XDG_STATE_HOME: join(scratch, 'state') };
      try {
        const args = ['put', join(scratch, 'tree'), `127.0.0.1:${proxy.port}`, ...RETRIES];
        const first = spawnFtx(args, { stdio: 'ignore', env });
        await proxy.frozen;
        first.kill('SIGKILL');
        const direct = ['put', join(scratch, 'tree'), `127.0.0.1:${server.port}`, '--retries', '1', '--retry-wait', '0.2', '--no-progress'];
        const stranger = await runFtx(direct, { XDG_STATE_HOME: join(scratch, 'other-state') }, 60_000);
        expect(stranger.code, stranger.stderr).not.toBe(EXIT.OK);
        expect(stranger.stderr).toMatch(/being uploaded by another client/);
        // The same job from a new process (the same destination as the dead run, the same state).
        const again = await runFtx(args, env, 60_000);
        expect(again.code, again.stderr).toBe(EXIT.OK);
        await expectTreeLanded(root, sums);
      } finally {
        await proxy.close();
      }
    });
  }, 90_000);
});

describe('client ids in the hello', () => {
  const ID = 'feedfacefeedfacefeedfacefeedface';
  const hello = (peer: RawPeer, clientId: unknown): void => peer.send({ action: 'hello', protocol: 1, client: 'raw-peer', clientId });

  it('a connection that was heard from within the last second is not taken over; a quiet one is', async () => {
    await withServer(SERVER, async ({ server }) => {
      const [a, b, c] = await Promise.all([RawPeer.connect(server.port), RawPeer.connect(server.port), RawPeer.connect(server.port)]);
      try {
        await a.frame();
        hello(a, ID);
        expect((await a.frame())?.status).toBe(200);
        await b.frame();
        hello(b, ID);
        expect((await b.frame())?.status).toBe(200);
        // a spoke a moment ago: alive, not dropped (two runs of one job at once do not drop each other in turn).
        await expect(a.closed(300)).rejects.toThrow();
        await new Promise((resolve) => setTimeout(resolve, 1200));
        await c.frame();
        hello(c, ID);
        expect((await c.frame())?.status).toBe(200);
        await a.closed(1000);
        await b.closed(1000);
      } finally {
        for (const peer of [a, b, c]) peer.destroy();
      }
    });
  });

  it('a clientId that is not 16-64 printable characters is bad_request', async () => {
    await withServer(SERVER, async ({ server }) => {
      for (const bad of ['short', 'x'.repeat(65), 'with space in it 0123', 42]) {
        const peer = await RawPeer.connect(server.port);
        try {
          await peer.frame();
          hello(peer, bad);
          expect(await peer.frame()).toMatchObject({ status: 400, code: 'bad_request' });
        } finally {
          peer.destroy();
        }
      }
    });
  });
});
