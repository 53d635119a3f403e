/** A tree of small files for the silent-connection tests, and the check that it landed whole. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { listTree, md5 } from './server.js';

/** Writes `dir/tree/fNNN.txt` (4 KiB each); returns each remote name's md5. */
export async function makeSmallTree(dir: string, files: number): Promise<Map<string, string>> {
  const sums = new Map<string, string>();
  await mkdir(join(dir, 'tree'), { recursive: true });
  for (let i = 0; i < files; i++) {
    const name = `f${String(i).padStart(3, '0')}.txt`;
    const data = Buffer.alloc(4096, `${i} `);
    await writeFile(join(dir, 'tree', name), data);
    sums.set(`tree/${name}`, md5(data));
  }
  return sums;
}

/** Every file of the tree is under `root` with its content, and nothing else of it. */
export async function expectTreeLanded(root: string, sums: Map<string, string>): Promise<void> {
  const landed = (await listTree(root)).filter((name) => name.endsWith('.txt'));
  expect(landed.length).toBe(sums.size);
  for (const [name, sum] of sums) expect(md5(await readFile(join(root, name)))).toBe(sum);
}
