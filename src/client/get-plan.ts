/**
 * What `ftx get` will fetch and where it lands: the remote names are listed, mapped below the
 * local target (safely: local-names.ts), filtered by --exclude, and compared with what is already
 * there (identical files are skipped, so a re-run of a finished restore transfers nothing).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { minimatch as Minimatch } from 'minimatch';
import { LocalExistsError, LocalFileError, StatusError } from '../errors.js';
import type { ListEntry } from '../protocol/read-replies.js';
import type { FtxClient } from './client.js';
import type { LocalIfExists } from './local-landing.js';
import { nameBelow, NameGuard } from './local-names.js';

/** One remote file to fetch. */
export interface GetItem {
  /** Its name on the server. */
  remote: string;
  /** Where it lands, relative to the local root, as safe segments. */
  segments: string[];
  size: number;
  mtime: number;
  md5: string | null;
}

/** The remote names asked for and how they map below the local root. */
export interface GetTargets {
  /** Remote name ("" = the root) and what its own name becomes locally ("" = the contents only). */
  remotes: { path: string; landAs: string }[];
  ifExists: LocalIfExists;
  checksum: boolean;
  exclude: string[];
}

/** A planned item and what to do with it. */
export type Decision = { item: GetItem; action: 'get' } | { item: GetItem; action: 'skip'; reason: string } | { item: GetItem; action: 'fail'; error: unknown };

/** Everything listed: files to decide on, directories to create (empty ones too), unsafe names refused. */
export interface Listing {
  files: GetItem[];
  dirs: string[][];
  refused: { name: string; error: unknown }[];
}

/** Lists every remote target and maps its entries to safe local names. */
export async function listTargets(client: FtxClient, targets: GetTargets): Promise<Listing> {
  const guard = new NameGuard();
  const minimatch = targets.exclude.length > 0
    ? (createRequire(import.meta.url)('minimatch') as { minimatch: typeof Minimatch }).minimatch : undefined;
  const excluded = (rel: string): boolean => minimatch !== undefined && targets.exclude.some((p) => minimatch(rel, p, { dot: true, matchBase: true }));
  const listing: Listing = { files: [], dirs: [], refused: [] };
  for (const { path, landAs } of targets.remotes) {
    await listOne(client, path, landAs, guard, excluded, listing);
  }
  return listing;
}

async function listOne(client: FtxClient, path: string, landAs: string, guard: NameGuard, excluded: (rel: string) => boolean, listing: Listing): Promise<void> {
  try {
    const entries: ListEntry[] = await client.list(path, { recursive: true });
    {
      for (const entry of entries) {
        if (entry.type === 'other') continue;
        try {
          const rel = nameBelow(path, entry.name, landAs);
          const segments = guard.admit(rel);
          // An excluded directory takes everything below it along (as put's walk does not enter it).
          if (segments.some((_, i) => excluded(segments.slice(0, i + 1).join('/')))) continue;
          if (entry.type === 'dir') listing.dirs.push(segments);
          else listing.files.push({ remote: entry.name, segments, size: entry.size!, mtime: entry.mtime, md5: entry.md5 ?? null });
        } catch (error) {
          listing.refused.push({ name: entry.name, error });
        }
      }
    }
  } catch (error) {
    // A name the server does not have (404) or refuses (403) fails alone; the others go on.
    if (!(error instanceof StatusError) || error.status === 401) throw error;
    listing.refused.push({ name: path, error });
  }
}

async function md5Of(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Decides for one file from what exists locally and the policy. */
export async function decide(rootDir: string, item: GetItem, targets: Pick<GetTargets, 'ifExists' | 'checksum'>): Promise<Decision> {
  const path = join(rootDir, ...item.segments);
  const info = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
    throw new LocalFileError(`${path}: cannot inspect: ${error.code ?? String(error)}`);
  });
  if (!info) return { item, action: 'get' };
  if (info.isDirectory()) return { item, action: 'fail', error: new LocalFileError(`${path} is a directory`) };
  if (info.isFile() && info.size === item.size) {
    const same = targets.checksum ? item.md5 !== null && (await md5Of(path)) === item.md5 : Math.round(info.mtimeMs) === item.mtime;
    if (same) return { item, action: 'skip', reason: targets.checksum ? 'identical (md5)' : 'identical (size and mtime)' };
  }
  switch (targets.ifExists) {
    case 'skip': return { item, action: 'skip', reason: 'exists locally' };
    case 'fail': return { item, action: 'fail', error: new LocalExistsError(`${path} exists and differs (use --if-exists overwrite, rename or skip)`) };
    default: return { item, action: 'get' };
  }
}
