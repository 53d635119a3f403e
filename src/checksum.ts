/** Streaming digest helpers: md5 is protocol v1's end-to-end check. */
import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';

/** A fresh incremental md5. */
export function createMd5(): Hash {
  return createHash('md5');
}

/** True for 32 lowercase hex digits, the wire form of an md5. */
export function isMd5Hex(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{32}$/.test(value);
}

/** md5 of a whole file, read in 1 MiB blocks (used by tests and tools, never on the transfer path). */
export async function md5File(path: string): Promise<string> {
  const hash = createMd5();
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(1024 * 1024);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}
