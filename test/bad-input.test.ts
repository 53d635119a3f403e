import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FtxClient } from '../src/client/client.js';
import { listPartialStates, listTree, md5, type ServerFixture, withServer, writeRandomFile } from './helpers/server.js';
import { RawPeer } from './helpers/raw-peer.js';

/** Proves the server still serves: a normal client lands a file. */
async function expectServerUp(fixture: ServerFixture, /** Of a server run with insecurePlaintext. */ token?: string): Promise<void> {
  const { path } = await writeRandomFile(fixture.scratch, 'probe', 1234);
  const client = await FtxClient.connect({ host: '127.0.0.1', port: fixture.server.port, ...(token ? { token, insecurePlaintext: true } : {}) });
  const name = `probe-${randomBytes(4).toString('hex')}`;
  await client.put(path, { remoteName: name });
  await client.close();
  expect((await readFile(join(fixture.root, name))).length).toBe(1234);
}

async function putHeader(peer: RawPeer, fields: Record<string, unknown>): Promise<Record<string, unknown> | null> {
  peer.send({ action: 'put', id: 1, chunkSize: 4096, overwrite: false, ...fields });
  return peer.frame();
}

/** Waits until the server has cleaned up after a dropped client (poll, bounded). */
async function eventually(check: () => Promise<boolean>, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('bad input over a raw socket', () => {
  it('wrong md5: 422, nothing visible, temp file gone, connection still usable', async () => {
    await withServer({}, async (fixture) => {
      const peer = await RawPeer.connect(fixture.server.port);
      expect((await peer.handshake())?.status).toBe(200);
      const body = randomBytes(10_000);
      expect((await putHeader(peer, { filename: 'f.bin', size: body.length }))?.status).toBe(200);
      peer.sendRaw(body);
      peer.send({ action: 'end', id: 1, md5: '0'.repeat(32) });
      const verdict = await peer.frame();
      expect(verdict).toMatchObject({ status: 422, code: 'checksum_mismatch', id: 1 });
      expect(await listTree(fixture.root)).toEqual([]);
      expect(await listPartialStates(fixture.root)).toEqual([]);
      // Same connection: a correct put now succeeds.
      expect((await putHeader(peer, { filename: 'f.bin', size: body.length }))?.status).toBe(200);
      peer.sendRaw(body);
      peer.send({ action: 'end', id: 1, md5: md5(body) });
      expect(await peer.frame()).toMatchObject({ status: 200, receipt: { md5: md5(body), size: body.length } });
      expect(await listTree(fixture.root)).toEqual(['f.bin']);
      peer.destroy();
    });
  });

  it('fewer bytes than declared, then close: nothing visible under the name, a hidden partial kept, server up', async () => {
    await withServer({}, async (fixture) => {
      const peer = await RawPeer.connect(fixture.server.port);
      await peer.handshake();
      expect((await putHeader(peer, { filename: 'dir/short.bin', size: 100_000 }))?.status).toBe(200);
      peer.sendRaw(randomBytes(60_000));
      await new Promise((resolve) => setTimeout(resolve, 50));
      peer.destroy();
      await eventually(async () => (await listPartialStates(fixture.root)).length === 1 && fixture.records.length === 1);
      const tree = await listTree(fixture.root);
      expect(tree).not.toContain('dir/short.bin');
      expect(tree.filter((e) => e.startsWith('dir/') && !e.startsWith('dir/.ftx-'))).toEqual([]);
      await expectServerUp(fixture);
    });
  });

  it('more bytes than declared: refused as a protocol error, nothing landed', async () => {
    await withServer({}, async (fixture) => {
      const peer = await RawPeer.connect(fixture.server.port);
      await peer.handshake();
      const body = randomBytes(5000);
      expect((await putHeader(peer, { filename: 'long.bin', size: 4000 }))?.status).toBe(200);
      peer.sendRaw(body);
      peer.send({ action: 'end', id: 1, md5: md5(body.subarray(0, 4000)) });
      expect(await peer.frame()).toMatchObject({ status: 400, code: 'protocol_error' });
      await peer.closed();
      await eventually(async () => (await listTree(fixture.root)).length === 0);
      expect(await listPartialStates(fixture.root)).toEqual([]);
      await expectServerUp(fixture);
    });
  });

  it('wrong or missing token: 401 and the connection closes; nothing can be written (in-band HMAC, --insecure-plaintext)', async () => {
    await withServer({ token: 'right', insecurePlaintext: true }, async (fixture) => {
      for (const token of ['wrong', undefined]) {
        const peer = await RawPeer.connect(fixture.server.port);
        expect(await peer.handshake(token)).toMatchObject({ status: 401, code: 'auth_failed' });
        await peer.closed();
      }
      // A put without a hello is refused too.
      const peer = await RawPeer.connect(fixture.server.port);
      await peer.frame();
      peer.send({ action: 'put', id: 1, filename: 'x', size: 1 });
      expect(await peer.frame()).toMatchObject({ status: 400, code: 'protocol_error' });
      await peer.closed();
      expect(await listTree(fixture.root)).toEqual([]);
      await expectServerUp(fixture, 'right');
    });
  });

  it('unsupported protocol version: 426', async () => {
    await withServer({}, async (fixture) => {
      const peer = await RawPeer.connect(fixture.server.port);
      await peer.frame();
      peer.send({ action: 'hello', protocol: 99 });
      expect(await peer.frame()).toMatchObject({ status: 426, code: 'unsupported_version' });
      await peer.closed();
    });
  });

  it.each([
    ['an oversized length prefix', Buffer.from([0x7f, 0xff, 0xff, 0xff])],
    ['a frame of invalid JSON', Buffer.concat([Buffer.from([0, 0, 0, 5]), Buffer.from('{oops')])],
    ['a JSON array frame', Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from('[]')])],
    ['a frame without an action', Buffer.concat([Buffer.from([0, 0, 0, 13]), Buffer.from('{"type":"x"} ')])],
  ])('%s: 400 protocol_error, connection closed, server serves the next client', async (_name, bytes) => {
    await withServer({}, async (fixture) => {
      const peer = await RawPeer.connect(fixture.server.port);
      await peer.handshake();
      peer.sendRaw(bytes);
      expect(await peer.frame()).toMatchObject({ type: 'reply', status: 400, code: 'protocol_error' });
      await peer.closed();
      await expectServerUp(fixture);
    });
  });

  it('malformed put fields and unknown actions: 400, connection stays usable', async () => {
    await withServer({}, async (fixture) => {
      const peer = await RawPeer.connect(fixture.server.port);
      await peer.handshake();
      expect(await putHeader(peer, { filename: 'a', size: -5 })).toMatchObject({ status: 400, code: 'bad_request' });
      expect(await putHeader(peer, { filename: ['a'], size: 5 })).toMatchObject({ status: 400, code: 'bad_request' });
      peer.send({ action: 'rm', id: 9, filename: '*' });
      expect(await peer.frame()).toMatchObject({ status: 400, code: 'unknown_action', id: 9 });
      peer.send({ action: '__proto__', id: 10 });
      expect(await peer.frame()).toMatchObject({ status: 400, code: 'unknown_action' });
      expect((await putHeader(peer, { filename: 'ok.txt', size: 2 }))?.status).toBe(200);
      peer.sendRaw('hi');
      peer.send({ action: 'end', id: 1, md5: md5(Buffer.from('hi')) });
      expect((await peer.frame())?.status).toBe(200);
      peer.destroy();
    });
  });


  it('a pipelined put (wait: false, not in v1): 400 bad_request, the connection closes, nothing lands; the hello lists no "pipeline"', async () => {
    await withServer({}, async (fixture) => {
      const peer = await RawPeer.connect(fixture.server.port);
      const hello = await peer.frame();
      expect((hello as { features: string[] }).features).not.toContain('pipeline');
      peer.socket.destroy();
      const again = await RawPeer.connect(fixture.server.port);
      await again.handshake();
      // A wait that is not a boolean was always a plain 400: the connection stays usable.
      expect(await putHeader(again, { filename: 'w.txt', size: 2, wait: 'no' })).toMatchObject({ status: 400, code: 'bad_request', id: 1 });
      again.send({ action: 'put', id: 2, filename: 'p.txt', size: 2, chunkSize: 4096, wait: false });
      again.sendRaw('hi');
      again.send({ action: 'end', id: 2, md5: md5(Buffer.from('hi')) });
      expect(await again.frame()).toMatchObject({ status: 400, code: 'bad_request', id: 2 });
      await again.closed();
      expect(await listTree(fixture.root)).toEqual([]);
      await expectServerUp(fixture);
    });
  });
  it('a malformed uploadId (PROTOCOL.md §6.1: 1-64 characters 0x21-0x7E): 400 bad_request, the connection stays usable', async () => {
    await withServer({}, async (fixture) => {
      const peer = await RawPeer.connect(fixture.server.port);
      await peer.handshake();
      for (const uploadId of ['', 'a b', 'x'.repeat(65), 'caf\u00e9', 'tab\there', 7, null, ['u']]) {
        expect(await putHeader(peer, { filename: 'u.txt', size: 2, uploadId }), JSON.stringify(uploadId)).toMatchObject({ status: 400, code: 'bad_request', id: 1 });
      }
      expect(await putHeader(peer, { filename: 'u.txt', size: 2, uploadId: `${'!~'.repeat(32)}` })).toMatchObject({ status: 200, offset: 0 });
      peer.sendRaw('hi');
      peer.send({ action: 'end', id: 1, md5: md5(Buffer.from('hi')) });
      expect(await peer.frame()).toMatchObject({ status: 200, receipt: { filename: 'u.txt' } });
      peer.destroy();
      expect(await listTree(fixture.root)).toEqual(['u.txt']);
    });
  });

  it('a request with a missing or malformed id: 400 without id, the connection stays usable (PROTOCOL.md §1, §5.1)', async () => {
    await withServer({}, async (fixture) => {
      const peer = await RawPeer.connect(fixture.server.port);
      await peer.handshake();
      for (const request of [{ action: 'check', files: [] }, { action: 'mkdir', id: 'x', path: 'd' }, { action: 'put', id: -1, filename: 'a', size: 1 }]) {
        peer.send(request);
        const reply = await peer.frame();
        expect(reply).toMatchObject({ type: 'reply', status: 400, code: 'bad_request' });
        expect(reply).not.toHaveProperty('id');
      }
      peer.send({ action: 'check', id: 3, files: [] });
      expect(await peer.frame()).toMatchObject({ id: 3, status: 200, results: [] });
      peer.destroy();
    });
  });

  it('a hello whose hmac is not a string: 400 bad_request and closed, also without a token (PROTOCOL.md §4.2)', async () => {
    await withServer({}, async (fixture) => {
      const peer = await RawPeer.connect(fixture.server.port);
      expect(await peer.frame()).toMatchObject({ type: 'hello', auth: 'none' });
      peer.send({ action: 'hello', protocol: 1, client: 'raw-peer', hmac: 5 });
      expect(await peer.frame()).toMatchObject({ type: 'reply', status: 400, code: 'bad_request' });
      await peer.closed();
    });
  });

  it('a client stuck in the middle of a frame does not stall other clients', async () => {
    await withServer({}, async (fixture) => {
      const stuck = await RawPeer.connect(fixture.server.port);
      await stuck.handshake();
      stuck.sendRaw(Buffer.from([0, 0, 1, 0, 0x7b]));
      const silent = await RawPeer.connect(fixture.server.port);
      await expectServerUp(fixture);
      stuck.destroy();
      silent.destroy();
    });
  });
});

describe('filenames that try to leave the root: 403, nothing written outside', () => {
  const tricks: [string, string][] = [
    ['parent segment', '../escape.txt'],
    ['nested parent segment', 'a/../../escape.txt'],
    ['trailing parent segment', 'a/..'],
    ['absolute path', '/tmp/escape.txt'],
    ['dot segment', './x'],
    ['empty name', ''],
    ['empty segment', 'a//b'],
    ['trailing slash', 'dir/'],
    ['NUL byte', 'a\u0000b'],
    ['newline', 'a\nb'],
    ['escape character', 'a\u001b[31mb'],
    ['C1 control', 'a\u0085b'],
    ['backslash traversal', '..\\escape.txt'],
    ['drive letter', 'C:evil'],
    ['server temp-file name', '.ftx-0123456789abcdef.part'],
    ['server temp-file name in a subdirectory', 'd/.ftx-x'],
    ['segment too long', 'x'.repeat(256)],
    ['symlink to outside', 'outlink/escape.txt'],
    ['symlink to outside, nested', 'inside/outlink2/escape.txt'],
  ];

  it.each(tricks)('%s', async (_name, filename) => {
    await withServer({}, async (fixture) => {
      const outside = join(fixture.scratch, 'outside');
      await mkdir(outside);
      await symlink(outside, join(fixture.root, 'outlink'));
      await mkdir(join(fixture.root, 'inside'));
      await symlink(outside, join(fixture.root, 'inside', 'outlink2'));
      const before = await listTree(fixture.root);
      const peer = await RawPeer.connect(fixture.server.port);
      await peer.handshake();
      expect(await putHeader(peer, { filename, size: 3 })).toMatchObject({ status: 403, code: 'forbidden_path' });
      peer.destroy();
      expect(await listTree(outside)).toEqual([]);
      expect(await listTree(fixture.root)).toEqual(before);
      expect(await listTree(fixture.scratch)).toEqual(['outside']);
    });
  });

  it('an existing symlink at the target is replaced with --force, never written through', async () => {
    await withServer({}, async (fixture) => {
      const victim = join(fixture.scratch, 'victim.txt');
      await writeFile(victim, 'precious');
      await symlink(victim, join(fixture.root, 'link.txt'));
      const { path } = await writeRandomFile(fixture.scratch, 'new', 10);
      const client = await FtxClient.connect({ host: '127.0.0.1', port: fixture.server.port });
      await expect(client.put(path, { remoteName: 'link.txt' })).rejects.toMatchObject({ code: 'exists' });
      await client.put(path, { remoteName: 'link.txt', overwrite: true });
      await client.close();
      expect(await readFile(victim, 'utf8')).toBe('precious');
      expect((await readFile(join(fixture.root, 'link.txt'))).length).toBe(10);
    });
  });

  it('an existing file without overwrite: 409 and the original is intact', async () => {
    await withServer({}, async (fixture) => {
      await writeFile(join(fixture.root, 'keep.txt'), 'original');
      const peer = await RawPeer.connect(fixture.server.port);
      await peer.handshake();
      expect(await putHeader(peer, { filename: 'keep.txt', size: 3 })).toMatchObject({ status: 409, code: 'exists' });
      expect(await putHeader(peer, { filename: 'keep.txt/below', size: 3 })).toMatchObject({ status: 409, code: 'exists' });
      peer.destroy();
      expect(await readFile(join(fixture.root, 'keep.txt'), 'utf8')).toBe('original');
    });
  });
});

describe('putmany batches over a raw socket', () => {
  const entry = (filename: string, body: Buffer, extra: Record<string, unknown> = {}) =>
    ({ filename, size: body.length, md5: md5(body), ...extra });

  it('each file is verified and refused on its own; the one reply lists every verdict in order', async () => {
    await withServer({}, async (fixture) => {
      await writeFile(join(fixture.root, 'taken.txt'), 'original');
      await writeFile(join(fixture.root, 'other.txt'), 'other');
      const peer = await RawPeer.connect(fixture.server.port);
      expect((await peer.handshake())?.status).toBe(200);
      const good = randomBytes(5000);
      const empty = Buffer.alloc(0);
      const corrupt = randomBytes(300);
      const taken = Buffer.from('new content');
      const escape = randomBytes(10);
      const nested = randomBytes(70_000);
      peer.send({
        action: 'putmany', id: 9, files: [
          entry('a/good.bin', good, { mode: 0o600, mtime: Date.UTC(2022, 1, 3) }),
          entry('empty.txt', empty),
          { ...entry('corrupt.bin', corrupt), md5: md5(Buffer.from('something else')) },
          entry('taken.txt', taken),
          entry('../escape.bin', escape),
          entry('a/b/c/nested.bin', nested),
          entry('other.txt', taken, { rename: true }),
          entry('a/good.bin', good),
        ],
      });
      for (const body of [good, empty, corrupt, taken, escape, nested, taken, good]) peer.sendRaw(body);
      const reply = await peer.frame();
      expect(reply).toMatchObject({ type: 'reply', id: 9, status: 200 });
      const verdicts = reply!.files as Record<string, unknown>[];
      // The same name twice in one batch: the second is refused as busy (the first holds the name).
      expect(verdicts.map((v) => v.status)).toEqual([200, 200, 422, 409, 403, 200, 200, 423]);
      expect(verdicts[0]).toMatchObject({ code: 'ok', md5: md5(good) });
      expect(verdicts[0]!.filename).toBeUndefined();
      expect(verdicts[6]).toMatchObject({ filename: 'other.1.txt', md5: md5(taken) });
      expect(String(verdicts[3]!.message).length).toBeLessThanOrEqual(120);
      expect(await readFile(join(fixture.root, 'a', 'good.bin'))).toEqual(good);
      expect(await readFile(join(fixture.root, 'a', 'b', 'c', 'nested.bin'))).toEqual(nested);
      expect(await readFile(join(fixture.root, 'taken.txt'), 'utf8')).toBe('original');
      expect((await stat(join(fixture.root, 'a', 'good.bin'))).mode & 0o777).toBe(0o600);
      expect((await stat(join(fixture.root, 'a', 'good.bin'))).mtimeMs).toBe(Date.UTC(2022, 1, 3));
      expect((await listTree(fixture.root)).sort()).toEqual(
        ['a', 'a/b', 'a/b/c', 'a/b/c/nested.bin', 'a/good.bin', 'empty.txt', 'other.1.txt', 'other.txt', 'taken.txt']);
      // The connection goes on: a classic put after the batch.
      expect((await putHeader(peer, { id: 10, filename: 'after.bin', size: 3 }))?.status).toBe(200);
      peer.sendRaw(Buffer.from('abc'));
      peer.send({ action: 'end', id: 10, md5: md5(Buffer.from('abc')) });
      expect(await peer.frame()).toMatchObject({ id: 10, status: 200 });
      peer.destroy();
    });
  });

  it('a malformed batch (limits, fields) gets 400 and the connection closes; nothing lands; the server stays up', async () => {
    await withServer({}, async (fixture) => {
      const cases: Record<string, unknown>[] = [
        { files: [] },
        { files: Array.from({ length: 129 }, (_, i) => entry(`f${i}`, Buffer.alloc(0))) },
        { files: [{ filename: 'big', size: 1024 * 1024 + 1, md5: '0'.repeat(32) }] },
        { files: Array.from({ length: 9 }, (_, i) => ({ filename: `m${i}`, size: 1024 * 1024, md5: '0'.repeat(32) })) },
        { files: Array.from({ length: 7 }, (_, i) => entry(`${String(i).repeat(4000)}`, Buffer.alloc(0))) },
        { files: [{ filename: 'x', size: 1, md5: 'not-hex' }] },
        { files: [{ ...entry('x', Buffer.from('x')), mode: 0o1777 }] },
        { files: [{ ...entry('x', Buffer.from('x')), overwrite: 'yes' }] },
        { files: 'nope' },
      ];
      for (const fields of cases) {
        const peer = await RawPeer.connect(fixture.server.port);
        expect((await peer.handshake())?.status).toBe(200);
        peer.send({ action: 'putmany', id: 3, ...fields });
        peer.sendRaw(randomBytes(100));
        expect(await peer.frame(), JSON.stringify(fields).slice(0, 80)).toMatchObject({ id: 3, status: 400, code: 'bad_request' });
        await peer.closed();
      }
      expect(await listTree(fixture.root)).toEqual([]);
      await expectServerUp(fixture);
    });
  });

  it('a batch whose bodies stop short, then close: nothing of it lands, no temp file stays', async () => {
    await withServer({}, async (fixture) => {
      const peer = await RawPeer.connect(fixture.server.port);
      expect((await peer.handshake())?.status).toBe(200);
      const a = randomBytes(4096);
      const b = randomBytes(4096);
      peer.send({ action: 'putmany', id: 1, files: [entry('a.bin', a), entry('b.bin', b)] });
      peer.sendRaw(Buffer.concat([a, b.subarray(0, 100)]));
      await new Promise((resolve) => setTimeout(resolve, 100));
      peer.destroy();
      await eventually(async () => (await listTree(fixture.root)).length === 0);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await listTree(fixture.root)).toEqual([]);
      const all = await readdir(fixture.root);
      expect(all.filter((name) => name !== '.ftx-state')).toEqual([]);
      await expectServerUp(fixture);
    });
  });
});
