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
import { LocalFileError } from '../../errors.js';

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
 * One walk: what it has found, the directories it has been in (by real path: a symlink loop is
 * walked once), and its options. The walk uses synchronous calls on purpose: a client has nothing
 * else to do meanwhile, and a promise round trip per entry costs more than the stat itself when
 * there are thousands of small files.
 */
class Walk {
  readonly out: WalkEntry[] = [];
  private readonly visited = new Set<string>();
  private readonly excluded: (relative: string) => boolean;

  constructor(private readonly options: WalkOptions) {
    // minimatch is loaded only when there are patterns: most runs have none, and start-up stays light.
    const minimatch = options.exclude.length > 0
      ? (createRequire(import.meta.url)('minimatch') as { minimatch: typeof Minimatch }).minimatch
      : undefined;
    this.excluded = (relative) =>
      minimatch !== undefined && options.exclude.some((pattern) => minimatch(relative, pattern, { dot: true, matchBase: true }));
  }

  private failed(localPath: string, remoteName: string, message: string): void {
    this.options.onFailed({ localPath, remoteName, error: new LocalFileError(message) });
  }

  /** One source argument: a directory ("dir" uploads it, "dir/" its contents) or a file. */
  source(source: string, remoteDir: string): void {
    let info: Stats;
    try {
      info = statSync(source);
    } catch (error) {
      throw new LocalFileError(`cannot read ${source}: ${errorCode(error)}`);
    }
    if (info.isDirectory()) {
      const contentsOnly = source.endsWith('/');
      const remote = contentsOnly ? remoteDir : joinRemote(remoteDir, basename(resolve(source)));
      this.dir(source, remote, '', contentsOnly ? undefined : entryOf('dir', source, remote, info));
    } else if (info.isFile()) {
      this.out.push(entryOf('file', source, joinRemote(remoteDir, basename(source)), info));
    } else {
      throw new LocalFileError(`${source} is not a regular file or directory`);
    }
  }

  /** Lists `dir` (after `entry`, its own entry, when it has one); an unreadable one is a failure. */
  private dir(dir: string, remote: string, relative: string, entry?: WalkEntry): void {
    let raw: Buffer[];
    let real: string;
    try {
      real = realpathSync(dir);
      raw = readdirSync(dir, { encoding: 'buffer' });
    } catch (error) {
      this.failed(dir, `${remote === '' ? '.' : remote}/`, `cannot read the directory ${dir}: ${errorCode(error)}`);
      return;
    }
    if (this.visited.has(real)) {
      this.options.onWarning(`skipped ${dir}: symlink loop`);
      return;
    }
    this.visited.add(real);
    if (entry) this.out.push(entry);
    const children = raw.map((bytes) => ({ bytes, name: utf8Name(bytes) ?? showBytes(bytes) }));
    children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const { bytes, name } of children) {
      const rel = relative === '' ? name : `${relative}/${name}`;
      if (this.excluded(rel)) continue;
      if (utf8Name(bytes) === undefined) {
        // Names travel as JSON text (docs/PROTOCOL.md §7); a lossy one would land as another name.
        this.failed(join(dir, name), joinRemote(remote, name), 'the name is not valid UTF-8, and ftx sends names as UTF-8 text: rename it to send it');
        continue;
      }
      this.visit(join(dir, name), joinRemote(remote, name), rel);
    }
  }

  /** One entry inside a directory: a file, a directory to walk, or something skipped. */
  private visit(path: string, remote: string, relative: string): void {
    let info: Stats;
    try {
      info = lstatSync(path);
    } catch (error) {
      this.failed(path, remote, `cannot read ${path}: ${errorCode(error)}`);
      return;
    }
    if (info.isSymbolicLink()) {
      if (!this.options.followSymlinks) {
        this.options.onWarning(`skipped symlink ${path} (use --follow-symlinks to upload what it points to)`);
        return;
      }
      try {
        info = statSync(path);
      } catch {
        this.options.onWarning(`skipped dangling symlink ${path}`);
        return;
      }
    }
    if (info.isDirectory()) this.dir(path, remote, relative, entryOf('dir', path, remote, info));
    else if (info.isFile()) this.out.push(entryOf('file', path, remote, info));
    else this.options.onWarning(`skipped ${path}: not a regular file or directory`);
  }
}

/** Lists every file and directory to upload, in a stable (sorted) order. */
export async function collectSources(sources: string[], options: WalkOptions): Promise<WalkEntry[]> {
  const walk = new Walk(options);
  const remoteDir = options.remoteDir.replace(/^\/+|\/+$/g, '');
  for (const source of sources) walk.source(source, remoteDir);
  return walk.out;
}
