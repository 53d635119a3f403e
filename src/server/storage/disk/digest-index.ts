/**
 * md5s recorded at landing, so `check` with a digest is answered without re-reading files. An
 * append-only JSON-lines log in `<root>/.ftx-state/digests.jsonl`, loaded at start, compacted when
 * mostly stale. An entry counts only while the file still has the size and mtime it had at landing.
 */
import { appendFile, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StateDir } from './state-dir.js';

/** What was recorded about a landed file. */
export interface DigestEntry {
  size: number;
  /** mtime in whole ms, as the file had it right after landing. */
  mtime: number;
  md5: string;
  /** The client's id of the upload that landed it (lets its retry learn so, even after a restart). */
  uploadId?: string;
  /**
   * Written before the link (small files, landing-pool.ts): the inode the file lands as. Such an
   * entry counts only for that inode, so one whose link failed never vouches for another file.
   */
  ino?: string;
}

const FILE_NAME = 'digests.jsonl';

/** One line of the log: `{"f":…,"size":…,"mtime":…,"md5":…}`, plus `"u"` (the upload id) when known. */
function logLine(filename: string, { size, mtime, md5, uploadId, ino }: DigestEntry): string {
  return JSON.stringify({ f: filename, size, mtime, md5, ...(uploadId !== undefined ? { u: uploadId } : {}), ...(ino !== undefined ? { ino } : {}) });
}

/** The digest log of one root. */
export class DigestIndex {
  private readonly entries = new Map<string, DigestEntry>();
  /** Entries written before a link (with `ino`) and not yet followed by the landing's own line. */
  private readonly landings = new Map<string, DigestEntry>();
  private appending: Promise<void> = Promise.resolve();
  private pending: string[] = [];

  private constructor(private readonly stateDir: StateDir) {}

  /** The log file, through the state directory's fd (recreated if it was removed). */
  private get path(): string {
    return join(this.stateDir.path, FILE_NAME);
  }

  /** Loads (and, when mostly stale, compacts) the log in the state directory. */
  static async open(stateDir: StateDir, options: { readOnly?: boolean } = {}): Promise<DigestIndex> {
    const index = new DigestIndex(stateDir);
    let lines: string[] = [];
    try {
      lines = (await readFile(index.path, 'utf8')).split('\n');
    } catch {
      lines = [];
    }
    for (const line of lines) {
      if (line.trim() === '') continue;
      try {
        const { f, size, mtime, md5, u, ino } = JSON.parse(line) as Record<string, unknown>;
        if (typeof f === 'string' && Number.isSafeInteger(size) && Number.isSafeInteger(mtime) && typeof md5 === 'string') {
          const entry = { size: size as number, mtime: mtime as number, md5, ...(typeof u === 'string' ? { uploadId: u } : {}) };
          if (typeof ino === 'string') {
            index.landings.set(f, { ...entry, ino });
          } else {
            index.entries.set(f, entry);
            index.landings.delete(f);
          }
        }
      } catch {
        // A torn last line after a crash: ignore it.
      }
    }
    if (!options.readOnly && lines.length > 1000 && lines.length > 2 * (index.entries.size + index.landings.size)) await index.compact();
    return index;
  }

  /**
   * Records the md5 of a file that just landed. Lines are batched into one append per tick: the
   * log is a cache (a lost line only means that file is compared by size and mtime next time).
   */
  record(filename: string, entry: DigestEntry): void {
    this.entries.set(filename, entry);
    this.pending.push(`${logLine(filename, entry)}\n`);
    if (this.pending.length > 1) return;
    setImmediate(() => {
      const text = this.pending.join('');
      this.pending = [];
      this.appending = this.appending.then(() => appendFile(this.path, text, { mode: 0o600 })).catch(() => undefined);
    });
  }

  /** Resolves when every recorded line has been appended. */
  flushed(): Promise<void> {
    return new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.appending);
  }

  /** The recorded md5 of `filename` if the file (inode `ino`) still has the recorded size and mtime. */
  lookup(filename: string, size: number, mtimeMs: number, ino: number | bigint): string | undefined {
    return this.entryFor(filename, size, mtimeMs, ino)?.md5;
  }

  /** The entry recorded for `filename` if the file (inode `ino`) still has the recorded size and mtime. */
  entryFor(filename: string, size: number, mtimeMs: number, ino: number | bigint): DigestEntry | undefined {
    const holds = (entry: DigestEntry | undefined): entry is DigestEntry =>
      entry !== undefined && entry.size === size && entry.mtime === Math.round(mtimeMs) && (entry.ino === undefined || entry.ino === String(ino));
    const entry = this.entries.get(filename);
    if (holds(entry)) return entry;
    const landing = this.landings.get(filename);
    return holds(landing) ? landing : undefined;
  }

  /**
   * Every name with a landing recorded under the directory `dir` ("" = all), sorted, whether or not
   * its file is still there (entries of removed files stay in the log: that is how they are missed).
   * Lines written before a link and never confirmed are left out: that file may never have landed.
   */
  namesUnder(dir: string): string[] {
    const prefix = dir === '' ? '' : `${dir}/`;
    const names: string[] = [];
    for (const name of this.entries.keys()) if (name.startsWith(prefix)) names.push(name);
    return names.sort();
  }

  /**
   * Drops the records of `names` (files removed on purpose: a scrub stops reporting them missing)
   * and rewrites the log without them. Only for the holder of the directory's lock.
   */
  async forget(names: readonly string[]): Promise<void> {
    for (const name of names) {
      this.entries.delete(name);
      this.landings.delete(name);
    }
    await this.flushed();
    await this.compact();
  }

  /** Lines written before a link and never followed by their landing's own line (a crash came between). */
  unconfirmedLandings(): [string, DigestEntry][] {
    return [...this.landings];
  }

  /** The log file (small-file workers append their lines to it themselves). */
  get logPath(): string {
    return this.path;
  }

  private async compact(): Promise<void> {
    const text = [...this.entries, ...this.landings].map(([f, entry]) => logLine(f, entry)).join('\n');
    const path = this.path;
    const temp = `${path}.${process.pid}.tmp`;
    await writeFile(temp, text === '' ? '' : `${text}\n`, { mode: 0o600 });
    await rename(temp, path);
  }
}
