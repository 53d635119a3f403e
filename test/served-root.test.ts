/**
 * The walk that a landing repeats (OpenDir.verify) passes for the files of one batch with one walk
 * per directory and turn (turn-cache.ts). What it may never do: vouch for a directory it did not
 * reach, or outlive its turn.
 */
import { mkdir, mkdtemp, realpath, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ServedRoot } from '../src/server/storage/disk/served-root.js';
import { StateDir } from '../src/server/storage/disk/state-dir.js';

let scratch: string;
let root: ServedRoot;
let state: StateDir;

beforeEach(async () => {
  scratch = await realpath(await mkdtemp(join(tmpdir(), 'ftx-served-root-')));
  await mkdir(join(scratch, 'root', 'd'), { recursive: true });
  root = ServedRoot.open(join(scratch, 'root'));
  // The server's own directories are protected: every walk then reads each directory's identity.
  state = StateDir.open(root);
});

afterEach(async () => {
  state.close();
  root.close();
  await rm(scratch, { recursive: true, force: true });
});

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('OpenDir.verify', () => {
  it('a walk that passed for one directory in this turn does not pass another one held under the same name', async () => {
    const moved = root.walk(['d']);
    // d moved out of the root and a new d made: the first holder's directory is no longer there.
    await rename(join(scratch, 'root', 'd'), join(scratch, 'outside'));
    await mkdir(join(scratch, 'root', 'd'));
    const current = root.walk(['d']);
    try {
      expect(current.verify()).toBe('same');
      expect(() => moved.verify()).toThrow(expect.objectContaining({ code: 'forbidden_path' }));
    } finally {
      moved.close();
      current.close();
    }
  });

  it('a walk that passed is not trusted in a later turn', async () => {
    const first = root.walk(['d']);
    const second = root.walk(['d']);
    try {
      expect(first.verify()).toBe('same');
      await nextTurn();
      await rename(join(scratch, 'root', 'd'), join(scratch, 'outside'));
      expect(() => second.verify()).toThrow(expect.objectContaining({ code: 'forbidden_path' }));
    } finally {
      first.close();
      second.close();
    }
  });
});
