/**
 * Needs root (ptrace): `ftx serve` runs under strace, whose fault injection kills it with SIGKILL
 * exactly when it enters one system call of the landing sequence of a resumable put (or, for the
 * last step, right after one returned). Then a normal server is started on the same directory and
 * the same upload is tried again, the way a user or the client's own retry would. Fails, never
 * skips, when strace cannot run.
 *
 * The server runs with one libuv thread so that `when=N` (strace counts per thread) is exact.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { lstat, mkdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { FtxClient } from '../../src/client/client.js';
import { runFtx, spawnServe, type ServeProcess } from '../helpers/cli.js';
import { listPartialStates, listTree, md5, PARTIALS_DIR, STATE_DIR, withTempRoot } from '../helpers/server.js';

const NAME = 'src.bin';
const SIZE = 3 * 1024 * 1024 + 123;

/** The paths one landing touches. */
interface LandingPaths {
  root: string;
  data: string;
  state: string;
  stateDir: string;
  digests: string;
}

/** One point of the landing sequence: the server dies on entering (or after) this system call. */
interface CrashStep {
  name: string;
  syscall: string;
  /** Only calls on this path count; without one, every call of the server's one libuv thread. */
  path?: (paths: LandingPaths) => string;
  /** The n-th such call (default 1). */
  when?: number;
  /** Die after the call returned instead of on entering it. */
  after?: boolean;
  /** The file is already under its final name when the server dies here. */
  landed: boolean;
}

const STEPS: CrashStep[] = [
  { name: 'fchmod of the data file', syscall: 'fchmod', path: (p) => p.data, landed: false },
  { name: 'setting its mtime', syscall: 'utimensat', path: (p) => p.data, landed: false },
  { name: 'fsync of the data file', syscall: 'fsync', path: (p) => p.data, landed: false },
  // strace's -P does not match a rename's target: the second rename of the server, after the first state's.
  // Nor a path through /proc/self/fd/N (how the server names files in a directory it holds open,
  // served-root.ts): link and unlink are counted instead. The unlinks of a landing, in order: the
  // data name, the data name again as the partial is removed (ENOENT by then), the state.
  { name: 'rename of the state that records the landing', syscall: 'rename', when: 2, landed: false },
  { name: 'fsync of the state directory', syscall: 'fsync', path: (p) => p.stateDir, landed: false },
  { name: 'close of the data file', syscall: 'close', path: (p) => p.data, landed: false },
  { name: 'link to the final name', syscall: 'link', landed: false },
  { name: 'unlink of the data name', syscall: 'unlink', when: 1, landed: true },
  { name: 'fsync of the target directory', syscall: 'fsync', path: (p) => p.root, landed: true },
  { name: 'append to the digest log', syscall: 'write', path: (p) => p.digests, landed: true },
  { name: 'unlink of the state', syscall: 'unlink', when: 3, landed: true },
  { name: 'return from the unlink of the state (before the verdict)', syscall: 'unlink', when: 3, after: true, landed: true },
];

const keyOf = (filename: string): string => createHash('sha256').update(filename).digest('hex').slice(0, 32);

function landingPaths(root: string): LandingPaths {
  const key = keyOf(NAME);
  return {
    root,
    data: join(root, `.ftx-${key}.part`),
    state: join(root, PARTIALS_DIR, `${key}.json`),
    stateDir: join(root, PARTIALS_DIR),
    digests: join(root, STATE_DIR, 'digests.jsonl'),
  };
}

/** strace arguments that kill the server at `step`. */
function straceAt(step: CrashStep, paths: LandingPaths): string[] {
  const when = step.when ?? 1;
  // After: the call returns and the thread waits 5 s, long enough for the test to SIGKILL the server.
  const tamper = step.after ? `delay_exit=5s:when=${when}` : `signal=KILL:when=${when}`;
  const path = step.path ? ['-P', step.path(paths)] : [];
  return ['strace', '-f', '-o', '/dev/null', ...path, '-e', `trace=${step.syscall}`, '-e', `inject=${step.syscall}:${tamper}`];
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitFor(what: string, condition: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The pid of the process strace runs (the server). */
function tracedPid(strace: ServeProcess): number {
  const pid = strace.child.pid!;
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/);
  return Number(children[0]);
}

/** Starts the server under strace and runs `put` against it until the injected SIGKILL. */
async function crashWhileLanding(step: CrashStep, root: string, source: string, putArgs: string[]) {
  const paths = landingPaths(root);
  const port = await freePort();
  const traced = await spawnServe([root, '--port', String(port)], { UV_THREADPOOL_SIZE: '1' }, straceAt(step, paths));
  const crashed = new Promise<number | null>((resolve) => traced.child.once('exit', resolve));
  const put = runFtx(['put', source, `127.0.0.1:${port}`, '--no-progress', ...putArgs]);
  if (step.after) {
    const landedThenUnlinked = async (): Promise<boolean> =>
      (await stat(join(root, NAME)).then(() => true, () => false)) && (await stat(paths.state).then(() => false, () => true));
    await waitFor('the file to land and its state to be removed', landedThenUnlinked);
    process.kill(tracedPid(traced), 'SIGKILL');
  }
  // A put that finished while the server lives on means the step was never reached.
  const outcome = await Promise.race([crashed, put.then(() => new Promise((r) => setTimeout(() => r('alive'), 3000)))]);
  if (outcome === 'alive') {
    process.kill(tracedPid(traced), 'SIGKILL');
    await crashed;
  }
  // strace re-raises its tracee's SIGKILL: no exit code.
  expect(outcome, `the server was not killed at "${step.name}": ${traced.log()}`).toBeNull();
  return { port, put, traced };
}

async function makeSource(dir: string): Promise<{ path: string; md5: string }> {
  const data = randomBytes(SIZE);
  const path = join(dir, NAME);
  await writeFile(path, data);
  await utimes(path, new Date(1_700_000_000_000), new Date(1_700_000_000_000));
  return { path, md5: md5(data) };
}

async function md5Of(path: string): Promise<string | undefined> {
  return readFile(path).then(md5, () => undefined);
}

/** Every entry of the tree (hidden ones too) has one name only: no partial shares an inode. */
async function expectNoSharedInodes(root: string): Promise<void> {
  for (const entry of await listTree(root)) {
    const info = await lstat(join(root, entry));
    if (info.isFile()) expect(info.nlink, `${entry} has ${info.nlink} names`).toBe(1);
  }
}

/** What `ftx put --force` sends, cut right after the server's acknowledgement. */
async function forcePutCutAfterAck(port: number, source: string): Promise<void> {
  const client = await FtxClient.connect({ host: '127.0.0.1', port });
  await client.put(source, { remoteName: NAME, overwrite: true, resume: true, onProgress: () => client.destroy() }).catch(() => undefined);
  client.destroy();
}

describe('a server killed at each step of landing a resumable put', () => {
  it.each(STEPS)('$name: the landed file is never damaged by the next uploads', async (step) => {
    await withTempRoot('ftx-crash-landing-', async (root, scratch) => {
      const source = await makeSource(scratch);
      const { put } = await crashWhileLanding(step, root, source.path, ['--retries', '0']);
      expect((await put).code).toBe(EXIT.CONNECTION_LOST);
      const landed = join(root, NAME);
      // Whatever was visible under the name is the whole, verified file.
      expect(await md5Of(landed)).toBe(step.landed ? source.md5 : undefined);

      const server = await spawnServe([root, '--port', '0']);
      try {
        await expectNoSharedInodes(root);
        // A forced resume of the same source that stops right after the server said yes.
        const before = (server.log().match(/put "src.bin"/g) ?? []).length;
        await forcePutCutAfterAck(server.port, source.path);
        await waitFor('the cut put to be logged', () => (server.log().match(/put "src.bin"/g) ?? []).length > before);
        expect(await md5Of(landed)).toBe(step.landed ? source.md5 : undefined);
        await expectNoSharedInodes(root);

        const again = await runFtx(['put', source.path, `127.0.0.1:${server.port}`, '--no-progress']);
        expect(again.code, again.stderr).toBe(EXIT.OK);
        const forced = await runFtx(['put', source.path, `127.0.0.1:${server.port}`, '--no-progress', '--force']);
        expect(forced.code, forced.stderr).toBe(EXIT.OK);
        // The forced resume again, to its end: it continues what the cut one kept, and lands.
        const client = await FtxClient.connect({ host: '127.0.0.1', port: server.port });
        const receipt = await client.put(source.path, { remoteName: NAME, overwrite: true, resume: true }).finally(() => client.close());
        expect(receipt.md5).toBe(source.md5);
        expect(await md5Of(landed)).toBe(source.md5);
        expect(await listTree(root)).toEqual([NAME]);
        expect(await listPartialStates(root)).toEqual([]);
      } finally {
        await server.stop();
      }
    });
  });
});

describe('the automatic retry of a put whose server died while landing it', () => {
  it.each(STEPS)('$name: the retry against the restarted server reports the file verified', async (step) => {
    await withTempRoot('ftx-crash-landing-', async (root, scratch) => {
      const source = await makeSource(scratch);
      const { port, put } = await crashWhileLanding(step, root, source.path, ['--retries', '10', '--retry-wait', '0.2']);
      // The state of a landing is settled at start, before anyone asks.
      const server = await spawnServe([root, '--port', String(port)]);
      try {
        const result = await put;
        expect(result.code, result.stderr).toBe(EXIT.OK);
        expect(result.stdout).toMatch(new RegExp(`md5 ${source.md5} verified`));
        expect(await md5Of(join(root, NAME))).toBe(source.md5);
        expect(await listTree(root)).toEqual([NAME]);
        expect(await listPartialStates(root)).toEqual([]);
      } finally {
        await server.stop();
      }
    });
  });

  it('a landing interrupted after its link leaves no state behind once the server has restarted', async () => {
    await withTempRoot('ftx-crash-landing-', async (root, scratch) => {
      const source = await makeSource(scratch);
      const step = STEPS.find((s) => s.syscall === 'unlink' && s.landed && !s.after)!;
      const { put } = await crashWhileLanding(step, root, source.path, ['--retries', '0']);
      await put;
      expect(await listPartialStates(root)).toHaveLength(1);
      const server = await spawnServe([root, '--port', '0']);
      try {
        expect(await listTree(root)).toEqual([NAME]);
        expect(await listPartialStates(root)).toEqual([]);
      } finally {
        await server.stop();
      }
    });
  });
});

describe('a tree of small files whose server died after linking them, before its verdict', () => {
  const TREE_STEPS: { name: string; syscall: string; path?: (root: string) => string }[] = [
    // The server's first unlink (strace -P cannot match its /proc/self/fd/N/name paths).
    { name: 'unlink of the first temp name', syscall: 'unlink' },
    { name: 'fsync of the directory after the links', syscall: 'fsync', path: (root) => root },
  ];
  it.each(TREE_STEPS)('$name: the retry reports every file sent and verified, none 409', async (step) => {
    await withTempRoot('ftx-crash-tree-', async (root, scratch) => {
      const tree = join(scratch, 'tree');
      await mkdir(tree);
      const files = { 'a.txt': randomBytes(5000), 'b.txt': randomBytes(7000) };
      for (const [name, data] of Object.entries(files)) await writeFile(join(tree, name), data);
      const port = await freePort();
      const strace = ['strace', '-f', '-o', '/dev/null', ...(step.path ? ['-P', step.path(root)] : []), '-e', `trace=${step.syscall}`, '-e', `inject=${step.syscall}:signal=KILL`];
      const traced = await spawnServe([root, '--port', String(port)], {}, strace);
      const crashed = new Promise<number | null>((resolve) => traced.child.once('exit', resolve));
      const put = runFtx(['put', `${tree}/`, `127.0.0.1:${port}`, '--no-progress', '--retries', '10', '--retry-wait', '0.2']);
      const outcome = await Promise.race([crashed, put.then(() => 'alive')]);
      if (outcome === 'alive') {
        process.kill(tracedPid(traced), 'SIGKILL');
        await crashed;
      }
      expect(outcome, `the server was not killed at "${step.name}": ${traced.log()}`).toBeNull();
      const server = await spawnServe([root, '--port', String(port)]);
      try {
        const result = await put;
        expect(result.code, result.stderr).toBe(EXIT.OK);
        for (const [name, data] of Object.entries(files)) expect(await md5Of(join(root, name))).toBe(md5(data));
        expect(await listTree(root)).toEqual(['a.txt', 'b.txt']);
      } finally {
        await server.stop();
      }
    });
  });
});
