/**
 * Where a verified, fsynced data file goes: the one rule for both landing paths (a large upload on
 * the main thread, small files in a landing worker). Without overwrite, link() fails atomically if
 * the name was taken meanwhile; rename() replaces. With `rename`, a taken name moves on to
 * "stem.1.ext", "stem.2.ext", ... (the first free one). On a file system without hard links: check,
 * then rename (a narrower race, same result otherwise).
 */
import { linkSync, lstatSync, renameSync, unlinkSync } from 'node:fs';
import { link, lstat, rename, unlink } from 'node:fs/promises';
import { numberedName } from '../../../uploads/names.js';

/** Highest number tried for a taken name. */
export const MAX_NUMBERED = 1000;
/** link() errors that mean "no hard links here", not "name taken". */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK']);

/** How a file lands: replace, or refuse a taken name, or move on to a numbered name. */
export interface LandingPolicy {
  overwrite: boolean;
  rename: boolean;
}

/** The error for a taken name (and, with rename, every numbered one): errno EEXIST. */
function taken(): NodeJS.ErrnoException {
  return Object.assign(new Error('name already taken'), { code: 'EEXIST' });
}

/** The n-th name tried: the name itself, then "stem.n.ext". */
const candidate = (final: string, n: number): string => (n === 0 ? final : numberedName(final, n));

/** After link() failed: try the next number, check-then-rename (no hard links), or give up. */
function afterLinkFailure(error: unknown, policy: LandingPolicy): 'next' | 'fallback' {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (code === 'EEXIST') {
    if (policy.rename) return 'next';
    throw taken();
  }
  if (NO_HARD_LINKS.has(code)) return 'fallback';
  throw error;
}

/** Lands `temp` as `final` (or the first free numbered name) with synchronous calls; returns n (0: its own name). */
export function placeSync(temp: string, final: string, policy: LandingPolicy): number {
  if (policy.overwrite) {
    renameSync(temp, final);
    return 0;
  }
  for (let n = 0; n <= MAX_NUMBERED; n++) {
    const path = candidate(final, n);
    try {
      linkSync(temp, path);
    } catch (error) {
      if (afterLinkFailure(error, policy) === 'next') continue;
      if (lstatSync(path, { throwIfNoEntry: false }) !== undefined) {
        if (policy.rename) continue;
        throw taken();
      }
      renameSync(temp, path);
      return n;
    }
    try {
      unlinkSync(temp);
    } catch {
      // landed; a second name left behind is removed at the next start (landing-recovery.ts)
    }
    return n;
  }
  throw taken();
}

/** The same as placeSync, with the thread pool's calls (the main thread never blocks on the disk). */
export async function place(temp: string, final: string, policy: LandingPolicy): Promise<number> {
  if (policy.overwrite) {
    await rename(temp, final);
    return 0;
  }
  for (let n = 0; n <= MAX_NUMBERED; n++) {
    const path = candidate(final, n);
    try {
      await link(temp, path);
    } catch (error) {
      if (afterLinkFailure(error, policy) === 'next') continue;
      if (await lstat(path).then(() => true, () => false)) {
        if (policy.rename) continue;
        throw taken();
      }
      await rename(temp, path);
      return n;
    }
    await unlink(temp).catch(() => undefined);
    return n;
  }
  throw taken();
}
