/**
 * Where a client's filename lands under the root: its parent directory is walked segment by segment
 * (a symlink is followed only if it stays inside the root), and an existing target is checked.
 */
import type { Stats } from 'node:fs';
import { lstat, mkdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { StatusError } from '../errors.js';
import { ERROR_CODE, STATUS } from '../protocol/constants.js';
import { isInside } from './safe-path.js';

/** How long a resolved parent directory is trusted without walking it again. */
const PARENT_CACHE_MS = 2000;

/** A parent directory: the deepest one that exists, and those still to create below it. */
export interface ParentDir {
  /** The real path of the deepest existing directory. */
  existing: string;
  /** Directories still to create below it, outermost first. */
  missing: string[];
  /** Answered from the cache: a directory removed since then shows up as ENOENT later. */
  cached?: boolean;
}

export const forbidden = (message: string): StatusError => new StatusError(STATUS.FORBIDDEN, ERROR_CODE.FORBIDDEN_PATH, message);
export const conflict = (message: string): StatusError => new StatusError(STATUS.CONFLICT, ERROR_CODE.EXISTS, message);

/** lstat, or undefined when the path does not exist. */
export async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Resolves targets under one root. */
export class TargetResolver {
  private readonly cache = new Map<string, { real: string; at: number }>();

  constructor(private readonly root: string) {}

  /**
   * Walks the directory segments from the root; a symlink is followed only if it stays inside.
   * Fully existing parents are remembered for a moment: many files landing in one directory need
   * one walk, not one per file (a peer cannot create symlinks, so the answer cannot turn unsafe).
   */
  async resolveParent(dirs: string[], fresh = false): Promise<ParentDir> {
    const key = dirs.join('/');
    const cached = fresh ? undefined : this.cache.get(key);
    if (cached && Date.now() - cached.at < PARENT_CACHE_MS) return { existing: cached.real, missing: [], cached: true };
    const resolved = await this.walkParent(dirs);
    if (resolved.missing.length === 0) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(key, { real: resolved.existing, at: Date.now() });
    }
    return resolved;
  }

  /** Forgets every remembered parent (one was found removed: someone is pruning the tree). */
  forget(): void {
    this.cache.clear();
  }

  private async walkParent(dirs: string[]): Promise<ParentDir> {
    let current = this.root;
    for (let i = 0; i < dirs.length; i++) {
      const path = join(current, dirs[i]!);
      const shown = dirs.slice(0, i + 1).join('/');
      const info = await lstatOrUndefined(path);
      if (info === undefined) return { existing: current, missing: dirs.slice(i) };
      if (info.isSymbolicLink()) {
        const real = await realpath(path).catch(() => undefined);
        if (real === undefined || !isInside(this.root, real)) throw forbidden(`${shown} leads outside the served directory`);
        if (!(await stat(real)).isDirectory()) throw conflict(`${shown} is not a directory`);
        current = real;
      } else if (info.isDirectory()) {
        current = path;
      } else {
        throw conflict(`${shown} exists and is not a directory`);
      }
    }
    return { existing: current, missing: [] };
  }

  async checkTarget(finalPath: string, filename: string, overwrite: boolean): Promise<void> {
    const info = await lstatOrUndefined(finalPath);
    if (info === undefined) return;
    if (info.isDirectory()) throw conflict(`${filename} exists and is a directory`);
    if (!overwrite) throw conflict(`${filename} already exists (ask to overwrite with --force)`);
    // With overwrite, a symlink is replaced by the new file, never written through.
  }
}

/**
 * Creates a parent's missing directories, outermost first; one created meanwhile by someone else
 * (a concurrent upload) is fine. Calls `onCreated` for each directory this call created.
 */
export async function createMissing(parent: ParentDir, onCreated: (path: string) => void | Promise<void>): Promise<void> {
  let path = parent.existing;
  for (const name of parent.missing) {
    path = join(path, name);
    const created = await mkdir(path).then(() => true, (error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST') return false;
      throw error;
    });
    if (created) await onCreated(path);
  }
}
