/** `ftx serve --tokens FILE` end to end: refused when others can read it, write-only tokens from the CLI. */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runFtx, spawnServe } from './helpers/cli.js';
import { makeTempDir } from './helpers/server.js';

const WRITER = 'ftx1_writer-token-0123456789abcdefghijkl';
const ADMIN = 'ftx1_admin-token-0123456789abcdefghijklm';

describe('ftx serve --tokens', () => {
  it('refuses a tokens file group or others can read, in one line, exit 2', async () => {
    const tmp = await makeTempDir('get-tokens-cli-');
    try {
      const file = join(tmp.dir, 'tokens');
      await writeFile(file, `laptop write ${WRITER}\n`, { mode: 0o644 });
      await chmod(file, 0o644);
      const result = await runFtx(['serve', tmp.dir, '--port', '0', '--tokens', file]);
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain('chmod 600');
      expect(result.stderr).not.toContain(WRITER);
      const both = await runFtx(['serve', tmp.dir, '--port', '0', '--tokens', file, '--token', ADMIN]);
      expect(both.code).toBe(2);
    } finally {
      await tmp.cleanup();
    }
  });

  it('a write-only token puts new files, but put --force exits 5 (needs_overwrite) and the file stays', async () => {
    const tmp = await makeTempDir('get-tokens-cli-');
    const root = join(tmp.dir, 'root');
    await mkdir(root);
    const file = join(tmp.dir, 'tokens');
    await writeFile(file, `# scopes\nlaptop write ${WRITER}\nadmin all ${ADMIN}\n`, { mode: 0o600 });
    const serve = await spawnServe([root, '--host', '127.0.0.1', '--port', '0', '--tokens', file]);
    try {
      expect(serve.log()).toContain('2 token(s)');
      const source = join(tmp.dir, 'db.sql');
      await writeFile(source, 'monday');
      const env = { FTX_TOKEN: WRITER };
      expect((await runFtx(['put', source, `127.0.0.1:${serve.port}`], env)).code).toBe(0);
      await writeFile(source, 'encrypted by ransomware');
      const forced = await runFtx(['put', source, `127.0.0.1:${serve.port}`, '--force'], env);
      expect(forced.code, forced.stderr).toBe(5);
      expect(forced.stderr).toContain('needs_overwrite');
      expect(await readFile(join(root, 'db.sql'), 'utf8')).toBe('monday');
      expect((await runFtx(['put', source, `127.0.0.1:${serve.port}`, '--force'], { FTX_TOKEN: ADMIN })).code).toBe(0);
      expect(await readFile(join(root, 'db.sql'), 'utf8')).toBe('encrypted by ransomware');
    } finally {
      await serve.stop();
      await tmp.cleanup();
    }
  });
});
