/**
 * Turning the sources of `ftx put` into a list of files and directories with their remote names.
 * A directory is uploaded recursively under its own name ("dir/" uploads its contents instead,
 * as rsync does). Symlinks are skipped with a warning unless followed; `exclude` globs match the
 * path relative to the source directory, or the basename for patterns without a "/".
 */
import { lstatSync, readdirSync, realpathSync, statSync, type Dirent, type Stats } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import type { minimatch as Minimatch } from 'minimatch';
import { LocalFileError } from '../errors.js';

/** One thing to upload. */
export interface WalkEntry {
  kind: 'file' | 'dir';
  localPath: string;
  remoteName: string;
  size: number;
  /** Whole milliseconds. */
  mtime: number;
  /** Permission bits (0o777 at most). */
  mode: number;
}

/** How to walk. */
export interface WalkOptions {
  /** Remote directory, relative to the served root ("" for the root). */
  remoteDir: string;
  exclude: string[];
  followSymlinks: boolean;
  /** Receives one message per skipped entry. */
  onWarning: (message: string) => void;
}

function joinRemote(...parts: string[]): string {
  return parts.filter((p) => p !== '').join('/');
}

function entryOf(kind: 'file' | 'dir', localPath: string, remoteName: string, info: Stats): WalkEntry {
  return { kind, localPath, remoteName, size: kind === 'file' ? info.size : 0, mtime: Math.round(info.mtimeMs), mode: info.mode & 0o777 };
}

/**
 * Lists every file and directory to upload, in a stable (sorted) order. The walk uses synchronous
 * calls on purpose: a client has nothing else to do meanwhile, and a promise round trip per entry
 * costs more than the stat itself when there are thousands of small files.
 */
export async function collectSources(sources: string[], options: WalkOptions): Promise<WalkEntry[]> {
  const remoteDir = options.remoteDir.replace(/^\/+|\/+$/g, '');
  // minimatch is loaded only when there are patterns: most runs have none, and start-up stays light.
  const minimatch = options.exclude.length > 0
    ? (createRequire(import.meta.url)('minimatch') as { minimatch: typeof Minimatch }).minimatch
    : undefined;
  const excluded = (relative: string): boolean =>
    minimatch !== undefined && options.exclude.some((pattern) => minimatch(relative, pattern, { dot: true, matchBase: true }));
  const out: WalkEntry[] = [];
  const visited = new Set<string>();

  async function walkDir(dir: string, remote: string, relative: string): Promise<void> {
    const real = realpathSync(dir);
    if (visited.has(real)) {
      options.onWarning(`skipped ${dir}: symlink loop`);
      return;
    }
    visited.add(real);
    let children: Dirent[];
    try {
      children = readdirSync(dir, { withFileTypes: true });
    } catch (error) {
      options.onWarning(`skipped ${dir}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
      return;
    }
    children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const child of children) {
      const path = join(dir, child.name);
      const rel = relative === '' ? child.name : `${relative}/${child.name}`;
      if (excluded(rel)) continue;
      await visit(path, joinRemote(remote, child.name), rel);
    }
  }

  async function visit(path: string, remote: string, relative: string): Promise<void> {
    let info = lstatSync(path);
    if (info.isSymbolicLink()) {
      if (!options.followSymlinks) {
        options.onWarning(`skipped symlink ${path} (use --follow-symlinks to upload what it points to)`);
        return;
      }
      try {
        info = statSync(path);
      } catch {
        options.onWarning(`skipped dangling symlink ${path}`);
        return;
      }
    }
    if (info.isDirectory()) {
      out.push(entryOf('dir', path, remote, info));
      await walkDir(path, remote, relative);
    } else if (info.isFile()) {
      out.push(entryOf('file', path, remote, info));
    } else {
      options.onWarning(`skipped ${path}: not a regular file or directory`);
    }
  }

  for (const source of sources) {
    let info: Stats;
    try {
      info = statSync(source);
    } catch (error) {
      throw new LocalFileError(`cannot read ${source}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    if (info.isDirectory()) {
      // "dir/" uploads the contents into the remote directory; "dir" uploads the directory itself.
      const contentsOnly = source.endsWith('/');
      const remote = contentsOnly ? remoteDir : joinRemote(remoteDir, basename(resolve(source)));
      if (!contentsOnly) out.push(entryOf('dir', source, remote, info));
      await walkDir(source, remote, '');
    } else if (info.isFile()) {
      out.push(entryOf('file', source, joinRemote(remoteDir, basename(source)), info));
    } else {
      throw new LocalFileError(`${source} is not a regular file or directory`);
    }
  }
  return out;
}
