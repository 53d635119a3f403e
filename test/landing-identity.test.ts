/**
 * A crash between link(data, final) and unlink(data) leaves the data name as a second name of the
 * landed file (test/root/crash-landing.test.ts makes that crash happen). Here such a name is made
 * by hand: no later upload may write through it.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { link, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FTX_BIN } from './helpers/cli.js';
import { RawPeer } from './helpers/raw-peer.js';
import { startServer } from '../src/server/server.js';
import { listTree, md5, withServer } from './helpers/server.js';

const dataName = (filename: string, kind: 'tmp' | 'part'): string =>
  `.ftx-${createHash('sha256').update(filename).digest('hex').slice(0, 32)}.${kind}`;

async function eventually(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('a leftover data name that is a second name of a landed file', () => {
  it('a batched file of other content, refused with 409, leaves the landed file as it was', async () => {
    await withServer({}, async ({ server, root }) => {
      const original = randomBytes(5000);
      await writeFile(join(root, 'x.txt'), original);
      await link(join(root, 'x.txt'), join(root, dataName('x.txt', 'tmp')));
      const peer = await RawPeer.connect(server.port);
      await peer.handshake();
      const other = randomBytes(4000);
      peer.send({ action: 'putmany', id: 1, files: [{ filename: 'x.txt', size: other.length, md5: md5(other), overwrite: false }] });
      peer.sendRaw(other);
      expect(await peer.frame()).toMatchObject({ id: 1, status: 200, files: [{ status: 409, code: 'exists' }] });
      peer.destroy();
      expect(md5(await readFile(join(root, 'x.txt')))).toBe(md5(original));
      expect(await listTree(root)).toEqual(['x.txt']);
    });
  });

  it('a stream put with --force that is cut off leaves the landed file as it was', async () => {
    await withServer({}, async ({ server, root }) => {
      const original = randomBytes(100_000);
      const landed = join(root, 'x.bin');
      await writeFile(landed, original);
      const leftover = join(root, dataName('x.bin', 'tmp'));
      await link(landed, leftover);
      const client = spawn(process.execPath, [FTX_BIN, 'put', '-', `127.0.0.1:${server.port}`, '--name', 'x.bin', '--force', '--retries', '0'], {
        stdio: ['pipe', 'ignore', 'ignore'], env: { ...process.env, FTX_TOKEN: '' },
      });
      const exited = new Promise((resolve) => client.once('exit', resolve));
      client.stdin.on('error', () => undefined);
      client.stdin.write(randomBytes(3 * 1024 * 1024));
      // The server is writing the stream (into its own new data file, or through the old name).
      await eventually('the stream to be written', async () => ((await stat(leftover).catch(() => undefined))?.size ?? 0) >= 1024 * 1024);
      client.kill('SIGKILL');
      await exited;
      await eventually('the stream to be discarded', async () => (await listTree(root)).length === 1);
      expect(md5(await readFile(landed))).toBe(md5(original));
    });
  });

  it('a kept partial that got a second name is not continued: the resume starts from 0 and the other name keeps its bytes', async () => {
    await withServer({}, async ({ server, root }) => {
      const body = randomBytes(100_000);
      const put = {
        action: 'put', id: 1, filename: 'big.bin', size: body.length, chunkSize: 4096, stream: false, wait: true, overwrite: false,
        resume: true, source: { size: body.length, mtime: 1_700_000_000_000 }, uploadId: 'u-1',
      };
      const first = await RawPeer.connect(server.port);
      await first.handshake();
      first.send(put);
      expect(await first.frame()).toMatchObject({ status: 200, offset: 0 });
      first.sendRaw(body.subarray(0, 50_000));
      first.socket.end();
      const state = join(root, '.ftx-state/partials', `${dataName('big.bin', 'part').slice(5, 37)}.json`);
      await eventually('the partial to be kept', () => readFile(state, 'utf8').then((t) => (JSON.parse(t) as { durable: number }).durable > 0, () => false));
      first.destroy();
      const copy = join(root, 'copy.bin');
      await link(join(root, dataName('big.bin', 'part')), copy);
      const copied = md5(await readFile(copy));

      const second = await RawPeer.connect(server.port);
      await second.handshake();
      second.send({ ...put, uploadId: 'u-2' });
      expect(await second.frame()).toMatchObject({ status: 200, offset: 0 });
      second.sendRaw(body);
      second.send({ action: 'end', id: 1, md5: md5(body) });
      expect(await second.frame()).toMatchObject({ status: 200, receipt: { md5: md5(body) } });
      second.destroy();
      expect(md5(await readFile(copy))).toBe(copied);
      expect(md5(await readFile(join(root, 'big.bin')))).toBe(md5(body));
      expect(await listTree(root)).toEqual(['big.bin', 'copy.bin']);
    });
  });

  it('the md5 a refused small file recorded before its link never vouches for the file that is there, also after a restart', async () => {
    await withServer({}, async ({ server, root }) => {
      const mtime = 1_700_000_000_000;
      const put = (peer: RawPeer, id: number, body: Buffer): void => {
        peer.send({ action: 'putmany', id, files: [{ filename: 'x.txt', size: body.length, md5: md5(body), overwrite: false, mtime }] });
        peer.sendRaw(body);
      };
      const original = randomBytes(3000);
      const other = randomBytes(3000);
      // There by other means (no digest entry), with the same size and mtime as the refused one.
      await writeFile(join(root, 'x.txt'), original);
      await utimes(join(root, 'x.txt'), new Date(mtime), new Date(mtime));
      const peer = await RawPeer.connect(server.port);
      await peer.handshake();
      put(peer, 2, other);
      expect(await peer.frame()).toMatchObject({ id: 2, files: [{ status: 409 }] });
      peer.destroy();
      await server.close();
      const again = await startServer({ root, host: '127.0.0.1', port: 0 });
      try {
        const checker = await RawPeer.connect(again.port);
        await checker.handshake();
        checker.send({ action: 'check', id: 3, files: [{ filename: 'x.txt', size: 3000, mtime, md5: md5(other) }] });
        expect(await checker.frame()).toMatchObject({ id: 3, results: [{ state: 'different' }] });
        checker.destroy();
      } finally {
        await again.close();
      }
    });
  });
});
