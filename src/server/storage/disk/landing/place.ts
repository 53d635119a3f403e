/**
 * Where a verified, fsynced data file goes: the one rule for both landing paths (a large upload on
 * the main thread, small files in a landing worker). Without overwrite, link() fails atomically if
 * the name was taken meanwhile; rename() replaces. With `rename`, a taken name moves on to
 * "stem.1.ext", "stem.2.ext", ... (the first free one). On a file system without hard links: check,
 * then rename (a narrower race, same result otherwise). The rule is written once, as a generator of
 * file-system steps; placeSync and place only carry the steps out, with synchronous calls or with
 * the thread pool's.
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

/**
 * One file-system call of a landing. A failing `link` or `rename` is thrown back into the rule;
 * `exists` answers whether something is at `path`; a failing `unlink` is ignored (the file has
 * landed; a second name left behind is removed at the next start, landing-recovery.ts).
 */
type Step =
  | { op: 'link' | 'rename'; from: string; to: string }
  | { op: 'exists' | 'unlink'; path: string };

/** The error for a taken name (and, with rename, every numbered one): errno EEXIST. */
function taken(): NodeJS.ErrnoException {
  return Object.assign(new Error('name already taken'), { code: 'EEXIST' });
}

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

/** The rule: yields each call to make; returns n, the candidate it landed as (0: its own name). */
function* landingSteps(temp: string, final: string, policy: LandingPolicy): Generator<Step, number, boolean> {
  if (policy.overwrite) {
    yield { op: 'rename', from: temp, to: final };
    return 0;
  }
  for (let n = 0; n <= MAX_NUMBERED; n++) {
    const path = n === 0 ? final : numberedName(final, n);
    try {
      yield { op: 'link', from: temp, to: path };
    } catch (error) {
      if (afterLinkFailure(error, policy) === 'next') continue;
      if (yield { op: 'exists', path }) {
        if (policy.rename) continue;
        throw taken();
      }
      yield { op: 'rename', from: temp, to: path };
      return n;
    }
    yield { op: 'unlink', path: temp };
    return n;
  }
  throw taken();
}

/** Carries out one step with synchronous calls. */
function stepSync(step: Step): boolean {
  switch (step.op) {
    case 'link': linkSync(step.from, step.to); return true;
    case 'rename': renameSync(step.from, step.to); return true;
    case 'exists': return lstatSync(step.path, { throwIfNoEntry: false }) !== undefined;
    case 'unlink':
      try {
        unlinkSync(step.path);
      } catch {
        // ignored: see Step
      }
      return true;
  }
}

/** Carries out one step with the thread pool's calls. */
async function stepAsync(step: Step): Promise<boolean> {
  switch (step.op) {
    case 'link': await link(step.from, step.to); return true;
    case 'rename': await rename(step.from, step.to); return true;
    case 'exists': return lstat(step.path).then(() => true, () => false);
    case 'unlink': await unlink(step.path).catch(() => undefined); return true;
  }
}

/** Lands `temp` as `final` (or the first free numbered name) with synchronous calls; returns n (0: its own name). */
export function placeSync(temp: string, final: string, policy: LandingPolicy): number {
  const steps = landingSteps(temp, final, policy);
  let next = steps.next();
  while (!next.done) {
    let answer: boolean;
    try {
      answer = stepSync(next.value);
    } catch (error) {
      next = steps.throw(error);
      continue;
    }
    next = steps.next(answer);
  }
  return next.value;
}

/** The same as placeSync, with the thread pool's calls (the main thread never blocks on the disk). */
export async function place(temp: string, final: string, policy: LandingPolicy): Promise<number> {
  const steps = landingSteps(temp, final, policy);
  let next = steps.next();
  while (!next.done) {
    let answer: boolean;
    try {
      answer = await stepAsync(next.value);
    } catch (error) {
      next = steps.throw(error);
      continue;
    }
    next = steps.next(answer);
  }
  return next.value;
}
