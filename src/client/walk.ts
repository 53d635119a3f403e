/**
 * Turning the sources of `ftx put` into a list of files and directories with their remote names.
 * A directory is uploaded recursively under its own name ("dir/" uploads its contents instead,
 * as rsync does). Symlinks are skipped with a warning unless followed; `exclude` globs match the
 * path relative to the source directory, or the basename for patterns without a "/". What cannot be
 * read (a directory, a name that is not UTF-8, an entry that vanished) is a failed entry, not a hole.
 */
import { lstatSync, readdirSync, realpathSync, statSync, type Stats } from 'node:fs';
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
  /** Receives each entry that cannot be uploaded ("dir/" for a directory); the walk goes on. */
  onFailed: (failure: WalkFailure) => void;
}

/** An entry the walk could not take: it counts as a failed file. */
export interface WalkFailure {
  localPath: string;
  remoteName: string;
  error: LocalFileError;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A file name as UTF-8 text, or undefined when its bytes are not valid UTF-8. */
function utf8Name(raw: Buffer): string | undefined {
  try {
    return strictUtf8.decode(raw);
  } catch {
    return undefined;
  }
}

/** A name that is not UTF-8, shown with its odd bytes as \xNN ("caf\xe9.txt"). */
function showBytes(raw: Buffer): string {
  let out = '';
  for (let i = 0; i < raw.length;) {
    let step = 0;
    for (let n = 1; n <= 4 && i + n <= raw.length && step === 0; n++) {
      const text = utf8Name(raw.subarray(i, i + n));
      if (text !== undefined) {
        out += text;
        step = n;
      }
    }
    if (step === 0) out += `\\x${raw[i]!.toString(16).padStart(2, '0')}`;
    i += step || 1;
  }
  return out;
}

const errorCode = (error: unknown): string => (error as NodeJS.ErrnoException).code ?? String(error);

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

  const failed = (localPath: string, remoteName: string, message: string): void =>
    options.onFailed({ localPath, remoteName, error: new LocalFileError(message) });

  /** Lists `dir` (after `entry`, its own entry, when it has one); an unreadable one is a failure. */
  async function walkDir(dir: string, remote: string, relative: string, entry?: WalkEntry): Promise<void> {
    let raw: Buffer[];
    let real: string;
    try {
      real = realpathSync(dir);
      raw = readdirSync(dir, { encoding: 'buffer' });
    } catch (error) {
      failed(dir, `${remote === '' ? '.' : remote}/`, `cannot read the directory ${dir}: ${errorCode(error)}`);
      return;
    }
    if (visited.has(real)) {
      options.onWarning(`skipped ${dir}: symlink loop`);
      return;
    }
    visited.add(real);
    if (entry) out.push(entry);
    const children = raw.map((bytes) => ({ bytes, name: utf8Name(bytes) ?? showBytes(bytes) }));
    children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const { bytes, name } of children) {
      const rel = relative === '' ? name : `${relative}/${name}`;
      if (excluded(rel)) continue;
      if (utf8Name(bytes) === undefined) {
        // Names travel as JSON text (docs/PROTOCOL.md §7); a lossy one would land as another name.
        failed(join(dir, name), joinRemote(remote, name), 'the name is not valid UTF-8, and ftx sends names as UTF-8 text: rename it to send it');
        continue;
      }
      await visit(join(dir, name), joinRemote(remote, name), rel);
    }
  }

  async function visit(path: string, remote: string, relative: string): Promise<void> {
    let info: Stats;
    try {
      info = lstatSync(path);
    } catch (error) {
      failed(path, remote, `cannot read ${path}: ${errorCode(error)}`);
      return;
    }
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
      await walkDir(path, remote, relative, entryOf('dir', path, remote, info));
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
      throw new LocalFileError(`cannot read ${source}: ${errorCode(error)}`);
    }
    if (info.isDirectory()) {
      // "dir/" uploads the contents into the remote directory; "dir" uploads the directory itself.
      const contentsOnly = source.endsWith('/');
      const remote = contentsOnly ? remoteDir : joinRemote(remoteDir, basename(resolve(source)));
      await walkDir(source, remote, '', contentsOnly ? undefined : entryOf('dir', source, remote, info));
    } else if (info.isFile()) {
      out.push(entryOf('file', source, joinRemote(remoteDir, basename(source)), info));
    } else {
      throw new LocalFileError(`${source} is not a regular file or directory`);
    }
  }
  return out;
}
