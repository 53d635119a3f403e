/**
 * One server per directory: two servers writing the same partials hand out false receipts, so a
 * second `ftx serve` on a directory already served is refused at start. The lock is released by
 * the kernel however the first one ends (SIGKILL too).
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit-codes.js';
import { startServer } from '../src/server/server.js';
import { runFtx, spawnServe } from './helpers/cli.js';
import { md5, withTempRoot, writeRandomFile } from './helpers/server.js';

describe('a second server on a directory already served', () => {
  it('is refused at start with one line and exit code 12; after the first is killed (-9) a new one starts', async () => {
    await withTempRoot('ftx-lock-', async (root, scratch) => {
      const first = await spawnServe([root, '--port', '0']);
      try {
        const second = await runFtx(['serve', root, '--port', '0'], {}, 10_000);
        expect(second.code).toBe(EXIT.DIR_IN_USE);
        expect(second.stderr).toBe(`ftx: error: ${root} is already served by another ftx serve (pid ${first.child.pid}); stop it first\n`);
        // The same directory through another path (a trailing slash, a relative path) is the same lock.
        const again = await runFtx(['serve', `${root}/`, '--port', '0'], {}, 10_000);
        expect(again.code).toBe(EXIT.DIR_IN_USE);
      } finally {
        expect(await first.stop('SIGKILL')).toBeNull();
      }
      // The kernel released the lock with the process: a new server starts and works.
      const next = await spawnServe([root, '--port', '0']);
      try {
        const file = await writeRandomFile(scratch, 'a.bin', 100_000);
        const put = await runFtx(['put', file.path, `127.0.0.1:${next.port}`]);
        expect(put.code, put.stderr).toBe(EXIT.OK);
        expect(md5(await readFile(join(root, 'a.bin')))).toBe(md5(file.data));
      } finally {
        await next.stop();
      }
      // A clean stop releases it too.
      const last = await spawnServe([root, '--port', '0']);
      await last.stop();
    });
  });

  it('is still refused after .ftx-state was removed while the first one runs (the lock is on the directory itself)', async () => {
    await withTempRoot('ftx-lock-', async (root) => {
      const first = await spawnServe([root, '--port', '0']);
      try {
        await rm(join(root, '.ftx-state'), { recursive: true, force: true });
        const second = await runFtx(['serve', root, '--port', '0'], {}, 10_000);
        expect(second.code, second.stderr).toBe(EXIT.DIR_IN_USE);
        expect(second.stderr).toMatch(/is already served by another ftx serve/);
      } finally {
        await first.stop();
      }
    });
  });

  it('in one process (the library): the second startServer rejects with code dir_in_use until the first is closed', async () => {
    await withTempRoot('ftx-lock-', async (root) => {
      const first = await startServer({ root, host: '127.0.0.1', port: 0 });
      try {
        await expect(startServer({ root, host: '127.0.0.1', port: 0 })).rejects.toMatchObject({ code: 'dir_in_use' });
      } finally {
        await first.close();
      }
      const second = await startServer({ root, host: '127.0.0.1', port: 0 });
      await second.close();
    });
  });

  it('without flock(1) on the PATH it serves, and says once that a second server would not be refused', async () => {
    await withTempRoot('ftx-lock-', async (root) => {
      const server = await spawnServe([root, '--port', '0'], { PATH: '/nonexistent' });
      try {
        const until = Date.now() + 5000;
        while (!server.log().includes('warning') && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
        expect(server.log()).toMatch(/^ftx: serving .*\nftx: warning: flock\(1\) \(util-linux\) not found: a second ftx serve on this directory would not be refused\n/);
      } finally {
        await server.stop();
      }
    });
  });
});
