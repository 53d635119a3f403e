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
}

const FILE_NAME = 'digests.jsonl';

/** One line of the log: `{"f":…,"size":…,"mtime":…,"md5":…}`, plus `"u"` (the upload id) when known. */
function logLine(filename: string, { size, mtime, md5, uploadId }: DigestEntry): string {
  return JSON.stringify({ f: filename, size, mtime, md5, ...(uploadId !== undefined ? { u: uploadId } : {}) });
}

/** The digest log of one root. */
export class DigestIndex {
  private readonly entries = new Map<string, DigestEntry>();
  private appending: Promise<void> = Promise.resolve();
  private pending: string[] = [];

  private constructor(private readonly stateDir: StateDir) {}

  /** The log file, through the state directory's fd (recreated if it was removed). */
  private get path(): string {
    return join(this.stateDir.path, FILE_NAME);
  }

  /** Loads (and, when mostly stale, compacts) the log in the state directory. */
  static async open(stateDir: StateDir): Promise<DigestIndex> {
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
        const { f, size, mtime, md5, u } = JSON.parse(line) as { f: unknown; size: unknown; mtime: unknown; md5: unknown; u: unknown };
        if (typeof f === 'string' && Number.isSafeInteger(size) && Number.isSafeInteger(mtime) && typeof md5 === 'string') {
          index.entries.set(f, { size: size as number, mtime: mtime as number, md5, ...(typeof u === 'string' ? { uploadId: u } : {}) });
        }
      } catch {
        // A torn last line after a crash: ignore it.
      }
    }
    if (lines.length > 1000 && lines.length > 2 * index.entries.size) await index.compact();
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

  /** The recorded md5 of `filename` if the file still has the recorded size and mtime. */
  lookup(filename: string, size: number, mtimeMs: number): string | undefined {
    const entry = this.entries.get(filename);
    return entry && entry.size === size && entry.mtime === Math.round(mtimeMs) ? entry.md5 : undefined;
  }

  /** The md5 recorded for `filename` if upload `uploadId` of `size` bytes landed it. */
  landedBy(filename: string, uploadId: string, size: number): string | undefined {
    const entry = this.entries.get(filename);
    return entry?.uploadId === uploadId && entry.size === size ? entry.md5 : undefined;
  }

  private async compact(): Promise<void> {
    const text = [...this.entries].map(([f, entry]) => logLine(f, entry)).join('\n');
    const path = this.path;
    const temp = `${path}.${process.pid}.tmp`;
    await writeFile(temp, text === '' ? '' : `${text}\n`, { mode: 0o600 });
    await rename(temp, path);
  }
}
