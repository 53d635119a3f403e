/** Test helpers: a real server on 127.0.0.1:0 in a real temp dir, always closed in `finally`. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server/server.js';
import { testServerAuth } from './transport-mode.js';
import type { TransferRecord } from '../../src/server/log/transfer-log.js';

/** Hex md5 of some bytes (what the tests compare files by). */
export const md5 = (data: Buffer): string => createHash('md5').update(data).digest('hex');

/** A fresh temp directory, removed by the returned cleanup. */
export async function makeTempDir(prefix = 'ftx-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs `fn` with a fresh `<temp dir>/root` (created, empty) and the temp dir itself for sources; removes both. */
export async function withTempRoot(prefix: string, fn: (root: string, scratch: string) => Promise<void>): Promise<void> {
  const { dir, cleanup } = await makeTempDir(prefix);
  const root = join(dir, 'root');
  await import('node:fs/promises').then((fs) => fs.mkdir(root));
  try {
    await fn(root, dir);
  } finally {
    await cleanup();
  }
}

/** Writes `size` random bytes to a new file and returns its path and content. */
export async function writeRandomFile(dir: string, name: string, size: number): Promise<{ path: string; data: Buffer }> {
  const data = randomBytes(size);
  const path = join(dir, name);
  await writeFile(path, data);
  return { path, data };
}

/** What a test gets from withServer. */
export interface ServerFixture {
  server: RunningServer;
  /** The served root. */
  root: string;
  /** A scratch directory for source files, outside the root. */
  scratch: string;
  /** Transfer records logged so far. */
  records: TransferRecord[];
}

/** Runs `fn` against a server on 127.0.0.1, port 0, serving a fresh temp dir. */
export async function withServer<T>(options: Partial<ServerOptions>, fn: (fixture: ServerFixture) => Promise<T>): Promise<T> {
  const { dir, cleanup } = await makeTempDir();
  const root = join(dir, 'root');
  const scratch = join(dir, 'scratch');
  await import('node:fs/promises').then(async (fs) => {
    await fs.mkdir(root);
    await fs.mkdir(scratch);
  });
  const records: TransferRecord[] = [];
  // Over TLS (FTX_TEST_TLS=1) a server without a token of its own gets the test token.
  const server = await startServer({ root, host: '127.0.0.1', port: 0, ...testServerAuth(options), ...options, onTransfer: (r) => records.push(r) });
  try {
    return await fn({ server, root, scratch, records });
  } finally {
    await server.close();
    await cleanup();
  }
}

/** The server's own state directory, directly under the root. */
export const STATE_DIR = '.ftx-state';
/** Where it keeps partial-upload states. */
export const PARTIALS_DIR = `${STATE_DIR}/partials`;

/**
 * All entries under `dir`, recursively, as relative paths. Hidden ones are included (partial data
 * files `.ftx-*.part` too); only the server's own state directory is left out.
 */
export async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.map(String).filter((e) => e !== STATE_DIR && !e.startsWith(`${STATE_DIR}/`)).sort();
}

/** Names of partial-upload states kept under `root`. */
export async function listPartialStates(root: string): Promise<string[]> {
  return (await readdir(join(root, PARTIALS_DIR)).catch(() => [] as string[])).filter((n) => n.endsWith('.json')).sort();
}

/**
 * Resolves once a data file being received (`.ftx-*.part`, or `.ftx-*.tmp` for a stream) directly
 * under `dir` holds at least `minBytes`: an upload is under way there, whatever the client shows.
 * Rejects after `timeoutMs`.
 */
export async function waitForPartial(dir: string, minBytes: number, timeoutMs = 20_000): Promise<void> {
  const { stat } = await import('node:fs/promises');
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline;) {
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith('.ftx-') && (n.endsWith('.part') || n.endsWith('.tmp')));
    const sizes = await Promise.all(names.map((n) => stat(join(dir, n)).then((s) => s.size, () => 0)));
    if (sizes.some((size) => size >= minBytes)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no partial of ${minBytes} bytes appeared in ${dir}`);
}
