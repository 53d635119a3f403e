import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FtxClient } from '../src/client/client.js';
import { runUpload, type UploadEvents } from '../src/client/tree/upload-tree.js';
import { startCutProxy } from './helpers/cut-proxy.js';
import { listTree, withServer } from './helpers/server.js';

function collector(): { events: UploadEvents; sent: string[]; failed: string[] } {
  const sent: string[] = [];
  const failed: string[] = [];
  const none = (): void => undefined;
  return {
    sent, failed,
    events: {
      planned: none, started: none, progressed: none, skipped: none, wouldSend: none, note: none,
      sent: (file) => sent.push(file.name),
      failed: (file, error) => failed.push(`${file.name}: ${String(error)}`),
    },
  };
}

describe('batched small files over a connection that breaks', () => {
  it.each([20_000, 120_000, 300_000])('cut after %i bytes: every file lands exactly once, none renamed twice', async (cutAfter) => {
    await withServer({}, async (fixture) => {
      const src = join(fixture.scratch, 'many');
      await mkdir(src);
      for (let i = 0; i < 200; i++) await writeFile(join(src, `f${String(i).padStart(3, '0')}.txt`), `content of file ${i} `.repeat(100));
      const proxy = await startCutProxy(fixture.server.port, cutAfter);
      const session = new FtxClient({ host: '127.0.0.1', port: proxy.port, retry: { retries: 3, baseDelayMs: 10, maxDelayMs: 20 } });
      const { events, sent, failed } = collector();
      try {
        const summary = await runUpload(session, {
          sources: [src], remoteDir: '', exclude: [], followSymlinks: false, ifExists: 'rename', checksum: false,
          chunkSize: 4096, resume: true, dryRun: false,
        }, events);
        expect(failed).toEqual([]);
        expect(summary).toMatchObject({ sent: 200, failed: 0 });
      } finally {
        await session.close().catch(() => undefined);
        await proxy.close();
      }
      expect(proxy.connections()).toBeGreaterThanOrEqual(2);
      expect(new Set(sent).size).toBe(200);
      const landed = await listTree(join(fixture.root, 'many'));
      expect(landed).toHaveLength(200);
      expect(landed.every((name) => /^f\d{3}\.txt$/.test(name))).toBe(true);
      expect(await readFile(join(fixture.root, 'many', 'f123.txt'), 'utf8')).toBe('content of file 123 '.repeat(100));
    });
  });
});
