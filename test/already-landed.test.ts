/**
 * The `complete` acknowledgement (docs/PROTOCOL.md §6.3, §9.5): a retry of an upload whose first
 * attempt landed but whose verdict the client never got is answered "already stored" instead of a
 * body. The client reports it verified only after comparing the server's md5 with its own file.
 */
import { readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FtxClient } from '../src/client/client.js';
import { ResumeState } from '../src/client/put/resume-state.js';
import { RawPeer } from './helpers/raw-peer.js';
import { md5, type ServerFixture, withServer, writeRandomFile } from './helpers/server.js';

/** The first attempt of the upload `memory` describes: it lands `data` under up.bin, and its client forgets the verdict. */
async function landFirstAttempt(fixture: ServerFixture, data: Buffer, mtime: number, memory: ResumeState): Promise<void> {
  const source = { size: data.length, mtime };
  const peer = await RawPeer.connect(fixture.server.port);
  await peer.handshake();
  peer.send({ action: 'put', id: 1, filename: 'up.bin', size: data.length, chunkSize: 4096, resume: true, source, mtime, uploadId: memory.uploadId });
  expect((await peer.frame())?.status).toBe(200);
  peer.sendRaw(data);
  peer.send({ action: 'end', id: 1, md5: md5(data) });
  expect(await peer.frame()).toMatchObject({ status: 200, receipt: { filename: 'up.bin', md5: md5(data) } });
  peer.destroy();
}

describe('a retry of an upload that already landed', () => {
  it('gets "already stored" without sending a body; the receipt is checked against the local file', async () => {
    await withServer({}, async (fixture) => {
      const { path, data } = await writeRandomFile(fixture.scratch, 'src.bin', 300_000);
      const mtime = Math.round((await stat(path)).mtimeMs);
      const memory = new ResumeState();
      await landFirstAttempt(fixture, data, mtime, memory);

      const client = await FtxClient.connect({ host: '127.0.0.1', port: fixture.server.port });
      try {
        const receipt = await client.put(path, { remoteName: 'up.bin', resumeState: memory });
        expect(receipt).toMatchObject({ filename: 'up.bin', size: data.length, md5: md5(data), resumedFrom: data.length, bytesSent: 0 });
      } finally {
        await client.close();
      }
      expect(fixture.records.at(-1)).toMatchObject({ action: 'put', note: 'already landed', bytes: 0 });
      expect(md5(await readFile(join(fixture.root, 'up.bin')))).toBe(md5(data));
    });
  });

  it('whose local file now has other content (same size and mtime): not reported verified', async () => {
    await withServer({}, async (fixture) => {
      const { path, data } = await writeRandomFile(fixture.scratch, 'src.bin', 300_000);
      const mtime = Math.round((await stat(path)).mtimeMs);
      const memory = new ResumeState();
      await landFirstAttempt(fixture, data, mtime, memory);
      // Rewritten in place with the same size and mtime: the server cannot tell, the client's md5 can.
      const other = Buffer.from(data);
      other[12345] = other[12345]! ^ 0xff;
      await writeFile(path, other);
      await utimes(path, new Date(mtime), new Date(mtime));

      const client = await FtxClient.connect({ host: '127.0.0.1', port: fixture.server.port });
      try {
        await expect(client.put(path, { remoteName: 'up.bin', resumeState: memory })).rejects.toMatchObject({ code: 'verification_failed' });
      } finally {
        client.destroy();
      }
      expect(md5(await readFile(join(fixture.root, 'up.bin')))).toBe(md5(data));
    });
  });
});
