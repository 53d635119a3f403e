/**
 * Needs root: runs the client as `nobody` (setpriv), since root reads a chmod-000 directory anyway.
 * An unreadable directory in a tree is a failed entry (exit 10, a `fail` event), never a clean 0.
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { FTX_BIN, runCommand, spawnServe, type ServeProcess } from '../helpers/cli.js';
import { listTree, makeTempDir } from '../helpers/server.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let serve: ServeProcess;
let root: string;

beforeAll(async () => {
  tmp = await makeTempDir('ftx-unreadable-');
  await chmod(tmp.dir, 0o755); // nobody must reach the sources
  root = join(tmp.dir, 'root');
  await mkdir(root);
  // Throws (and fails the suite) when setpriv cannot switch users: not root.
  execFileSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'true']);
  serve = await spawnServe([root, '--port', '0']);
});

afterAll(async () => {
  await serve?.stop();
  await tmp?.cleanup();
});

const asNobody = (args: string[]) =>
  runCommand('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, FTX_BIN, ...args]);

describe('a tree with an unreadable directory', () => {
  it('sends the rest, reports the directory as failed and exits 10 (partial)', async () => {
    const src = join(tmp.dir, 'tree');
    await mkdir(join(src, 'locked'), { recursive: true });
    await writeFile(join(src, 'readable.txt'), 'here');
    await writeFile(join(src, 'locked', 'secret.txt'), 'not for nobody');
    await chmod(src, 0o755);
    await chmod(join(src, 'locked'), 0o000);
    const result = await asNobody(['put', src, `127.0.0.1:${serve.port}`, '--json']);
    expect(result.code, result.stderr).toBe(EXIT.PARTIAL);
    const events = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events).toContainEqual(expect.objectContaining({ event: 'fail', file: 'tree/locked/', code: 'local_io' }));
    expect(events.find((e) => e.event === 'fail')!.message).toMatch(/EACCES/);
    expect(events.at(-1)).toMatchObject({ event: 'summary', sent: 1, failed: 1, exitCode: EXIT.PARTIAL });
    expect(result.stderr).toMatch(/ftx: tree\/locked\/: cannot read the directory .*EACCES/);
    // The unreadable directory is not created empty on the server, as if it had no content.
    expect(await listTree(root)).toEqual(['tree', 'tree/readable.txt']);
  });
});
