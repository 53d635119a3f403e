/**
 * Needs root: the landing rule's way round a file system without hard links (landing/place.ts:
 * link() fails with EPERM, ENOTSUP, EOPNOTSUPP or EMLINK -> check the name, then rename). No such file
 * system is mountable here, so the EPERM comes from Linux's fs.protected_hardlinks (on by default): a
 * process may not hard-link a file it neither owns nor can read and write. The data file is root's,
 * mode 0600, in a directory of `nobody`; the built place.js runs as `nobody`, whose link() then fails
 * with EPERM while rename() in its own directory works. Fails (never skips) without root or without
 * protected_hardlinks.
 */
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir } from '../helpers/server.js';

const NOBODY = 65534;
const PLACE_JS = fileURLToPath(new URL('../../dist/server/storage/disk/landing/place.js', import.meta.url));

let tmp: { dir: string; cleanup: () => Promise<void> };
let dir: string;

beforeAll(async () => {
  expect(readFileSync('/proc/sys/fs/protected_hardlinks', 'utf8').trim()).toBe('1');
  tmp = await makeTempDir('ftx-no-links-');
  await chmod(tmp.dir, 0o755);
  dir = join(tmp.dir, 'land');
  await mkdir(dir);
  await chown(dir, NOBODY, NOBODY);
});

afterAll(async () => {
  await tmp?.cleanup();
});

/** A data file `nobody` cannot hard-link: root's, mode 0600. */
async function rootsDataFile(name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content, { mode: 0o600 });
  return path;
}

/** Runs place (async) or placeSync from dist as `nobody`; its result or its error code. */
function placeAsNobody(which: 'place' | 'placeSync', temp: string, final: string, policy: { overwrite: boolean; rename: boolean }): string {
  const script = `import { ${which} } from ${JSON.stringify(PLACE_JS)};
try { console.log('landed ' + await ${which}(${JSON.stringify(temp)}, ${JSON.stringify(final)}, ${JSON.stringify(policy)})); }
catch (error) { console.log('error ' + error.code); }`;
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], { uid: NOBODY, gid: NOBODY, encoding: 'utf8' }).trim();
}

describe.each(['placeSync', 'place'] as const)('%s where link() is refused (no hard links)', (which) => {
  it('lands by rename, moves on to a numbered name when the name is taken, refuses it without rename', async () => {
    const final = join(dir, `${which}.txt`);
    // The premise: link() is refused with EPERM here (not EEXIST), so only the fallback can land it.
    const probe = await rootsDataFile('.ftx-probe.tmp', 'probe');
    expect(() => execFileSync('ln', [probe, join(dir, 'probe-link')], { uid: NOBODY, gid: NOBODY, stdio: 'pipe' })).toThrow(/Operation not permitted/);

    const first = await rootsDataFile(`.ftx-${which}-1.tmp`, 'first');
    expect(placeAsNobody(which, first, final, { overwrite: false, rename: false })).toBe('landed 0');
    expect(await readFile(final, 'utf8')).toBe('first');

    const second = await rootsDataFile(`.ftx-${which}-2.tmp`, 'second');
    expect(placeAsNobody(which, second, final, { overwrite: false, rename: false })).toBe('error EEXIST');
    expect(await readFile(final, 'utf8')).toBe('first');

    expect(placeAsNobody(which, second, final, { overwrite: false, rename: true })).toBe('landed 1');
    expect(await readFile(join(dir, `${which}.1.txt`), 'utf8')).toBe('second');
    expect(await readFile(final, 'utf8')).toBe('first');
    const left = await readdir(dir);
    expect(left.filter((name) => name.startsWith(`.ftx-${which}`))).toEqual([]);
  });
});
