/**
 * --if-exists under concurrency (issue 10 item 5): 20 clients race on one name. `check` says
 * "missing" to all of them, one lands first; the policy the user asked for must still hold for the
 * others, because it travels with the put and the server applies it at landing time.
 */
import { mkdir, readdir, readFile, utimes } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FtxClient } from '../src/client/client.js';
import { DEFAULT_RETRY_POLICY } from '../src/client/retry.js';
import { runUpload, type IfExists, type UploadEvents, type UploadJob } from '../src/client/tree/upload-tree.js';
import { md5, withServer, writeRandomFile } from './helpers/server.js';

const CLIENTS = 20;

const quiet: UploadEvents = {
  planned: () => undefined, started: () => undefined, progressed: () => undefined, sent: () => undefined,
  skipped: () => undefined, failed: () => undefined, wouldSend: () => undefined, note: () => undefined,
};

/**
 * A loopback proxy that makes the race certain: each connection's requests after its `check` are
 * held until every one of `clients` connections has had its check answered, so all of them
 * decide on "missing"; then one goes first, and the others go once it has landed.
 */
async function startBarrierProxy(targetPort: number, clients: number): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const held: (() => void)[] = [];
  let checked = 0;
  let leader: (() => void) | undefined;
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client).add(upstream);
    let answered = false;
    let open = false;
    const queue: Buffer[] = [];
    const release = (): void => {
      open = true;
      for (const data of queue.splice(0)) upstream.write(data);
    };
    client.on('data', (data: Buffer) => (answered && !open ? queue.push(data) : upstream.write(data)));
    upstream.on('data', (data: Buffer) => {
      client.write(data);
      if (leader === release && data.includes('stored and verified')) for (const go of held.splice(0)) go();
      if (answered || !data.includes('"message":"checked"')) return;
      answered = true;
      held.push(release);
      // Later connections (retries) are not held: the barrier opens once. One client goes first
      // and lands; the others follow once it has, and find the name taken at landing time.
      if (++checked === clients) {
        leader = held.shift();
        leader!();
      } else if (checked > clients) {
        release();
      }
    });
    for (const socket of [client, upstream]) {
      socket.on('error', () => undefined);
      socket.on('close', () => (socket === client ? upstream : client).destroy());
    }
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Each client uploads its own content as `dir/db.bin`, all at once; returns their summaries. */
async function race(serverPort: number, scratch: string, ifExists: IfExists, size: number) {
  const proxy = await startBarrierProxy(serverPort, CLIENTS);
  const port = proxy.port;
  const sources = await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
    await mkdir(join(scratch, `c${i}`));
    const { path, data } = await writeRandomFile(join(scratch, `c${i}`), 'db.bin', size);
    // Distinct mtimes: with equal size and mtime a landed rival would look "identical" to check.
    await utimes(path, 1_700_000_000 + i, 1_700_000_000 + i);
    return { path, md5: md5(data) };
  }));
  const runs = sources.map(async (source) => {
    // 423 busy while a rival holds the name is retried: enough retries for 20 rivals in turn.
    const session = new FtxClient({ host: '127.0.0.1', port, retry: { ...DEFAULT_RETRY_POLICY, retries: 8, baseDelayMs: 200, maxDelayMs: 2000 } });
    const job: UploadJob = {
      // Each client's source is named db.bin under its own directory, so all land as dir/db.bin.
      sources: [source.path], remoteDir: 'dir', exclude: [], followSymlinks: false, ifExists, checksum: false,
      chunkSize: 4096, resume: true, dryRun: false,
    };
    try {
      return await runUpload(session, job, quiet);
    } finally {
      await session.close().catch(() => session.destroy());
    }
  });
  try {
    return { summaries: await Promise.all(runs), md5s: new Set(sources.map((s) => s.md5)) };
  } finally {
    await proxy.close();
  }
}

describe.each([
  ['small files (putmany)', 4096],
  ['large files (classic puts)', 1024 * 1024 + 1],
])('%s: 20 clients racing on one name', (_label, size) => {
  it('--force: every client lands its file (the last one wins), none fails with 409', async () => {
    await withServer({}, async ({ server, root, scratch }) => {
      const { summaries, md5s } = await race(server.port, scratch, 'overwrite', size);
      expect(summaries.map((s) => s.failed)).toEqual(Array(CLIENTS).fill(0));
      expect(summaries.map((s) => s.sent)).toEqual(Array(CLIENTS).fill(1));
      expect(await readdir(join(root, 'dir'))).toEqual(['db.bin']);
      // The name holds exactly one client's whole file.
      expect(md5s.has(md5(await readFile(join(root, 'dir', 'db.bin'))))).toBe(true);
    });
  });

  it('--if-exists rename: every client lands, each under its own name, none fails with 409', async () => {
    await withServer({}, async ({ server, root, scratch }) => {
      const { summaries, md5s } = await race(server.port, scratch, 'rename', size);
      expect(summaries.map((s) => s.failed)).toEqual(Array(CLIENTS).fill(0));
      const names = await readdir(join(root, 'dir'));
      expect(names.length).toBe(CLIENTS);
      const landed = new Set(await Promise.all(names.map(async (n) => md5(await readFile(join(root, 'dir', n))))));
      expect(landed).toEqual(md5s);
    });
  });

  it('--if-exists skip: a name taken meanwhile is skipped, not failed', async () => {
    await withServer({}, async ({ server, scratch }) => {
      const { summaries } = await race(server.port, scratch, 'skip', size);
      expect(summaries.map((s) => s.failed)).toEqual(Array(CLIENTS).fill(0));
      expect(summaries.reduce((n, s) => n + s.sent, 0)).toBeGreaterThanOrEqual(1);
    });
  });
});
