/**
 * Paged listings of directories on disk. A directory is read with opendir (a few entries at a time
 * from the kernel), never whole: between pages the open iterators wait under a random cursor, one
 * per directory level of a recursive listing (depth first, each directory before its contents).
 * Iterators not continued for LISTING_IDLE_MS are closed, and at most MAX_LISTINGS stay open.
 * Only what a client could name is listed: regular files and directories whose names pass the
 * name rules (never the server's own `.ftx-` names, never a symlink, a device or a FIFO).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, lstatSync, type Dir } from 'node:fs';
import { opendir } from 'node:fs/promises';
import { StatusError } from '../../../errors.js';
import { ERROR_CODE, STATUS } from '../../../protocol/constants.js';
import { splitSafeFilename } from '../../uploads/names.js';
import type { ListEntry, ListOptions, ListPage } from '../storage.js';
import type { DigestIndex } from './digest-index.js';
import { inDir, type ServedRoot } from './served-root.js';

/** An unfinished listing is forgotten (its directories closed) after this long without a next page. */
export const LISTING_IDLE_MS = 60_000;
/** Most unfinished listings kept at once; the one idle longest goes first. */
export const MAX_LISTINGS = 64;

/** One directory being read: its fd (for lstat and descending) and its iterator. */
interface Level {
  fd: number;
  dir: Dir;
  /** Its name under the root, "" for the root itself. */
  prefix: string;
}

/** A listing between pages. */
interface Listing {
  levels: Level[];
  recursive: boolean;
  /** The entry read ahead to know whether another page follows. */
  next: ListEntry | undefined;
  usedAt: number;
}

/** The unfinished listings of one served root. */
export class DiskListings {
  private readonly open = new Map<string, Listing>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly served: ServedRoot, private readonly digests: DigestIndex) {
    this.timer = setInterval(() => this.dropIdle(Date.now() - LISTING_IDLE_MS), LISTING_IDLE_MS / 4);
    this.timer.unref();
  }

  /** Storage.list on disk. */
  async list(dirName: string, options: ListOptions): Promise<ListPage | null> {
    if (!Number.isSafeInteger(options.limit) || options.limit < 1) {
      throw new StatusError(STATUS.BAD_REQUEST, ERROR_CODE.BAD_REQUEST, `list limit must be a positive integer, not ${options.limit}`);
    }
    let listing: Listing;
    if (options.cursor !== undefined) {
      const found = this.open.get(options.cursor);
      if (!found) throw new StatusError(STATUS.BAD_REQUEST, ERROR_CODE.BAD_REQUEST, 'unknown or expired list cursor (start the listing again)');
      this.open.delete(options.cursor);
      listing = found;
    } else {
      const first = await this.start(dirName, options.recursive === true);
      if (!first) return null;
      listing = first;
    }
    const entries: ListEntry[] = [];
    try {
      if (listing.next) entries.push(listing.next);
      listing.next = undefined;
      while (entries.length < options.limit) {
        const entry = await this.nextEntry(listing);
        if (!entry) break;
        entries.push(entry);
      }
      listing.next = await this.nextEntry(listing);
    } catch (error) {
      await closeListing(listing);
      throw error;
    }
    if (!listing.next) return { entries, nextCursor: null };
    const cursor = randomBytes(16).toString('hex');
    listing.usedAt = Date.now();
    this.open.set(cursor, listing);
    if (this.open.size > MAX_LISTINGS) this.dropOldest();
    return { entries, nextCursor: cursor };
  }

  /** Closes every unfinished listing (the storage is closing). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    const listings = [...this.open.values()];
    this.open.clear();
    await Promise.all(listings.map(closeListing));
  }

  private async start(dirName: string, recursive: boolean): Promise<Listing | null> {
    const segments = dirName === '' ? [] : splitSafeFilename(dirName);
    let walked;
    try {
      walked = this.served.walk(segments);
    } catch (error) {
      if (error instanceof StatusError && error.status === STATUS.CONFLICT) return null;
      throw error;
    }
    if (walked.incomplete) {
      walked.close();
      return null;
    }
    // The level owns a descriptor of its own: the walk's are closed now.
    const fd = this.served.openChild(walked.fd, '.', segments.join('/') || '.') ?? -1;
    walked.close();
    if (fd < 0) return null;
    const level = await openLevel(fd, segments.join('/'));
    return { levels: [level], recursive, next: undefined, usedAt: Date.now() };
  }

  /** The next listable entry (descending into a directory after returning it), or undefined at the end. */
  private async nextEntry(listing: Listing): Promise<ListEntry | undefined> {
    for (;;) {
      const level = listing.levels[listing.levels.length - 1];
      if (!level) return undefined;
      const dirent = await level.dir.read();
      if (dirent === null) {
        await closeLevel(listing.levels.pop()!);
        continue;
      }
      const name = level.prefix === '' ? dirent.name : `${level.prefix}/${dirent.name}`;
      const entry = this.entryOf(level.fd, dirent.name, name);
      if (!entry) continue;
      if (entry.type === 'directory' && listing.recursive) {
        const fd = this.childFd(level.fd, dirent.name, name);
        if (fd !== undefined) listing.levels.push(await openLevel(fd, name));
      }
      return entry;
    }
  }

  /** The entry for `base` in the directory open as `fd`; undefined for what is not listed. */
  private entryOf(fd: number, base: string, name: string): ListEntry | undefined {
    try {
      splitSafeFilename(name);
    } catch {
      return undefined;
    }
    const info = lstatSync(inDir(fd, base), { throwIfNoEntry: false });
    if (!info || !(info.isFile() || info.isDirectory())) return undefined;
    const mtime = Math.round(info.mtimeMs);
    const mode = info.mode & 0o777;
    if (!info.isFile()) return { name, type: 'directory', size: 0, mtime, mode };
    const md5 = this.digests.entryFor(name, info.size, info.mtimeMs, info.ino)?.md5 ?? null;
    return { name, type: 'file', size: info.size, mtime, mode, md5 };
  }

  /** Opens a subdirectory to descend into (never a symlink, never the server's own). */
  private childFd(fd: number, base: string, name: string): number | undefined {
    try {
      return this.served.openChild(fd, base, name);
    } catch {
      return undefined; // replaced by a symlink or a file since its lstat: not descended into
    }
  }

  private dropIdle(before: number): void {
    for (const [cursor, listing] of this.open) {
      if (listing.usedAt >= before) continue;
      this.open.delete(cursor);
      void closeListing(listing);
    }
  }

  private dropOldest(): void {
    const [cursor, listing] = [...this.open].reduce((a, b) => (b[1].usedAt < a[1].usedAt ? b : a));
    this.open.delete(cursor);
    void closeListing(listing);
  }
}

async function openLevel(fd: number, prefix: string): Promise<Level> {
  try {
    return { fd, dir: await opendir(inDir(fd, '.'), { bufferSize: 64 }), prefix };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

async function closeLevel(level: Level): Promise<void> {
  await level.dir.close().catch(() => undefined);
  closeSync(level.fd);
}

async function closeListing(listing: Listing): Promise<void> {
  const levels = listing.levels;
  listing.levels = [];
  await Promise.all(levels.map(closeLevel));
}
