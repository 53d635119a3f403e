/**
 * Where downloads land on the client (docs/PROTOCOL.md §6.11, README "ftx get"): below one local
 * directory, never through a symlink in the local tree, atomically. The bytes go to a partial beside
 * the target (`.ftx-get-<key>.part`, mode 0600, with its `.json` saying which remote file it holds,
 * so that a later run resumes it, for files over SMALL_PARTIAL_BYTES); once verified it gets its
 * mode and mtime, is fsynced and takes the target's name by link (no replace) or rename
 * (overwrite); the directories are fsynced once per batch (grouped, as the server does).
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fchmodSync, fsync, futimesSync, linkSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { link, lstat, mkdir, open, readFile, rename, rm, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { LocalFileError } from '../errors.js';

/** Files up to this size keep no `.json` beside their partial: one is never resumed, it is fetched again. */
export const SMALL_PARTIAL_BYTES = 1024 * 1024;

/** What the partial holds: which remote file (by its header), so that a resume asks for the same one. */
export interface PartialMeta {
  name: string;
  size: number;
  mtime: number;
  md5: string | null;
}

/** How an existing local file is treated (the same policy as put's --if-exists). */
export type LocalIfExists = 'fail' | 'overwrite' | 'skip' | 'rename';

function localError(path: string, error: unknown, what: string): LocalFileError {
  const code = (error as NodeJS.ErrnoException).code ?? String(error);
  return new LocalFileError(`${path}: cannot ${what}: ${code}`, { cause: error });
}

/** The local directory downloads land in; every path below it is walked without following a symlink. */
export class LocalRoot {
  /** Directories whose entries this run changed and that still need an fsync. */
  readonly unsynced = new Set<string>();

  constructor(readonly dir: string) {}

  /** Directories this run walked or created (checked once per run, not once per file). */
  private readonly known = new Set<string>();

  /** The directory for `segments` (a file's parent), created as needed; a symlink or a file on the way is refused. */
  async ensureDir(segments: readonly string[]): Promise<string> {
    const whole = join(this.dir, ...segments);
    if (this.known.has(whole)) return whole;
    let path = this.dir;
    for (const segment of segments) {
      path = join(path, segment);
      const info = await lstat(path).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw localError(path, error, 'inspect');
      });
      if (info?.isSymbolicLink()) throw new LocalFileError(`${path} is a symlink in the local tree: not followed, nothing written below it`);
      if (info && !info.isDirectory()) throw new LocalFileError(`${path} exists and is not a directory`);
      if (!info) {
        await mkdir(path).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'EEXIST') throw localError(path, error, 'create the directory');
        });
        this.unsynced.add(dirname(path));
        // Created meanwhile by someone else as something else: look again.
        const made = await lstat(path);
        if (!made.isDirectory() || made.isSymbolicLink()) throw new LocalFileError(`${path} is not a directory`);
      }
    }
    this.known.add(whole);
    return path;
  }
}

/** The partial's paths for a target file name in `dir`. */
export function partialPaths(dir: string, base: string): { data: string; meta: string } {
  const key = createHash('sha256').update(base).digest('hex').slice(0, 32);
  return { data: join(dir, `.ftx-get-${key}.part`), meta: join(dir, `.ftx-get-${key}.json`) };
}

/** A partial kept from an earlier attempt of `name`: its length and what it holds; else none. */
export async function keptPartial(dir: string, base: string, name: string): Promise<{ offset: number; meta: PartialMeta } | undefined> {
  const paths = partialPaths(dir, base);
  try {
    const meta = JSON.parse(await readFile(paths.meta, 'utf8')) as PartialMeta;
    const info = await lstat(paths.data);
    if (meta.name !== name || !info.isFile() || typeof meta.size !== 'number') return undefined;
    return { offset: Math.min(info.size, meta.size), meta };
  } catch {
    return undefined;
  }
}

/**
 * One download being written: the partial's descriptor and the md5 of everything in it. A small
 * file (≤ SMALL_PARTIAL_BYTES, never resumed) is held in memory until it is sealed, and is then
 * written, given its mode and mtime and closed with synchronous calls (microseconds each for a few
 * KiB) around one fsync on the thread pool: one hand-off per file instead of one per call, which
 * was what 2,000 small files spent their time on (bench/README.md).
 */
export class LocalPartial {
  private readonly hash = createHash('md5');
  private position: number;
  /** A small file's bytes (its declared size), until seal(). */
  private readonly held: Buffer | undefined;

  private constructor(readonly paths: { data: string; meta: string }, private readonly handle: FileHandle | undefined, offset: number, smallSize?: number) {
    this.position = offset;
    this.held = smallSize !== undefined ? Buffer.allocUnsafe(smallSize) : undefined;
  }

  /** True when the partial lives in memory (a small file, landed with synchronous calls). */
  get small(): boolean {
    return this.held !== undefined;
  }

  /** Opens (or continues) the partial of `base` in `dir`: its first `offset` bytes are kept and hashed. */
  static async open(dir: string, base: string, offset: number, meta: PartialMeta): Promise<LocalPartial> {
    const paths = partialPaths(dir, base);
    if (offset === 0 && meta.size <= SMALL_PARTIAL_BYTES) return new LocalPartial(paths, undefined, 0, meta.size);
    if (offset === 0 && meta.size > SMALL_PARTIAL_BYTES) await writeFile(paths.meta, JSON.stringify(meta), { mode: 0o600 }).catch((e) => { throw localError(paths.meta, e, 'write'); });
    let handle: FileHandle;
    try {
      // From 0: O_TRUNC drops what an older partial held; else its first `offset` bytes are kept.
      handle = await open(paths.data, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW | (offset === 0 ? constants.O_TRUNC : 0), 0o600);
    } catch (error) {
      throw localError(paths.data, error, 'open');
    }
    const partial = new LocalPartial(paths, handle, offset);
    try {
      if (offset > 0) await handle.truncate(offset);
      for (let at = 0; at < offset;) {
        const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(Math.min(1 << 20, offset - at)), 0, Math.min(1 << 20, offset - at), at);
        if (bytesRead === 0) throw new LocalFileError(`${paths.data}: shorter than its ${offset} kept bytes`);
        partial.hash.update(buffer.subarray(0, bytesRead));
        at += bytesRead;
      }
    } catch (error) {
      await handle.close();
      throw error instanceof LocalFileError ? error : localError(paths.data, error, 'read');
    }
    return partial;
  }

  /** Appends received bytes (the chunk is copied by the write before it returns). */
  async write(chunk: Buffer): Promise<void> {
    this.hash.update(chunk);
    const at = this.position;
    this.position += chunk.length;
    // Beyond the declared size nothing is kept: the received count then fails the file.
    if (this.held) chunk.copy(this.held, at);
    else await this.handle!.write(chunk, 0, chunk.length, at);
  }

  /** The md5 of the whole partial so far (call once, at the end). */
  digest(): string {
    return this.hash.digest('hex');
  }

  /** Gives the file its mode and mtime and makes it durable; then closes it. */
  async seal(mode: number, mtime: number): Promise<void> {
    if (this.held) return this.sealSmall(mode, mtime, this.held);
    const handle = this.handle!;
    try {
      await handle.chmod(mode & 0o777);
      await handle.utimes(new Date(), new Date(mtime));
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  /** Writes a small file whole: synchronous open, write, fchmod, futimes and close around one fsync on the pool. */
  private async sealSmall(mode: number, mtime: number, data: Buffer): Promise<void> {
    let fd: number;
    try {
      fd = openSync(this.paths.data, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
    } catch (error) {
      throw localError(this.paths.data, error, 'open');
    }
    try {
      for (let at = 0; at < data.length;) at += writeSync(fd, data, at, data.length - at, at);
      fchmodSync(fd, mode & 0o777);
      futimesSync(fd, new Date(), new Date(mtime));
      await new Promise<void>((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())));
    } catch (error) {
      throw localError(this.paths.data, error, 'write');
    } finally {
      closeSync(fd);
    }
  }

  /** Closes the partial and keeps it for a resume (a small one keeps nothing: it is fetched again). */
  async keep(): Promise<void> {
    await this.handle?.close().catch(() => undefined);
  }

  /** Closes and removes the partial and its meta. */
  async discard(): Promise<void> {
    await this.handle?.close().catch(() => undefined);
    await rm(this.paths.data, { force: true });
    await rm(this.paths.meta, { force: true });
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}

/** `stem.N.ext` of a file name (as the server's rename, PROTOCOL.md §8). */
export function numberedName(base: string, n: number): string {
  const dot = base.indexOf('.', 1);
  return dot < 0 ? `${base}.${n}` : `${base.slice(0, dot)}.${n}${base.slice(dot)}`;
}

/**
 * Gives the sealed partial its final name in `dir`: rename over the target with `overwrite`, else
 * link (which fails if the name is taken) and unlink; `rename` tries stem.N.ext. Returns the path it
 * landed under, or null when the name was taken (fail/skip).
 */
export async function placePartial(dir: string, base: string, policy: LocalIfExists, paths: { data: string; meta: string }, withMeta = true): Promise<string | null> {
  let landed: string | null = null;
  if (policy === 'overwrite') {
    const target = join(dir, base);
    const info = await lstat(target).catch(() => undefined);
    if (info?.isDirectory()) throw new LocalFileError(`${target} is a directory`);
    await rename(paths.data, target).catch((e) => { throw localError(target, e, 'rename into place'); });
    landed = target;
  } else {
    for (let n = 0; n <= (policy === 'rename' ? 1000 : 0) && landed === null; n++) {
      const target = join(dir, n === 0 ? base : numberedName(base, n));
      try {
        // A small file's (no .json beside it): synchronous, a metadata call of microseconds.
        if (withMeta) await link(paths.data, target);
        else linkSync(paths.data, target);
        landed = target;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw localError(target, error, 'link into place');
      }
    }
    if (landed !== null) {
      if (withMeta) await unlink(paths.data).catch(() => undefined);
      else unlinkQuietly(paths.data);
    }
  }
  if (landed === null) return null;
  if (withMeta) await rm(paths.meta, { force: true });
  return landed;
}

/** fsyncs directories whose entries changed (the files landed in them, the directories created in them); failures ignored. */
export async function syncDirectories(dirs: Iterable<string>): Promise<void> {
  await Promise.all([...new Set(dirs)].map(async (dir) => {
    const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY).catch(() => undefined);
    await handle?.sync().catch(() => undefined);
    await handle?.close();
  }));
}
