import { readFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { FTX_VERSION } from '../src/version.js';

it('FTX_VERSION equals the package.json version', async () => {
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  expect(FTX_VERSION).toBe(pkg.version);
});
