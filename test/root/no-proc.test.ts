/**
 * Needs root (a mount namespace): `ftx serve` reaches every file through /proc/self/fd to stay
 * inside the served directory (src/server/storage/disk/served-root.ts), so without /proc it refuses to start,
 * with one clear line and the usage exit code, rather than serve without containment.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { FTX_BIN, runCommand } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/server.js';

describe('ftx serve without /proc', () => {
  it('refuses to start: exit 2, one line naming /proc, nothing created in the directory', async () => {
    // Throws (and fails the suite) when a mount namespace cannot be made: not root.
    execFileSync('unshare', ['-m', 'true']);
    const tmp = await makeTempDir('ftx-no-proc-');
    try {
      const root = join(tmp.dir, 'root');
      await mkdir(root);
      const script = 'umount -l /proc && exec "$0" "$@"';
      const result = await runCommand('unshare', ['-m', 'sh', '-c', script, process.execPath, FTX_BIN, 'serve', root, '--port', '0'], {}, 20_000);
      expect(result.code).toBe(EXIT.USAGE);
      expect(result.stderr.trim().split('\n')).toEqual([expect.stringContaining('needs Linux with /proc mounted')]);
      expect(await readdir(root)).toEqual([]);
    } finally {
      await tmp.cleanup();
    }
  });
});
